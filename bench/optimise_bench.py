"""Time a 200-combination sma_cross grid over 100,000 one-minute candles, in one process and
split into chunks over a pool of worker processes; with --celery, as an OptimisationRun
through real Celery worker processes on PostgreSQL and Redis.

Run: .venv/bin/python bench/optimise_bench.py [--candles N] [--workers 1 2 4]
Each worker evaluates one chunk with ``backtests.engine.optimise.evaluate``, the function a
Celery task calls; the pool's timing includes starting the processes and sending them the
candles, as a task queue would. The candles are ``indicators_bench.random_walk_candles``.

Run: .venv/bin/python bench/optimise_bench.py --celery [--processes 1 2] [--candles N]
stores the candles in a scratch PostgreSQL database (`bench_optimise`, created and dropped;
Redis db 4 is the broker, results and cache), then for each count starts that many
`celery worker` processes (prefork, one pool process each, as separate machines would be)
and times `optimisation_create` to `done` twice: cold (every worker process reads the
candles from the database first) and warm (they have them in their per-process cache).
No assertions: the figures are for people to read.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from backtests.engine import BacktestConfig  # noqa: E402
from backtests.engine.optimise import (  # noqa: E402
    Score,
    chunked,
    evaluate,
    grid_candidates,
    parameter_space,
    rank,
)
from bench.indicators_bench import random_walk_candles  # noqa: E402
from bots.strategies import get_strategy  # noqa: E402

CANDLES = 100_000
# fast 5..50 by 5 and slow 15..204 by 9 leave exactly 200 pairs with fast < slow.
RANGES = {"fast": (5, 50, 5), "slow": (15, 204, 9)}
CONFIG = BacktestConfig(interval="1m")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=CANDLES)
    parser.add_argument("--workers", type=int, nargs="+",
                        default=sorted({1, 2, os.cpu_count() or 1}))
    parser.add_argument("--celery", action="store_true",
                        help="an OptimisationRun through real Celery worker processes")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2],
                        help="--celery: the worker process counts to time")
    return parser.parse_args()


def in_one_process(candidates: list[dict], candles: pd.DataFrame) -> list[Score]:
    return evaluate("sma_cross", candidates, candles, CONFIG)


def in_a_pool(candidates: list[dict], candles: pd.DataFrame, workers: int) -> list[Score]:
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(evaluate, "sma_cross", chunk, candles, CONFIG)
                   for chunk in chunked(candidates, workers)]
        return [score for future in futures for score in future.result()]


def report(label: str, seconds: float, count: int) -> None:
    print(f"{label:<28} {seconds:7.2f} s  {count / seconds:7.1f} combinations/s")


def main() -> None:
    args = parse_args()
    if args.celery:
        through_celery(args)
        return
    candles = random_walk_candles(args.candles).rename_axis("open_time").reset_index()
    candidates = grid_candidates(get_strategy("sma_cross"), parameter_space(
        get_strategy("sma_cross"), RANGES))
    print(f"CPUs: {os.cpu_count()}; candles: {len(candles):,} (1m); "
          f"combinations: {len(candidates)} (fast {RANGES['fast']}, slow {RANGES['slow']})")
    evaluate("sma_cross", candidates[:1], candles, CONFIG)  # imports and first-call costs

    started = time.perf_counter()
    best = rank(in_one_process(candidates, candles), "sharpe", min_trades=10)[0]
    report("one process", time.perf_counter() - started, len(candidates))
    for workers in args.workers:
        started = time.perf_counter()
        pooled = rank(in_a_pool(candidates, candles, workers), "sharpe", min_trades=10)[0]
        report(f"pool of {workers} worker(s)", time.perf_counter() - started, len(candidates))
        if pooled.params != best.params:
            print("  the pool's best differs from the one process's best!")
    print(f"best by Sharpe: fast {best.params['fast']}, slow {best.params['slow']}, "
          f"sharpe {best.value:.2f}, {best.metrics['trade_count']} trades")



# --- --celery: an OptimisationRun through real worker processes ------------------------------

SERVER = "postgres://postgres@127.0.0.1:5432"
DATABASE = "bench_optimise"
REDIS = "redis://127.0.0.1:6379/4"
SPACE = {name: dict(zip(("min", "max", "step"), given, strict=True))
         for name, given in RANGES.items()}


def through_celery(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    from scratch_db import drop_database, recreate_database

    recreate_database(SERVER, DATABASE)
    try:
        owner = served_django()
        started = time.perf_counter()
        store(random_walk_candles(args.candles))
        print(f"CPUs: {os.cpu_count()}; {args.candles:,} 1m candles stored in "
              f"{time.perf_counter() - started:.1f} s; 200 combinations "
              f"(fast {RANGES['fast']}, slow {RANGES['slow']}), objective sharpe")
        print(f"reading them back (services.stored_candles, what the start task and each "
              f"worker process's first chunk do): {read_back():.2f} s; "
              f"one process, no Celery: {in_one_process_from_db():.2f} s")
        for count in args.processes:
            workers = start_workers(count)
            try:
                for label in ("cold", "warm"):
                    seconds, run = timed_run(owner)
                    print(f"{count} worker process(es), {label}: {seconds:6.2f} s create to "
                          f"{run.status} ({run.chunk_count} chunks; "
                          f"{run.candidate_count / seconds:.1f} combinations/s; {phases(run)})"
                          + (f": {run.error}" if run.error else ""))
            finally:
                stop_workers(workers)
    finally:
        drop_database(SERVER, DATABASE)


def served_django():
    os.environ.update(DATABASE_URL=f"{SERVER}/{DATABASE}", REDIS_URL=REDIS,
                      LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="tradingsite.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.management import call_command

    from tradingsite.celery import app

    call_command("migrate", verbosity=0)
    cache.clear()
    app.control.purge()  # tasks left in this Redis db by an interrupted run
    return get_user_model().objects.create_user(username="bench")


def store(candles: pd.DataFrame) -> None:
    from datetime import timedelta
    from decimal import Decimal

    from marketdata.models import Kline

    def money(value: float) -> Decimal:
        return Decimal(f"{value:.8f}")

    Kline.objects.bulk_create((
        Kline(market="spot", symbol="BENCHUSDT", interval="1m", open_time=opened,
              close_time=opened + timedelta(seconds=59), open=money(row.open),
              high=money(row.high), low=money(row.low), close=money(row.close),
              volume=money(row.volume))
        for opened, row in zip(candles.index, candles.itertuples(), strict=True)),
        batch_size=5_000)


def read_back() -> float:
    from backtests.services import stored_candles

    started = time.perf_counter()
    stored_candles(symbol="BENCHUSDT", interval="1m")
    return time.perf_counter() - started


def in_one_process_from_db() -> float:
    from backtests.services import stored_candles

    candles = stored_candles(symbol="BENCHUSDT", interval="1m")
    candidates = grid_candidates(get_strategy("sma_cross"), parameter_space(
        get_strategy("sma_cross"), RANGES))
    started = time.perf_counter()
    in_one_process(candidates, candles)
    return time.perf_counter() - started


def start_workers(count: int) -> list[subprocess.Popen]:
    from tradingsite.celery import app

    workers = [subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tradingsite", "worker", "--pool", "prefork",
         "--concurrency", "1", "--loglevel", "WARNING", "--without-gossip",
         "--without-mingle", "-n", f"bench{n}@%h"], cwd=REPO, env=os.environ.copy())
        for n in range(count)]
    deadline = time.monotonic() + 60
    while len(app.control.inspect(timeout=1).ping() or {}) < count:
        if time.monotonic() > deadline:
            stop_workers(workers)
            raise RuntimeError(f"{count} workers did not answer within 60 s")
    return workers


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait(30)


def phases(run) -> str:
    """Where the time went: queued, the start task (candles read, hashed, chunks sent), the
    chunks (until the last one counted itself), the finish task."""
    def gap(earlier, later) -> float:
        return (later - earlier).total_seconds()

    return (f"queued {gap(run.created_at, run.started_at):.2f} s, start + chunks "
            f"{gap(run.started_at, run.progressed_at):.2f} s, finish "
            f"{gap(run.progressed_at, run.finished_at):.2f} s")


def timed_run(owner):
    from backtests.models import OptimisationRun
    from backtests.optimisation import optimisation_create

    started = time.perf_counter()
    run = optimisation_create(  # outside a transaction: queued at once
        owner=owner, strategy="sma_cross", symbol="BENCHUSDT", interval="1m", start=None,
        end=None, settings={}, kind="grid", space=SPACE, fixed={}, objective="sharpe",
        min_trades=10)
    while not OptimisationRun.objects.get(pk=run.pk).is_finished:
        if time.perf_counter() - started > 600:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    run.refresh_from_db()
    return seconds, run


if __name__ == "__main__":
    main()
