"""Time a 200-combination sma_cross grid over 100,000 one-minute candles, in one process and
split into chunks over a pool of worker processes.

Run: .venv/bin/python bench/optimise_bench.py [--candles N] [--workers 1 2 4]
Each worker evaluates one chunk with ``backtests.engine.optimise.evaluate``, the function a
Celery task calls; the pool's timing includes starting the processes and sending them the
candles, as a task queue would. The candles are ``indicators_bench.random_walk_candles``.
No assertions: the figures are for people to read.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


if __name__ == "__main__":
    main()
