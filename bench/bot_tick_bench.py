"""Bot ticks on PostgreSQL: the latency of one tick (load the window, run the strategy, check
the budget, place and fill a paper order, record the decision), then 500 bots on 50 symbols
ticking on the same candle close through a Celery worker with 2 processes on Redis.

    .venv/bin/python bench/bot_tick_bench.py [--ticks 200] [--bots 500] [--symbols 50]

Creates (and drops) the database `bench_bots`; uses Redis db 3 as broker and cache. Prints
figures; asserts nothing.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from scratch_db import drop_database, recreate_database

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
DATABASE = "bench_bots"
REDIS = "redis://127.0.0.1:6379/3"
SERVER = "postgres://postgres@127.0.0.1:5432"


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--bots", type=int, default=500)
    parser.add_argument("--symbols", type=int, default=50)
    return parser.parse_args()


def setup_django() -> None:
    recreate_database(SERVER, DATABASE)
    os.environ.update(DATABASE_URL=f"{SERVER}/{DATABASE}", REDIS_URL=REDIS, LOG_LEVEL="WARNING",
                      DJANGO_SETTINGS_MODULE="tradingsite.settings")
    import django

    django.setup()
    from django.core.cache import cache
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    cache.clear()


def candles_for(symbols: list[str], count: int, last_open: datetime) -> None:
    """A zig-zag close path (so SMA crosses happen) for every symbol."""
    from marketdata.models import Kline

    rows = []
    for symbol in symbols:
        for n in range(count):
            opened = last_open - timedelta(minutes=count - 1 - n)
            close = Decimal(100 + (n % 20 if n % 40 < 20 else 20 - n % 20))
            rows.append(Kline(market="spot", symbol=symbol, interval="1m", open_time=opened,
                              close_time=opened + timedelta(seconds=59), open=close,
                              high=close + 1, low=close - 1, close=close, volume=Decimal(50)))
    Kline.objects.bulk_create(rows, batch_size=5000)


def live_market(symbols: list[str]) -> None:
    from django.core.cache import cache

    from marketdata import live

    cache.set(live.status_key("spot"), {"updated_at": time.time() + 3600, "connected": True,
                                        "symbols": {s: {"stale": False} for s in symbols}},
              timeout=None)
    for symbol in symbols:
        cache.set(live.ticker_key("spot", symbol), {"symbol": symbol, "price": "100"},
                  timeout=None)


def make_bots(symbols: list[str], count: int, prefix: str):
    from django.contrib.auth import get_user_model

    from bots.services import bot_create, bot_start
    from orders.services import paper_deposit
    from portfolios.models import Portfolio

    user, _ = get_user_model().objects.get_or_create(username="bench")
    bots = []
    for n in range(count):
        if n % 10 == 0:  # ten bots share a portfolio (and its budget lock)
            portfolio = Portfolio.objects.create(owner=user, name=f"{prefix}{n}",
                                                 total_budget=Decimal("100000"))
            paper_deposit(portfolio=portfolio, asset="USDT", amount=Decimal("100000"))
        bot = bot_create(portfolio=portfolio, name=f"bot{n}", symbol=symbols[n % len(symbols)],
                         strategy="sma_cross", params={"fast": 10, "slow": 30},
                         sizing_config={"amount": "20"})
        bots.append(bot_start(bot=bot))
    return bots


def bench_one_tick(symbols, ticks: int) -> None:
    from bots.services import bot_tick

    bots = make_bots(symbols[:1], 1, "latency")
    last = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    candles_for(symbols[:1], 400 + ticks, last + timedelta(minutes=ticks))
    durations = []
    for n in range(ticks):
        candle = last + timedelta(minutes=n)
        started = time.perf_counter()
        bot_tick(bot_id=bots[0].pk, candle_open_time=candle,
                 now=candle + timedelta(minutes=1, seconds=1))
        durations.append((time.perf_counter() - started) * 1000)
    ordered = sorted(durations)
    print(f"one bot tick (window 400 candles, sma_cross, budget, paper order when it signals): "
          f"median {statistics.median(ordered):.1f} ms, p95 {ordered[int(0.95 * len(ordered))]:.1f}"
          f" ms, max {ordered[-1]:.1f} ms over {ticks} ticks")


def bench_many_bots(symbols, count: int) -> None:
    from bots.models import BotDecision
    from bots.tasks import request_ticks

    make_bots(symbols, count, "many")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tradingsite", "worker", "--pool", "prefork",
         "--concurrency", "2", "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
        cwd=REPO, env=os.environ.copy())
    try:
        time.sleep(8)  # let the worker boot before the close
        # The candle that just closed (set up now: a tick more than an interval late is dropped).
        candle = datetime.now(tz=UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
        candles_for(symbols, 60, candle)
        started = time.perf_counter()
        for symbol in symbols:  # what the stream process does at the close
            request_ticks(market="spot", symbol=symbol, interval="1m", open_time=candle)
        while BotDecision.objects.filter(candle_open_time=candle).count() < count:
            if time.perf_counter() - started > 120:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(30)
    decided = BotDecision.objects.filter(candle_open_time=candle)
    print(f"{count} bots on {len(symbols)} symbols, one worker with 2 processes: "
          f"{decided.count()} decisions in {elapsed:.2f} s after the close; "
          f"{decided.values('bot').distinct().count()} distinct bots (no duplicates possible: "
          f"unique key)")


def main():
    args = arguments()
    setup_django()
    try:
        from paper_orders_bench import load_symbols

        symbols = load_symbols(args.symbols)
        bench_one_tick(symbols, args.ticks)
        bench_many_bots(symbols, args.bots)
    finally:
        drop_database(SERVER, DATABASE)


if __name__ == "__main__":
    main()
