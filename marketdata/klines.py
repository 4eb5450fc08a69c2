"""Candles: import Binance kline files, backfill and sync them over REST, find and repair gaps.

Every write goes through `_store`: a batch is validated whole first (a file is all or nothing),
then only candles not stored yet are inserted, in one transaction. PostgreSQL: COPY of the
untouched CSV text into a temporary table, then INSERT ... WHERE NOT EXISTS under an advisory
lock per series (ON CONFLICT DO NOTHING when a writer outside this module raced it). SQLite:
INSERT OR IGNORE. With `kline_unique_candle` behind both, importing or fetching the same
candles again, or two syncs racing, never duplicates or overwrites a candle.

Inside this module times are integer microseconds since the epoch: data.binance.vision switched
its spot dumps to microseconds in 2025, and both databases keep microseconds.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import pandas as pd
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Min

from marketdata.exchange.gateway import BinanceGateway
from marketdata.models import INTERVALS, Kline
from marketdata.venues import market_data_venue

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE_US, HOUR_US, DAY_US = 60_000_000, 3_600_000_000, 86_400_000_000
STEP_US = {"1m": MINUTE_US, "3m": 3 * MINUTE_US, "5m": 5 * MINUTE_US, "15m": 15 * MINUTE_US,
           "30m": 30 * MINUTE_US, "1h": HOUR_US, "2h": 2 * HOUR_US, "4h": 4 * HOUR_US,
           "6h": 6 * HOUR_US, "8h": 8 * HOUR_US, "12h": 12 * HOUR_US, "1d": DAY_US,
           "3d": 3 * DAY_US, "1w": 7 * DAY_US, "1M": 31 * DAY_US}  # 1M: its longest month
# The epoch fell on a Thursday; Binance's weekly candles open on Mondays.
ALIGNMENT_OFFSET_US = {"1w": 4 * DAY_US}
# An open_time this large is in microseconds (in milliseconds it would be the year 5138).
MICROSECONDS_FROM = 10**14
LATEST_US = (datetime(9000, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
MARKETS = ("spot", "futures")

COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
           "trades", "taker_buy_base", "taker_buy_quote", "ignore")
STORED = COLUMNS[:11]
REQUIRED = ("open_time", "open", "high", "low", "close", "volume", "close_time")
WHOLE_NUMBERS = ("open_time", "close_time", "trades")
DECIMAL_TEXT = r"\d{1,18}(?:\.\d{0,18})?|\.\d{1,18}"
WHOLE_TEXT = r"\d{1,18}"
PLAIN_BYTES = np.zeros(256, dtype=bool)
PLAIN_BYTES[list(b"0123456789.,\r\n")] = True
MAX_DIGITS = 18  # Decimal(36, 18) on either side of the point; times and counts fit too
PROBLEMS_SHOWN = 20

PAGE_SIZE = 1000
KLINES_METHOD = {"spot": "get_klines", "futures": "futures_klines"}
SECONDS_BETWEEN = {"postgresql": "EXTRACT(EPOCH FROM open_time - prev_open)",
                   "sqlite": "(julianday(open_time) - julianday(prev_open)) * 86400.0"}


# --- time and interval arithmetic ----------------------------------------------------------

def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone: pass an aware (UTC) datetime")
    return (moment - EPOCH) // timedelta(microseconds=1)


def _datetime(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(micros))


def _when(micros: int) -> str:
    return f"{_datetime(micros):%Y-%m-%d %H:%M}" if 0 <= micros < LATEST_US else "out of range"


@dataclass(frozen=True)
class Interval:
    """Candle arithmetic on microsecond timestamps; "1M" candles follow the calendar."""

    name: str

    def __post_init__(self):
        if self.name not in INTERVALS:
            raise ValueError(f"unknown interval {self.name!r}: use one of {', '.join(INTERVALS)}")

    def __str__(self):
        return self.name

    @property
    def monthly(self) -> bool:
        return self.name == "1M"

    def floors(self, times: np.ndarray) -> np.ndarray:
        """The open time of the candle each time falls in."""
        if self.monthly:
            return _months(times).astype("datetime64[us]").astype(np.int64)
        offset = ALIGNMENT_OFFSET_US.get(self.name, 0)
        return times - (times - offset) % STEP_US[self.name]

    def next_opens(self, opens: np.ndarray) -> np.ndarray:
        if self.monthly:
            return (_months(opens) + 1).astype("datetime64[us]").astype(np.int64)
        return opens + STEP_US[self.name]

    def aligned(self, opens: np.ndarray) -> np.ndarray:
        # Where Binance starts counting 3d candles is not documented: check whole days only.
        if self.name == "3d":
            return opens % DAY_US == 0
        return self.floors(opens) == opens

    def floor(self, micros: int) -> int:
        return int(self.floors(np.array([micros], dtype=np.int64))[0])

    def next_open(self, micros: int) -> int:
        return int(self.next_opens(np.array([micros], dtype=np.int64))[0])

    def previous_open(self, micros: int) -> int:
        """The open time of the candle before the one opening at `micros`."""
        return self.floor(micros - 1) if self.monthly else micros - STEP_US[self.name]

    def ceil(self, micros: int) -> int:
        floor = self.floor(micros)
        return floor if floor == micros else self.next_open(floor)

    def count(self, first: int, last: int) -> int:
        """How many candles open from `first` to `last`, both included."""
        if self.monthly:
            months = _months(np.array([first, last], dtype=np.int64)).astype(np.int64)
            return int(months[1] - months[0]) + 1
        return (last - first) // STEP_US[self.name] + 1


def _months(times: np.ndarray) -> np.ndarray:
    return times.astype("datetime64[us]").astype("datetime64[M]")


@dataclass(frozen=True)
class Series:
    """One candle series: what `kline_unique_candle` keys on besides open_time."""

    market: str
    symbol: str
    interval: Interval

    def candles(self):
        return Kline.objects.filter(market=self.market, symbol=self.symbol,
                                    interval=self.interval.name)

    def bounds(self, **window) -> tuple[int | None, int | None]:
        found = self.candles().filter(**window).aggregate(first=Min("open_time"),
                                                         last=Max("open_time"))
        return tuple(None if t is None else _micros(t) for t in (found["first"], found["last"]))


def _series(*, market: str, symbol: str, interval: str) -> Series:
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}: use spot or futures")
    symbol = symbol.strip().upper()
    if not symbol or len(symbol) > 30 or "," in symbol:
        raise ValueError(f"{symbol!r} is not a Binance symbol")
    return Series(market, symbol, Interval(interval))


# --- reports ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Gap:
    """Consecutive missing candles: `start` and `end` are the first and last missing open times."""

    start: datetime
    end: datetime
    missing: int

    def __str__(self):
        return f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} ({self.missing} missing)"


def _gap(interval: Interval, first: int, last: int) -> Gap:
    return Gap(_datetime(first), _datetime(last), interval.count(first, last))


@dataclass
class KlineImportReport:
    path: Path
    rows: int
    added: int
    gaps: list[Gap]  # still missing between the file's first and last candle
    gaps_to_stored: list[Gap]  # between the file and the stored candles nearest to it

    @property
    def skipped(self) -> int:
        return self.rows - self.added

    def __str__(self):
        missing = sum(gap.missing for gap in self.gaps)
        return (f"{self.path.name}: {self.rows} rows, {self.added} added, {self.skipped} skipped "
                f"(already stored), {len(self.gaps)} gaps inside ({missing} missing candles)")


@dataclass
class KlineFetchReport:
    series: Series
    requests: int = 0
    added: int = 0
    skipped: int = 0
    newest: datetime | None = None  # open time of the newest closed candle received
    unfilled: list[Gap] = field(default_factory=list)  # still missing after fetching

    def __str__(self):
        s = self.series
        text = (f"{s.symbol} {s.interval} {s.market}: {self.added} added, {self.skipped} "
                f"already stored, {self.requests} requests")
        if self.newest is not None:
            text += f", up to {self.newest:%Y-%m-%d %H:%M}"
        if self.unfilled:
            text += (f"; {sum(g.missing for g in self.unfilled)} candles in "
                     f"{len(self.unfilled)} gaps the exchange did not return")
        return text


class KlinesRejected(Exception):
    """Malformed candles: nothing of the batch they came in was stored."""

    def __init__(self, problems: list[tuple[int, str]], total: int | None = None):
        self.problems = sorted(problems, key=lambda problem: problem[0])  # stable: check order
        self.total = max(total or 0, len(problems))
        super().__init__("; ".join(self.errors))

    @property
    def errors(self) -> list[str]:
        lines = [f"line {line}: {text}" if line else text
                 for line, text in self.problems[:PROBLEMS_SHOWN]]
        if self.total > PROBLEMS_SHOWN:
            lines.append(f"... and {self.total - PROBLEMS_SHOWN} more problems")
        return lines


# --- parsing and validation ------------------------------------------------------------------

@dataclass
class _KlineRows:
    """Validated candles and the CSV text they came in: COPY loads that text unchanged."""

    data: bytes
    columns: int
    header: bool
    open_us: np.ndarray
    close_us: np.ndarray

    @property
    def count(self) -> int:
        return len(self.open_us)


class _Lines:
    """Where each line of a CSV text starts and ends, found with numpy (fast on 1M lines)."""

    def __init__(self, data: bytes):
        self.data = data
        buffer = np.frombuffer(data, dtype=np.uint8)
        self.ends = np.flatnonzero(buffer == ord("\n"))
        self.starts = np.concatenate(([0], self.ends[:-1] + 1))
        self.commas = np.flatnonzero(buffer == ord(","))
        self.fields = (np.searchsorted(self.commas, self.ends)
                       - np.searchsorted(self.commas, self.starts) + 1)

    def text(self, index: int) -> str:
        raw = self.data[self.starts[index]:self.ends[index]]
        return raw.decode("utf-8", errors="replace").rstrip("\r")

    def cell(self, index: int, column: str) -> str:
        return self.text(index).split(",")[COLUMNS.index(column)]


def _parse_klines(data: bytes, *, interval: Interval) -> _KlineRows:
    """Validate kline CSV text: 11 or 12 columns, optional header, ms or µs open times."""
    if not data.endswith(b"\n") or data.endswith((b"\n\n", b"\n\r\n")):
        data = data.rstrip(b"\r\n") + b"\n"  # copies: only when the end needs tidying
    lines = _Lines(data)
    # Binance's dumps have no header, our shared files and newer dumps do: open_time,open,...
    header = not data[:1].isdigit() and b"open" in data[:lines.ends[0]].lower()
    if len(lines.ends) <= header or not data.strip():
        raise KlinesRejected([(0, "no candles in the file")])
    columns = int(lines.fields[int(header)])
    _check_shape(lines, columns)
    frame = _read_numbers(lines, header=header, columns=columns)
    open_us, close_us = _check_candles(frame, lines, header=header, interval=interval)
    return _KlineRows(data, columns, header, open_us, close_us)


def _check_shape(lines: _Lines, columns: int) -> None:
    if columns not in (11, 12):
        raise KlinesRejected([(0, f"{columns} columns: expected 11 (open_time ... "
                                  "taker_buy_quote) or 12 (with Binance's trailing 'ignore')")])
    wrong = np.flatnonzero(lines.fields != columns)
    problems = [(int(i) + 1, "empty line" if not lines.text(i).strip() else
                 f"{lines.fields[i]} columns, expected {columns}") for i in wrong[:PROBLEMS_SHOWN]]
    if problems:
        raise KlinesRejected(problems, total=len(wrong))


def _read_numbers(lines: _Lines, *, header: bool, columns: int) -> pd.DataFrame:
    """Numbers per column; the careful (slow) reading only runs when the fast one cannot."""
    body = np.frombuffer(lines.data, dtype=np.uint8)[lines.starts[1] if header else 0:]
    if PLAIN_BYTES[body].all() and not _overlong_fields(lines, header=header, columns=columns):
        try:
            return pd.read_csv(io.BytesIO(lines.data), **_csv_options(header), na_values=[""],
                               dtype={c: np.int64 if c.endswith("_time") else float
                                      for c in STORED})
        except ValueError:
            pass  # "1.2.3", a lone ".", an empty time: the careful reading says where
    return _read_carefully(lines, header=header)


def _csv_options(header: bool) -> dict:
    return {"header": None, "skiprows": int(header), "names": STORED, "usecols": range(11),
            "keep_default_na": False, "engine": "c"}


def _overlong_fields(lines: _Lines, *, header: bool, columns: int) -> bool:
    """Whether a field holds more digits than Decimal(36, 18) keeps (PostgreSQL would round)."""
    # Every line has columns - 1 commas: together with the line ends they bound every field.
    bounds = np.column_stack([lines.starts - 1, lines.commas.reshape(-1, columns - 1),
                              lines.ends])[int(header):]
    lengths = np.diff(bounds, axis=1) - 1
    long_fields = np.argwhere(lengths > MAX_DIGITS)  # rare: check those few one by one
    return any(not re.fullmatch(DECIMAL_TEXT, lines.text(row + header).split(",")[column])
               for row, column in long_fields)


def _read_carefully(lines: _Lines, *, header: bool) -> pd.DataFrame:
    text = pd.read_csv(io.BytesIO(lines.data), **_csv_options(header), dtype=str,
                       na_filter=False)
    line_numbers = np.arange(len(text)) + 1 + header
    numbers, problems, total = {}, [], 0
    for column in STORED:
        numbers[column], bad = _column_numbers(text[column], column)
        problems += [(int(line_numbers[i]), _cell_problem(column, text[column].iat[i]))
                     for i in bad[:PROBLEMS_SHOWN]]
        total += len(bad)
    if problems:
        raise KlinesRejected(problems, total=total)
    return pd.DataFrame(numbers)


def _column_numbers(cells: pd.Series, column: str) -> tuple[pd.Series, np.ndarray]:
    plain = cells.str.fullmatch(WHOLE_TEXT if column in WHOLE_NUMBERS else DECIMAL_TEXT)
    allowed_empty = (cells == "") & (column not in REQUIRED)
    values = pd.to_numeric(cells.where(plain), errors="coerce")
    return values, np.flatnonzero(~(plain | allowed_empty))


def _cell_problem(column: str, text: str) -> str:
    if text == "":
        return f"{column} is empty"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return f"{column} {text!r} is not a number"
    if not value.is_finite():
        return f"{column} {text!r} is not a number"
    if value < 0:
        return f"{column} {text} is negative"
    if column in WHOLE_NUMBERS:
        return f"{column} {text!r} is not a whole number of at most {MAX_DIGITS} digits"
    return f"{column} {text!r} is not a plain decimal of at most {MAX_DIGITS} digits each side"


def _check_candles(frame: pd.DataFrame, lines: _Lines, *, header: bool,
                   interval: Interval) -> tuple[np.ndarray, np.ndarray]:
    opens = frame["open_time"].to_numpy(np.int64)
    scale = np.where(opens >= MICROSECONDS_FROM, 1, 1000)  # per row: files may mix units
    open_us, close_us = opens * scale, frame["close_time"].to_numpy(np.int64) * scale

    def cell(i: int, column: str) -> str:
        return lines.cell(i + header, column)

    checks = [*_time_checks(opens, open_us, close_us, scale, interval, cell),
              *_price_checks(frame, cell)]
    problems, total = _collect(checks, header)
    order_problems, order_total = _order_problems(opens, open_us, header)
    if problems or order_problems:
        raise KlinesRejected(problems + order_problems, total=total + order_total)
    return open_us, close_us


def _time_checks(opens, open_us, close_us, scale, interval: Interval, cell) -> list:
    expected = interval.next_opens(open_us) - scale
    return [
        ((open_us < 0) | (open_us >= LATEST_US),
         lambda i: f"open_time {opens[i]} is not a time Binance could have"),
        (~interval.aligned(open_us), lambda i: f"open_time {opens[i]} ({_when(open_us[i])} UTC) "
                                               f"is not the start of a {interval} candle"),
        (close_us != expected, lambda i: f"close_time {cell(i, 'close_time')} is inconsistent: "
         f"a {interval} candle opening at {opens[i]} closes at {expected[i] // scale[i]}"),
    ]


def _price_checks(frame: pd.DataFrame, cell) -> list:
    value = {c: frame[c].to_numpy(float) for c in ("open", "high", "low", "close", "volume",
                                                    "trades")}
    empty = [(np.isnan(value[c]), lambda i, c=c: f"{c} is empty")
             for c in ("open", "high", "low", "close", "volume")]
    ordered = [(value[a] < value[b], lambda i, a=a, b=b: f"{a} {cell(i, a)} is below {b} "
                                                          f"{cell(i, b)}")
               for a, b in (("high", "low"), ("high", "open"), ("high", "close"),
                            ("open", "low"), ("close", "low"))]
    whole = (value["trades"] % 1 > 0, lambda i: f"trades {cell(i, 'trades')} is not whole")
    return [*empty, *ordered, whole]


def _collect(checks, header: bool) -> tuple[list[tuple[int, str]], int]:
    problems, total = [], 0
    for failing, describe in checks:
        rows = np.flatnonzero(failing)
        total += len(rows)
        problems += [(int(i) + 1 + header, describe(i)) for i in rows[:PROBLEMS_SHOWN]]
    return problems, total


def _order_problems(opens: np.ndarray, open_us: np.ndarray,
                    header: bool) -> tuple[list[tuple[int, str]], int]:
    """Rows must be in time order without repeats: gaps and ranges are computed from it."""
    steps = np.diff(open_us)
    bad = np.flatnonzero(steps <= 0) + 1
    problems = []
    for i in bad[:PROBLEMS_SHOWN]:
        line, previous = int(i) + 1 + header, int(i) + header
        relation = "repeats" if steps[i - 1] == 0 else "comes before that of"
        problems.append((line, f"open_time {opens[i]} {relation} line {previous}"))
    return problems, len(bad)


# --- storing ---------------------------------------------------------------------------------

def _store(series: Series, rows: _KlineRows) -> int:
    """Insert what is not stored yet, all or nothing; returns how many candles were added."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _copy_and_insert(series, rows)
        return _insert_or_ignore(series, rows)


STAGING = "kline_staging"
KEY_AND_STORED = ("market", "symbol", "interval", *STORED)
STAGING_TYPES = {"open_time": "bigint", "close_time": "bigint", "trades": "bigint",
                 "ignore": "text"}


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


# --- import ----------------------------------------------------------------------------------

def klines_import(*, symbol: str, interval: str, path: Path,
                  market: str = "spot") -> KlineImportReport:
    """Import one kline CSV (or its .zip): all of it or, if a row is malformed, nothing.

    Raises KlinesRejected, whose `errors` name each malformed line, and OSError.
    """
    series = _series(market=market, symbol=symbol, interval=interval)
    rows = _parse_klines(_read(Path(path)), interval=series.interval)
    added = _store(series, rows)
    first, last = int(rows.open_us[0]), int(rows.open_us[-1])
    return KlineImportReport(
        path=Path(path), rows=rows.count, added=added,
        gaps=_window_gaps(series, first, series.interval.next_open(last)),
        gaps_to_stored=_gaps_to_neighbours(series, first, last))


def _read(path: Path) -> bytes:
    """A CSV, or the zip of one CSV that data.binance.vision serves."""
    if path.suffix.lower() != ".zip":
        return path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        members = [name for name in archive.namelist() if not name.endswith("/")]
        if len(members) != 1:
            raise KlinesRejected([(0, f"the zip holds {len(members)} files, expected one CSV")])
        return archive.read(members[0])


def _gaps_to_neighbours(series: Series, first: int, last: int) -> list[Gap]:
    interval, gaps = series.interval, []
    _, before = series.bounds(open_time__lt=_datetime(first))
    after, _ = series.bounds(open_time__gt=_datetime(last))
    if before is not None and interval.next_open(before) < first:
        gaps.append(_gap(interval, interval.next_open(before), interval.previous_open(first)))
    if after is not None and interval.next_open(last) < after:
        gaps.append(_gap(interval, interval.next_open(last), interval.previous_open(after)))
    return gaps


# --- gaps ------------------------------------------------------------------------------------

def kline_gaps(*, symbol: str, interval: str, market: str = "spot", start: datetime | None = None,
               end: datetime | None = None) -> list[Gap]:
    """Missing candles opening in [start, end); without bounds, those between stored candles."""
    series = _series(market=market, symbol=symbol, interval=interval)
    return _window_gaps(series, None if start is None else _micros(start),
                        None if end is None else _micros(end))


def _window_gaps(series: Series, start: int | None, end: int | None) -> list[Gap]:
    interval, window = series.interval, {}
    if start is not None:
        start = interval.ceil(start)
        window["open_time__gte"] = _datetime(start)
    if end is not None:
        window["open_time__lt"] = _datetime(end)
    first, last = series.bounds(**window)
    if first is None:
        whole = start is not None and end is not None and start < end
        return [_gap(interval, start, interval.floor(end - 1))] if whole else []
    gaps = _gaps_between_stored(series, start, end)
    if start is not None and start < first:
        gaps.insert(0, _gap(interval, start, interval.previous_open(first)))
    if end is not None and interval.next_open(last) < end:
        gaps.append(_gap(interval, interval.next_open(last), interval.floor(end - 1)))
    return gaps


def _gaps_between_stored(series: Series, start: int | None, end: int | None) -> list[Gap]:
    """One pass of LAG(open_time) over the unique index: fast on millions of candles."""
    quote, adapt = connection.ops.quote_name, connection.ops.adapt_datetimefield_value
    conditions = [f"{quote(c)} = %s" for c in ("market", "symbol", "interval")]
    params = [series.market, series.symbol, series.interval.name]
    for bound, operator in ((start, ">="), (end, "<")):
        if bound is not None:
            conditions.append(f"open_time {operator} %s")
            params.append(adapt(_datetime(bound)))
    sql = (f"SELECT prev_open, open_time FROM (SELECT open_time, LAG(open_time) OVER "
           f"(ORDER BY open_time) AS prev_open FROM {Kline._meta.db_table} "
           f"WHERE {' AND '.join(conditions)}) AS steps "
           f"WHERE {SECONDS_BETWEEN[connection.vendor]} > %s")
    # Candles are aligned, so any step beyond 1.5 intervals (or 1.5 long months) skips some.
    params.append(1.5 * STEP_US[series.interval.name] / 1e6)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pairs = [(_from_db(a), _from_db(b)) for a, b in cursor.fetchall()]
    interval = series.interval
    return [_gap(interval, interval.next_open(a), interval.previous_open(b)) for a, b in pairs]


def _from_db(value: str | datetime) -> int:
    """SQLite hands raw SQL naive UTC datetimes, or the stored text where it lost the type."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _micros(value if value.tzinfo else value.replace(tzinfo=UTC))


# --- REST: backfill, sync, repair ------------------------------------------------------------

class _Fetcher:
    """Pages through GET klines, storing closed candles page by page (each page commits)."""

    def __init__(self, series: Series, gateway: BinanceGateway | None,
                 on_page: Callable[[KlineFetchReport], None] | None):
        self.series = series
        self.gateway = gateway or BinanceGateway(market_data_venue())
        self.on_page = on_page
        self.report = KlineFetchReport(series)

    def fetch(self, first: int | None, last: int | None) -> None:
        """Candles opening from `first` (None: the latest page) to `last` (None: the newest)."""
        cursor = first
        while True:
            limit = self._limit(cursor, last)
            rows = self._page(cursor, limit)
            # The newest candle Binance returns may still be forming: a candle is known to be
            # closed only once the exchange shows a later one.
            closed = rows[:-1]
            wanted = [r for r in closed if last is None or _row_open(r) <= last]
            self._store(wanted)
            if len(rows) < limit or len(wanted) < len(closed):
                return  # the exchange has nothing newer, or the range is done
            cursor = _row_open(rows[-1])
            if last is not None and cursor > last:
                return

    def _limit(self, cursor: int | None, last: int | None) -> int:
        if cursor is None or last is None:
            return PAGE_SIZE
        # Enough for the range plus one later candle that shows the last one closed.
        return min(PAGE_SIZE, self.series.interval.count(cursor, last) + 1)

    def _page(self, cursor: int | None, limit: int) -> list[list]:
        params = {"symbol": self.series.symbol, "interval": self.series.interval.name,
                  "limit": limit}
        if cursor is not None:
            params["startTime"] = cursor // 1000
        rows = self.gateway.call(KLINES_METHOD[self.series.market], **params)
        self.report.requests += 1
        return rows

    def _store(self, rows: list[list]) -> None:
        if rows:
            text = "".join(",".join(str(value) for value in row) + "\n" for row in rows)
            batch = _parse_klines(text.encode(), interval=self.series.interval)
            added = _store(self.series, batch)
            self.report.added += added
            self.report.skipped += batch.count - added
            newest = _datetime(batch.open_us[-1])
            self.report.newest = max(filter(None, (self.report.newest, newest)))
        if self.on_page is not None:
            self.on_page(self.report)


def _row_open(row: list) -> int:
    value = int(row[0])
    return value if value >= MICROSECONDS_FROM else value * 1000


def _fetch_gaps(fetcher: _Fetcher, gaps: list[Gap]) -> None:
    """One range per page-full of gaps: re-receiving a few stored candles costs nothing."""
    interval, ranges = fetcher.series.interval, []
    for gap in gaps:
        first, last = _micros(gap.start), _micros(gap.end)
        if ranges and interval.count(ranges[-1][0], last) < PAGE_SIZE:
            ranges[-1][1] = last
        else:
            ranges.append([first, last])
    for first, last in ranges:
        fetcher.fetch(first, last)


def klines_backfill(*, symbol: str, interval: str, market: str = "spot", start: datetime,
                    end: datetime | None = None, gateway: BinanceGateway | None = None,
                    on_page: Callable[[KlineFetchReport], None] | None = None,
                    ) -> KlineFetchReport:
    """Fetch every closed candle opening in [start, end) that is not stored (end=None: to now).

    Only missing ranges are requested, so a run stopped half-way (a crash, a 5xx) resumes from
    the last stored candle when started again. `on_page` is called after every request.
    """
    fetcher = _Fetcher(_series(market=market, symbol=symbol, interval=interval), gateway,
                       on_page)
    _fetch_gaps(fetcher, kline_gaps(symbol=symbol, interval=interval, market=market,
                                    start=start, end=end))
    if end is None:
        fetcher.fetch(_resume_point(fetcher.series, _micros(start)), None)
    fetcher.report.unfilled = kline_gaps(symbol=symbol, interval=interval, market=market,
                                         start=start, end=end)
    return fetcher.report


def _resume_point(series: Series, start: int) -> int:
    _, last = series.bounds(open_time__gte=_datetime(start))
    return series.interval.ceil(start) if last is None else series.interval.next_open(last)


def klines_sync(*, symbol: str, interval: str, market: str = "spot",
                gateway: BinanceGateway | None = None) -> KlineFetchReport:
    """Fetch the candles closed since the newest stored one (with none stored: the latest page).

    Safe to run twice at once: writers of a series take turns (advisory lock on PostgreSQL,
    the write lock on SQLite) and insert only what the other has not stored.
    """
    fetcher = _Fetcher(_series(market=market, symbol=symbol, interval=interval), gateway, None)
    _, last = fetcher.series.bounds()
    fetcher.fetch(None if last is None else fetcher.series.interval.next_open(last), None)
    return fetcher.report


def klines_repair_gaps(*, symbol: str, interval: str, market: str = "spot",
                       start: datetime | None = None, end: datetime | None = None,
                       gateway: BinanceGateway | None = None,
                       on_page: Callable[[KlineFetchReport], None] | None = None,
                       ) -> KlineFetchReport:
    """Fetch the candles `kline_gaps` finds missing; `unfilled` lists what the exchange lacks."""
    fetcher = _Fetcher(_series(market=market, symbol=symbol, interval=interval), gateway,
                       on_page)
    window = {"symbol": symbol, "interval": interval, "market": market, "start": start,
              "end": end}
    _fetch_gaps(fetcher, kline_gaps(**window))
    fetcher.report.unfilled = kline_gaps(**window)
    return fetcher.report
