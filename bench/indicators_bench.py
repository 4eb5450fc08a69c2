"""Time the indicator set the platform computes on every refresh, over 1,000,000 candles.

Run: .venv/bin/python bench/indicators_bench.py
Prints the best of several runs per indicator and the total; TA-Lib figures are shown for
comparison when it is installed. No assertions: the figures are for people to read.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from marketdata import indicators  # noqa: E402

CANDLES = 1_000_000
REPEATS = 5


def random_walk_candles(count: int, seed: int = 7) -> pd.DataFrame:
    """Hourly-like BTC candles: log-normal random walk closes, highs/lows around them."""
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, count)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.002, (2, count)))
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    volume = rng.lognormal(7.0, 0.6, count)
    index = pd.date_range("2020-01-01", periods=count, freq="min", tz="UTC")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index
    )


def best_of(call: Callable[[], object]) -> float:
    timings = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return min(timings)


def ours(candles: pd.DataFrame) -> dict[str, Callable[[], object]]:
    high, low, close = candles["high"], candles["low"], candles["close"]
    return {
        "SMA 20": lambda: indicators.sma(close, 20),
        "SMA 50": lambda: indicators.sma(close, 50),
        "EMA 12": lambda: indicators.ema(close, 12),
        "EMA 26": lambda: indicators.ema(close, 26),
        "RSI 14": lambda: indicators.rsi(close, 14),
        "MACD 12/26/9": lambda: indicators.macd(close),
        "Bollinger 20/2": lambda: indicators.bollinger(close, 20, 2.0),
        "ATR 14": lambda: indicators.atr(high, low, close, 14),
    }


def talib_equivalents(candles: pd.DataFrame) -> dict[str, Callable[[], object]]:
    import talib

    high, low, close = (candles[name].to_numpy() for name in ("high", "low", "close"))
    return {
        "SMA 20": lambda: talib.SMA(close, 20),
        "SMA 50": lambda: talib.SMA(close, 50),
        "EMA 12": lambda: talib.EMA(close, 12),
        "EMA 26": lambda: talib.EMA(close, 26),
        "RSI 14": lambda: talib.RSI(close, 14),
        "MACD 12/26/9": lambda: talib.MACD(close, 12, 26, 9),
        "Bollinger 20/2": lambda: talib.BBANDS(close, 20, 2.0, 2.0, 0),
        "ATR 14": lambda: talib.ATR(high, low, close, 14),
    }


def main() -> None:
    candles = random_walk_candles(CANDLES)
    suites = {"ours": ours(candles)}
    try:
        suites["talib"] = talib_equivalents(candles)
    except ImportError:
        print("TA-Lib not installed: showing our figures only")
    names = list(suites["ours"])
    results = {
        suite: {name: best_of(calls[name]) for name in names} for suite, calls in suites.items()
    }
    print(f"{CANDLES:,} candles, best of {REPEATS} runs, milliseconds")
    print(f"{'indicator':<16}" + "".join(f"{suite:>10}" for suite in results))
    for name in names:
        print(f"{name:<16}" + "".join(f"{results[suite][name] * 1000:>10.1f}" for suite in results))
    print(f"{'total':<16}" + "".join(f"{sum(r.values()) * 1000:>10.1f}" for r in results.values()))
    # Back to back, as a chart refresh runs them: the median pass, caches and allocator warm
    # but nothing reused between indicators.
    passes = {
        suite: sorted(best_of_one(list(calls.values())) for _ in range(REPEATS))[REPEATS // 2]
        for suite, calls in suites.items()
    }
    print(f"{'one full pass':<16}" + "".join(f"{t * 1000:>10.1f}" for t in passes.values()))


def best_of_one(calls: list[Callable[[], object]]) -> float:
    started = time.perf_counter()
    for call in calls:
        call()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
