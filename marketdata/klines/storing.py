"""Writing candles: only those not stored yet are inserted, all or nothing, in one transaction.

PostgreSQL: COPY of the untouched CSV text into a temporary table, then INSERT ... WHERE NOT
EXISTS under an advisory lock per series (ON CONFLICT DO NOTHING when a writer outside this
package raced it). SQLite: INSERT OR IGNORE. With `kline_unique_candle` behind both, importing
or fetching the same candles again, or two syncs racing, never duplicates or overwrites a candle.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from django.db import IntegrityError, connection, transaction

from marketdata.klines.intervals import MICROSECONDS_FROM, Series
from marketdata.klines.parsing import COLUMNS, STORED, _csv_options, _KlineRows
from marketdata.models import Kline

STAGING = "kline_staging"
KEY_AND_STORED = ("market", "symbol", "interval", *STORED)
STAGING_TYPES = {"open_time": "bigint", "close_time": "bigint", "trades": "bigint",
                 "ignore": "text"}


def _store(series: Series, rows: _KlineRows) -> int:
    """Insert what is not stored yet, all or nothing; returns how many candles were added."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _copy_and_insert(series, rows)
        return _insert_or_ignore(series, rows)


def _copy_and_insert(series: Series, rows: _KlineRows) -> int:
    key = [series.market, series.symbol, series.interval.name]
    with connection.cursor() as cursor:
        # Writers of one series queue here, so the NOT EXISTS below sees every candle the one
        # before committed and a plain INSERT cannot collide. ON CONFLICT DO NOTHING alone
        # makes a million-row insert 70 % slower and a re-import 4 times slower.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                       ["kline:" + ":".join(key)])
        _copy_to_staging(cursor, rows)
        try:
            with transaction.atomic():
                cursor.execute(_insert_new_sql(), key + key)
        except IntegrityError:
            # A writer that does not take the lock (the live stream's closed candles) stored
            # one of these meanwhile: insert the rest, yielding to it.
            cursor.execute(_insert_new_sql() + " ON CONFLICT DO NOTHING", key + key)
        added = cursor.rowcount
        cursor.execute(f"DROP TABLE {STAGING}")
    return added


def _copy_to_staging(cursor, rows: _KlineRows) -> None:
    names = COLUMNS[:rows.columns]
    definition = ", ".join(f"{c} {STAGING_TYPES.get(c, 'numeric')}" for c in names)
    cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
    cursor.execute(f"CREATE TEMPORARY TABLE {STAGING} ({definition})")
    copy_sql = (f"COPY {STAGING} ({', '.join(names)}) FROM STDIN "
                f"WITH (FORMAT csv, HEADER {str(rows.header).lower()})")
    with cursor.cursor.copy(copy_sql) as copy:  # the psycopg cursor under Django's wrapper
        view = memoryview(rows.data)
        for start in range(0, len(view), 1 << 20):
            copy.write(view[start:start + (1 << 20)])


def _insert_new_sql() -> str:
    incoming = ", ".join(f"{_sql_micros_to_time(c)} AS {c}" if c.endswith("_time") else c
                         for c in STORED)
    market, symbol, interval = _quoted(("market", "symbol", "interval"))
    return (f"INSERT INTO {Kline._meta.db_table} ({', '.join(_quoted(KEY_AND_STORED))}) "
            f"SELECT %s, %s, %s, incoming.* FROM (SELECT {incoming} FROM {STAGING}) AS incoming "
            f"WHERE NOT EXISTS (SELECT 1 FROM {Kline._meta.db_table} AS stored "
            f"WHERE stored.{market} = %s AND stored.{symbol} = %s AND stored.{interval} = %s "
            f"AND stored.open_time = incoming.open_time)")


def _sql_micros_to_time(column: str) -> str:
    # µs rows keep their unit; ms rows (and their close_time) are scaled to µs.
    scale = f"CASE WHEN open_time >= {MICROSECONDS_FROM} THEN 1 ELSE 1000 END"
    return f"TIMESTAMPTZ 'epoch' + {column} * {scale} * INTERVAL '1 microsecond'"


def _quoted(names) -> list[str]:
    return [connection.ops.quote_name(name) for name in names]


def _insert_or_ignore(series: Series, rows: _KlineRows) -> int:
    text = pd.read_csv(io.BytesIO(rows.data), **_csv_options(rows.header), dtype=str,
                       na_filter=False)
    values = [text[c].to_numpy(object) for c in STORED]
    values[0], values[6] = _sqlite_times(rows.open_us), _sqlite_times(rows.close_us)
    for index in (7, 8, 9, 10):  # empty optional fields are unknown: NULL
        values[index] = np.where(values[index] == "", None, values[index])
    key = (series.market, series.symbol, series.interval.name)
    columns = ", ".join(_quoted(KEY_AND_STORED))
    sql = (f"INSERT OR IGNORE INTO {Kline._meta.db_table} ({columns}) "
           f"VALUES ({', '.join(['%s'] * 14)})")
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(*key, *row) for row in zip(*values, strict=True)])
        return cursor.rowcount


def _sqlite_times(micros: np.ndarray) -> np.ndarray:
    """The text Django's SQLite backend stores for a UTC datetime (str() of a naive one)."""
    moments = micros.astype("datetime64[us]")
    whole = np.datetime_as_string(moments, unit="s")
    exact = np.datetime_as_string(moments, unit="us")
    return np.char.replace(np.where(micros % 1_000_000 == 0, whole, exact), "T", " ")
