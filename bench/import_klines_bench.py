"""Time `import_klines` on 1,000,000 one-minute candles in PostgreSQL, then the same file again.

Run (PostgreSQL listening on 127.0.0.1:5432 as user postgres, as in CI):
    .venv/bin/python bench/import_klines_bench.py
    .venv/bin/python bench/import_klines_bench.py --rows 200000 --server postgres://u:p@host:5432

It drops and creates the database `bench_klines` on that server, migrates it, writes a
data.binance.vision-style CSV (12 columns, no header, millisecond open times, a random-walk
price, three candles left out so that gap detection has something to find) to a temporary
directory, then prints the time and rows/s of the first import, of the re-import (which must
add nothing) and of gap detection over the whole series. The database is dropped at the end
unless --keep is given. Goals: first import under 60 s (20 s hoped), re-import under 30 s.
No assertions: the figures are for people to read.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scratch_db import drop_database, recreate_database

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DATABASE = "bench_klines"
MINUTE_MS = 60_000
START_MS = 1_577_836_800_000  # 2020-01-01 00:00 UTC
LEFT_OUT_FRACTIONS = (0.001, 0.25, 0.75)  # where candles are missing from the file


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--keep", action="store_true", help="keep the bench_klines database")
    return parser.parse_args()


def binance_dump(rows: int, path: Path, seed: int = 7) -> Path:
    """One-minute BTC-like candles in data.binance.vision's layout, prices with 8 decimals."""
    rng = np.random.default_rng(seed)
    left_out = [int(rows * fraction) for fraction in LEFT_OUT_FRACTIONS]
    count = rows + len(left_out)
    close = np.round(30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, count))), 2)
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.round(np.abs(rng.normal(0.0, 8.0, (2, count))), 2)
    volume = np.round(rng.lognormal(2.0, 0.8, count), 5)
    taker = np.round(volume * rng.uniform(0.2, 0.8, count), 5)
    opens = START_MS + np.arange(count, dtype=np.int64) * MINUTE_MS
    frame = pd.DataFrame({
        "open_time": opens, "open": open_, "high": np.maximum(open_, close) + wick[0],
        "low": np.minimum(open_, close) - wick[1], "close": close, "volume": volume,
        "close_time": opens + MINUTE_MS - 1, "quote_volume": np.round(volume * close, 8),
        "trades": rng.integers(50, 5_000, count), "taker_buy_base": taker,
        "taker_buy_quote": np.round(taker * close, 8), "ignore": 0,
    }).drop(index=left_out)
    frame.to_csv(path, header=False, index=False, float_format="%.8f")
    return path


def django_on(server: str) -> None:
    os.environ["DATABASE_URL"] = f"{server}/{DATABASE}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradingsite.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def timed(label: str, rows: int, action):
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    print(f"{label:<28}{seconds:8.2f} s   {rows / seconds:>10,.0f} rows/s")
    return result


def main() -> None:
    args = arguments()
    recreate_database(args.server, DATABASE)
    django_on(args.server)
    from marketdata.klines import kline_gaps, klines_import
    from marketdata.models import Kline

    series = {"symbol": "BTCUSDT", "interval": "1m", "market": "spot"}
    with tempfile.TemporaryDirectory() as scratch:
        path = binance_dump(args.rows, Path(scratch) / "BTCUSDT-1m-bench.csv")
        print(f"{args.rows:,} candles, {path.stat().st_size / 1e6:.0f} MB of CSV, "
              f"into PostgreSQL database {DATABASE}")
        first = timed("import", args.rows, lambda: klines_import(path=path, **series))
        again = timed("re-import (same file)", args.rows, lambda: klines_import(path=path,
                                                                               **series))
    gaps = timed("gap detection (LAG)", args.rows, lambda: kline_gaps(**series))
    stored = Kline.objects.count()
    distinct = Kline.objects.values("open_time").distinct().count()
    print(f"import:    {first.added:,} added, {first.skipped:,} skipped, "
          f"{len(first.gaps)} gaps ({sum(g.missing for g in first.gaps)} missing)")
    print(f"re-import: {again.added:,} added, {again.skipped:,} skipped")
    print(f"stored:    {stored:,} candles, {distinct:,} distinct open times, "
          f"{len(gaps)} gaps found over the whole series")
    if not args.keep:
        drop_database(args.server, DATABASE)


if __name__ == "__main__":
    main()
