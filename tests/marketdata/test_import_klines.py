"""Importing kline CSVs: the shared files, data.binance.vision dumps, and files to refuse."""

import os
import re
import subprocess
import sys
import threading
import time
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from marketdata.klines import COLUMNS, Gap, KlinesRejected, klines_import
from marketdata.models import Kline
from tests.localbinance.data import data_dir, klines_dir

pytestmark = pytest.mark.django_db

START = datetime(2024, 3, 1, tzinfo=UTC)
BINANCE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                  "taker_buy_volume,taker_buy_quote_volume,ignore")
MILLIS, MICROS = 1_000, 1_000_000


def readme_table() -> dict[str, tuple[int, int, int]]:
    """file -> (rows, gaps, missing) from the data README, the oracle for the shared files."""
    text = (data_dir() / "README.md").read_text()
    rows = re.findall(r"^\| `([^`]+\.csv)` \| (\d+) \|[^|]+\|[^|]+\| (\d+) / (\d+) \|", text,
                      flags=re.MULTILINE)
    return {name: (int(count), int(gaps), int(missing)) for name, count, gaps, missing in rows}


def series_of(path) -> dict:
    """BTCUSDT-5m-freqtrade_orderflow-um.csv -> BTCUSDT, 5m, futures (um = USD-M)."""
    symbol, interval = path.name.split("-")[:2]
    return {"symbol": symbol, "interval": interval,
            "market": "futures" if path.stem.endswith("-um") else "spot"}


def candle(minute: int, *, unit: int = MILLIS, columns: int = 11, **changes) -> list[str]:
    opens = (START + timedelta(minutes=minute) - datetime(1970, 1, 1, tzinfo=UTC)) // \
        timedelta(microseconds=MICROS // unit)
    fields = {"open_time": str(opens), "open": "100.50000000", "high": "101.25000000",
              "low": "99.75000000", "close": "100.00000000", "volume": "12.50000000",
              "close_time": str(opens + 60 * unit - 1), "quote_volume": "1250.12345678",
              "trades": "42", "taker_buy_base": "6.25000000", "taker_buy_quote": "625.00000000",
              "ignore": "0"}
    fields.update(changes)
    return [fields[column] for column in COLUMNS[:columns]]


def write_csv(path, rows, *, header: str | None = ",".join(COLUMNS[:11])):
    lines = ([header] if header else []) + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def minutes(*offsets: int) -> list[datetime]:
    return [START + timedelta(minutes=m) for m in offsets]


def test_every_shared_file_imports_whole_and_importing_it_again_adds_nothing():
    expected = readme_table()
    files = sorted(klines_dir().glob("*.csv"))
    assert {path.name for path in files} == set(expected)

    first = {path.name: klines_import(path=path, **series_of(path)) for path in files}
    again = {path.name: klines_import(path=path, **series_of(path)) for path in files}

    for name, (rows, gaps, missing) in expected.items():
        report = first[name]
        assert (report.rows, report.added, report.skipped) == (rows, rows, 0), name
        assert (len(report.gaps), sum(gap.missing for gap in report.gaps)) == (gaps, missing), name
        assert (again[name].added, again[name].skipped) == (0, rows), name
        assert again[name].gaps == report.gaps, name
    assert Kline.objects.count() == sum(rows for rows, _, _ in expected.values())


def test_shared_files_keep_their_decimals_and_unknown_fields_stay_null():
    nautilus = klines_dir() / "BTCUSDT-1m-nautilus-spot.csv"
    lean = klines_dir() / "BTCUSDT-1h-lean-spot.csv"
    klines_import(path=nautilus, symbol="BTCUSDT", interval="1m")
    klines_import(path=lean, symbol="BTCUSDT", interval="1h")

    first = Kline.objects.filter(interval="1m").first()
    assert first.open_time == datetime(2021, 10, 22, 23, 3, tzinfo=UTC)
    assert first.close_time == datetime(2021, 10, 22, 23, 3, 59, 999000, tzinfo=UTC)
    assert (first.open, first.volume, first.trades) == (Decimal("60685.22"), Decimal("21.63272"),
                                                       617)
    assert first.quote_volume == Decimal("1313200.0134041")
    hourly = Kline.objects.filter(interval="1h").first()
    assert (hourly.open, hourly.low) == (Decimal("9246.01"), Decimal("8934.44"))
    assert (hourly.quote_volume, hourly.trades, hourly.taker_buy_base) == (None, None, None)


@pytest.mark.parametrize(("unit", "header"), [(MICROS, None), (MILLIS, None),
                                              (MICROS, BINANCE_HEADER)])
def test_a_data_binance_vision_dump_imports_with_either_time_unit(tmp_path, unit, header):
    rows = [candle(m, unit=unit, columns=12) for m in (0, 1, 3)]
    path = write_csv(tmp_path / "BTCUSDT-1m-2025-01-01.csv", rows, header=header)

    report = klines_import(path=path, symbol="BTCUSDT", interval="1m")

    assert (report.rows, report.added) == (3, 3)
    assert report.gaps == [Gap(*minutes(2, 2), missing=1)]
    stored = Kline.objects.get(open_time=START)
    last_microsecond = 59_999_999 if unit == MICROS else 59_999_000
    assert stored.close_time == START + timedelta(microseconds=last_microsecond)
    assert (stored.open, stored.quote_volume) == (Decimal("100.5"), Decimal("1250.12345678"))
    assert (stored.trades, stored.symbol, stored.market) == (42, "BTCUSDT", "spot")


def test_a_zipped_dump_with_windows_line_ends_imports(tmp_path):
    rows = [",".join(candle(m, unit=MICROS, columns=12)) for m in range(3)]
    archive = tmp_path / "BTCUSDT-1m-2025-01.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("BTCUSDT-1m-2025-01.csv", "\r\n".join([BINANCE_HEADER, *rows]) + "\r\n")

    report = klines_import(path=archive, symbol="BTCUSDT", interval="1m")

    assert (report.rows, report.added, report.gaps) == (3, 3, [])
    assert Kline.objects.order_by("open_time").last().open_time == START + timedelta(minutes=2)


@pytest.mark.parametrize(("text", "message"), [
    ("", "no candles in the file"),
    (",".join(COLUMNS[:11]) + "\n", "no candles in the file"),
    ("1709251200000,1,1,1,1,1,1709251259999,1,1,1\n", "10 columns: expected 11"),
])
def test_a_file_without_candles_or_with_another_layout_is_refused(tmp_path, text, message):
    path = tmp_path / "odd.csv"
    path.write_text(text)

    with pytest.raises(KlinesRejected) as rejected:
        klines_import(path=path, symbol="BTCUSDT", interval="1m")

    assert rejected.value.errors[0].startswith(message)


def test_gaps_between_a_file_and_the_candles_stored_around_it_are_reported(tmp_path):
    early = write_csv(tmp_path / "early.csv", [candle(m) for m in range(0, 5)])
    late = write_csv(tmp_path / "late.csv", [candle(m) for m in range(20, 25)])
    middle = write_csv(tmp_path / "middle.csv", [candle(m) for m in range(8, 12)])
    klines_import(path=early, symbol="BTCUSDT", interval="1m")
    klines_import(path=late, symbol="BTCUSDT", interval="1m")

    report = klines_import(path=middle, symbol="BTCUSDT", interval="1m")

    assert report.gaps == []
    assert report.gaps_to_stored == [Gap(*minutes(5, 7), missing=3),
                                     Gap(*minutes(12, 19), missing=8)]


def changed(row: list[str], changes: dict[str, str]) -> list[str]:
    fields = dict(zip(COLUMNS, row, strict=False))
    fields.update(changes)
    return list(fields.values())


MALFORMED = [
    pytest.param({"open": "110", "high": "100", "low": "120", "close": "110"},
                 "line 3: high 100 is below low 120", id="high below low"),
    pytest.param({"open": "abc"}, "line 3: open 'abc' is not a number", id="not a number"),
    pytest.param({"volume": "-5"}, "line 3: volume -5 is negative", id="negative"),
    pytest.param({"close": ""}, "line 3: close is empty", id="empty price"),
    pytest.param({"open": "1.0000000000000000001"},
                 "line 3: open '1.0000000000000000001' is not a plain decimal",
                 id="more decimals than stored"),
    pytest.param({"ignore": "0"}, "line 3: 12 columns, expected 11", id="column count"),
    pytest.param({"open_time": "1709251290000", "close_time": "1709251349999"},
                 "line 3: open_time 1709251290000 (2024-03-01 00:01 UTC) is not the start of a "
                 "1m candle", id="not aligned"),
    pytest.param({"close_time": "1709251320000"},
                 "line 3: close_time 1709251320000 is inconsistent: a 1m candle opening at "
                 "1709251260000 closes at 1709251319999", id="close_time"),
    pytest.param({"open_time": "1709251200000", "close_time": "1709251259999"},
                 "line 3: open_time 1709251200000 repeats line 2", id="duplicate"),
    pytest.param({"open_time": "1709251140000", "close_time": "1709251199999"},
                 "line 3: open_time 1709251140000 comes before that of line 2", id="unsorted"),
]


@pytest.mark.parametrize(("line_3", "message"), MALFORMED)
def test_a_malformed_file_is_refused_whole_with_the_line_and_what_is_wrong(tmp_path, line_3,
                                                                            message):
    stored = write_csv(tmp_path / "stored.csv", [candle(m) for m in range(0, 3)])
    klines_import(path=stored, symbol="BTCUSDT", interval="1m")
    before = list(Kline.objects.values().order_by("open_time"))
    rows = [candle(m, open="100.1", close="100.2") for m in range(0, 6)]
    rows[1] = changed(rows[1], line_3)
    path = write_csv(tmp_path / "bad.csv", rows)

    with pytest.raises(KlinesRejected) as rejected:
        klines_import(path=path, symbol="BTCUSDT", interval="1m")

    assert any(error.startswith(message) for error in rejected.value.errors), \
        rejected.value.errors
    assert list(Kline.objects.values().order_by("open_time")) == before


@pytest.mark.django_db(transaction=True)
def test_an_import_yields_to_a_candle_the_live_stream_stores_meanwhile(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite lets one writer at a time in: there is no such race")
    path = write_csv(tmp_path / "minutes.csv", [candle(m) for m in range(5)])
    streamed = threading.Event()

    def live_stream():  # what marketdata.stream_sink does, without the import's lock
        try:
            with transaction.atomic():
                Kline.objects.bulk_create([Kline(
                    symbol="BTCUSDT", interval="1m", open_time=minutes(2)[0],
                    close_time=minutes(3)[0] - timedelta(milliseconds=1), open=1, high=1, low=1,
                    close=1, volume=1)], ignore_conflicts=True)
                streamed.set()
                time.sleep(1)  # commits while the import waits on that candle's index entry
        finally:
            connection.close()

    stream = threading.Thread(target=live_stream)
    stream.start()
    streamed.wait(5)
    with CaptureQueriesContext(connection) as queries:
        report = klines_import(path=path, symbol="BTCUSDT", interval="1m")
    stream.join()

    assert (report.added, report.skipped) == (4, 1)
    assert any("ON CONFLICT DO NOTHING" in query["sql"] for query in queries.captured_queries)
    assert Kline.objects.get(open_time=minutes(2)[0]).open == 1  # the stream's candle stays


def test_the_close_time_check_knows_calendar_months(tmp_path):
    february, march = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    opens = [int(month.timestamp() * 1000) for month in (february, march)]
    rows = [candle(0, open_time=str(opens[0]), close_time=str(opens[1] - 1)),
            candle(0, open_time=str(opens[1]), close_time=str(opens[1] + 31 * 86_400_000 - 1))]
    path = write_csv(tmp_path / "monthly.csv", rows)

    report = klines_import(path=path, symbol="BTCUSDT", interval="1M")

    assert (report.added, report.gaps) == (2, [])
    assert Kline.objects.get(open_time=february).close_time == march - timedelta(milliseconds=1)


def test_the_command_reports_each_file_and_exits_non_zero_when_one_is_refused(tmp_path):
    good = klines_dir() / "BTCUSDT-1m-nautilus-spot.csv"
    rows = [candle(m) for m in range(0, 3)]
    rows[1][2] = "99"  # high below low
    bad = write_csv(tmp_path / "bad.csv", rows)
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError) as failed:
        call_command("import_klines", "BTCUSDT", "1m", str(good), str(bad), stdout=out,
                     stderr=err)

    assert failed.value.returncode == 1
    assert "1 of 2 files rejected: bad.csv" in str(failed.value)
    assert ("BTCUSDT-1m-nautilus-spot.csv: 10 rows, 10 added, 0 skipped (already stored), "
            "0 gaps inside (0 missing candles)") in out.getvalue()
    assert f"{bad}: rejected, nothing stored from it" in err.getvalue()
    assert "line 3: high 99 is below low 99.75000000" in err.getvalue()
    assert Kline.objects.count() == 10


@pytest.mark.slow
def test_manage_py_exits_with_status_1_when_a_file_is_refused(tmp_path):
    rows = [candle(m) for m in range(0, 3)]
    rows[1][2] = "99"  # high below low
    bad = write_csv(tmp_path / "bad.csv", rows)
    # The file is refused before any database access: a scratch SQLite keeps this hermetic.
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "VAR_DIR": str(tmp_path), "REDIS_URL": ""}

    finished = subprocess.run([sys.executable, "manage.py", "import_klines", "BTCUSDT", "1m",
                               str(bad)], cwd=settings.BASE_DIR, env=env, capture_output=True,
                              text=True, timeout=60)

    assert finished.returncode == 1
    assert "line 3: high 99 is below low 99.75000000" in finished.stderr
    assert "1 of 1 files rejected: bad.csv" in finished.stderr


def test_the_command_imports_again_without_adding_and_lists_gaps():
    path = klines_dir() / "ADABTC-1m-nautilus-spot.csv"
    call_command("import_klines", "ADABTC", "1m", str(path), stdout=StringIO())
    out = StringIO()

    call_command("import_klines", "ADABTC", "1m", str(path), stdout=out)

    assert out.getvalue().splitlines() == [
        "ADABTC-1m-nautilus-spot.csv: 21 rows, 0 added, 21 skipped (already stored), "
        "1 gaps inside (1430 missing candles)",
        "  gap: 2021-11-27 00:10 to 2021-11-27 23:59 (1430 missing)",
    ]
