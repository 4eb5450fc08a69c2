"""Time our backtest call against backtesting.py, backtrader and vectorbt, in one process on
the same candles and rules (sma_cross 20/50 and rsi_reversion 14, 30/70 "below").

Run: .venv/bin/python bench/backtest_bench.py [--candles N] [--skip backtrader ...]
Needs requirements-bench.txt. The candles are a log-normal random walk of one-minute bars
(``indicators_bench.random_walk_candles``). Every peer gets the signal columns our
strategy's ``prepare()`` computed (outside its timing), while our call computes them inside:
ours is timed from candles to result. How each peer is set up: ``bench/peer_engines.py``.
No assertions: the figures are for people to read (and for the README).
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.indicators_bench import random_walk_candles  # noqa: E402
from bench.peer_engines import PEERS, RULES, PeerRun, rule_signals  # noqa: E402

CANDLES = 1_000_000
REPEATS = 3
OURS = "ours"
START_CASH = 10_000.0
PREPARE_ONLY = f"{OURS}: prepare() only"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candles", type=int, default=CANDLES)
    parser.add_argument(
        "--skip", action="append", default=[], choices=[OURS, *PEERS],
        help="leave an engine out (repeatable)",
    )
    return parser.parse_args()


def minute_candles(count: int) -> pd.DataFrame:
    """The strategy format: open_time (aware UTC) + OHLCV, index 0..n-1."""
    return random_walk_candles(count).rename_axis("open_time").reset_index()


# --- ours -----------------------------------------------------------------------------------


def our_config():
    from backtests.engine.config import BacktestConfig, SymbolFilters

    # The peers' costs: fees in the quote asset, 0.9999 of cash, quantities in 1e-8 steps.
    return BacktestConfig(
        cash=Decimal(START_CASH), taker_fee=Decimal("0.001"), maker_fee=Decimal("0.001"),
        fee_asset="quote", sizing="allocation_fraction", sizing_config={"fraction": "0.9999"},
        filters=SymbolFilters(step_size=Decimal("0.00000001")),
    )


def run_ours(candles: pd.DataFrame) -> list[PeerRun]:
    try:
        from backtests.engine import run_backtest
    except ImportError:
        print("our engine: not available yet")
        return []
    config, runs = our_config(), []
    for rule in RULES:
        call = lambda rule=rule: run_backtest(RULES[rule](), candles, config)  # noqa: E731
        first = timed(call)
        best = min((timed(call) for _ in range(REPEATS)), key=lambda run: run[0])
        runs += [as_run(f"{OURS} (1st call)", rule, *first), as_run(OURS, rule, *best)]
        runs.append(prepare_only(rule, candles))
        print_memory(rule, call)
    return runs


def prepare_only(rule: str, candles: pd.DataFrame) -> PeerRun:
    """The part of our call the peers are spared: ``prepare()`` computing the signals."""
    seconds = min(timed(lambda: RULES[rule]().prepare(candles))[0] for _ in range(REPEATS))
    return PeerRun(PREPARE_ONLY, rule, seconds, [], [], float("nan"))


def timed(call) -> tuple[float, object]:
    gc.collect()  # a collection left over from the last run should not land in this one
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def as_run(engine: str, rule: str, seconds: float, result) -> PeerRun:
    closed = [trade for trade in result.trades if not trade.is_open]
    return PeerRun(
        engine, rule, seconds, [t.entry_bar for t in closed], [t.exit_bar for t in closed],
        float(result.metrics["total_return_pct"]),
    )


def print_memory(rule: str, call) -> None:
    """Peak RSS of the process so far (before any peer ran) and what our call alone
    allocates at its peak (tracemalloc slows the call, so it is a run of its own)."""
    gc.collect()
    tracemalloc.start()
    call()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(f"ours, {rule}: tracemalloc peak of the call {peak / 2**20:,.0f} MiB, "
          f"process peak RSS so far {rss_mb:,.0f} MiB")


# --- peers ----------------------------------------------------------------------------------


def run_peers(candles: pd.DataFrame, skip: list[str]) -> list[PeerRun]:
    peers = [peer for peer in PEERS if peer not in skip and installed(peer)]
    runs = []
    for rule in RULES:
        signals = rule_signals(rule, candles)
        for peer in peers:
            started = time.perf_counter()
            result = PEERS[peer](candles, signals, rule)
            runs += result if isinstance(result, list) else [result]
            print(f"  {peer} {rule}: done in {time.perf_counter() - started:.1f} s", flush=True)
    return runs


def installed(peer: str) -> bool:
    module = {"backtesting.py": "backtesting"}.get(peer, peer)
    try:
        __import__(module)
    except ImportError as error:
        print(f"{peer}: not installed ({error}); pip install -r requirements-bench.txt")
        return False
    return True


# --- the table ------------------------------------------------------------------------------


def print_table(runs: list[PeerRun], count: int) -> None:
    ours = {run.strategy: run for run in runs if run.engine == OURS}
    print(f"\n{count:,} one-minute candles; trades = closed trades; "
          f"speed-up = engine's seconds / ours (best of {REPEATS})")
    print(f"{'engine':<26}{'strategy':<15}{'seconds':>9}{'trades':>8}{'return %':>11}"
          f"{'final equity':>14}{'speed-up':>10}  same trades as ours")
    for run in runs:
        print(table_row(run, ours.get(run.strategy)))


def table_row(run: PeerRun, ours: PeerRun | None) -> str:
    head = f"{run.engine:<26}{run.strategy:<15}{run.seconds:>9.3f}"
    if run.engine == PREPARE_ONLY:
        return f"{head}  (part of our call; the peers are handed its signals)"
    speed_up = f"{run.seconds / ours.seconds:,.1f}x" if ours else "-"
    # Thousands of round trips at 0.2% take returns near -100%: the equity tells them apart.
    equity = START_CASH * (1 + run.total_return_pct / 100)
    return (f"{head}{run.trades:>8}{run.total_return_pct:>11.4f}{equity:>14.6g}"
            f"{speed_up:>10}  {same_trades(run, ours)}")


def same_trades(run: PeerRun, ours: PeerRun | None) -> str:
    if ours is None:
        return "-"
    same = (run.entry_bars, run.exit_bars) == (ours.entry_bars, ours.exit_bars)
    off = run.total_return_pct - ours.total_return_pct
    return f"{'yes' if same else 'NO'}, return off by {off:+.4f} pp"


def main() -> None:
    args = parse_args()
    candles = minute_candles(args.candles)
    runs = [] if OURS in args.skip else run_ours(candles)
    runs += run_peers(candles, args.skip)
    print_table(runs, args.candles)


if __name__ == "__main__":
    main()
