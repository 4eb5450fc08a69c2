"""Walk-forward analysis: optimise in sample, trade the winner out of sample, roll on. Pure.

Each window optimises over its in-sample candles, then runs the best parameters over the
out-of-sample candles that follow (which the optimisation never saw). The out-of-sample
curves are chained into one, as if the account had been handed from window to window, and
the winners of each window show how stable the parameters are.

A position still open when an out-of-sample span ends is marked to market at its last close
and the next window starts flat with that equity: the exit fee of the handover is not
charged (one fee per window, a rounding error beside the windows' own trading).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from backtests.engine import metrics
from backtests.engine.config import BacktestConfig
from backtests.engine.data import interval_step
from backtests.engine.optimise import (
    Score,
    evaluate,
    grid_candidates,
    json_params,
    objective_value,
    random_candidates,
    rank,
    score_metrics,
)
from backtests.engine.results import Curve, Trade
from backtests.engine.run import run_backtest
from bots.strategies import Strategy, get_strategy

# (candidates, candles, config, *, trade_from) -> scores, in any order; the platform's runs
# the chunks as parallel Celery tasks.
EvaluateMany = Callable[..., list[Score]]


@dataclass(frozen=True)
class Window:
    """Candle rows: the in-sample span is [in_sample_start, out_of_sample_start), the
    out-of-sample span [out_of_sample_start, out_of_sample_end); the rows from
    ``warmup_start`` only warm the indicators up before the in-sample span."""

    index: int
    warmup_start: int
    in_sample_start: int
    out_of_sample_start: int
    out_of_sample_end: int

    def as_dict(self) -> dict:
        return {"index": self.index, "warmup_start": self.warmup_start,
                "in_sample_start": self.in_sample_start,
                "out_of_sample_start": self.out_of_sample_start,
                "out_of_sample_end": self.out_of_sample_end}


def walk_forward_windows(n_candles: int, *, in_sample: int, out_of_sample: int,
                         step: int | None = None, warmup: int) -> list[Window]:
    """Rolling windows over ``n_candles``: each in-sample span of ``in_sample`` candles is
    followed by ``out_of_sample`` candles; the next window starts ``step`` candles later
    (default ``out_of_sample``, so the out-of-sample spans follow one another). The first
    in-sample span starts after ``warmup`` candles (see ``optimise.max_lookback``)."""
    step = out_of_sample if step is None else step
    if min(in_sample, out_of_sample, step) < 1 or warmup < 0:
        raise ValueError("in-sample, out-of-sample and step must be at least one candle, "
                         "and the warm-up cannot be negative")
    if step < out_of_sample:
        raise ValueError(f"a step of {step} candles is shorter than the out-of-sample span "
                         f"of {out_of_sample}: the out-of-sample spans would overlap")
    needed = warmup + in_sample + out_of_sample
    if needed > n_candles:
        raise ValueError(f"one window needs {needed:,} candles ({warmup:,} warm-up, "
                         f"{in_sample:,} in sample, {out_of_sample:,} out of sample) and there "
                         f"are only {n_candles:,}")
    starts = range(warmup, n_candles - in_sample - out_of_sample + 1, step)
    return [Window(index, start - warmup, start, start + in_sample,
                   start + in_sample + out_of_sample) for index, start in enumerate(starts)]


@dataclass
class WindowResult:
    """A window's winner (None when no candidate was eligible: the window sat out, flat)
    and its objective in and out of sample."""

    window: Window
    best_params: dict | None
    in_sample_value: float | None
    out_of_sample_value: float | None
    in_sample: dict  # the winner's SCORE_METRICS in sample
    out_of_sample: dict  # and out of sample
    eligible: int  # candidates that met min_trades and had an objective value
    note: str = ""

    def as_dict(self) -> dict:
        best = None if self.best_params is None else json_params(self.best_params)
        return {**self.window.as_dict(), "best_params": best,
                "in_sample_value": self.in_sample_value,
                "out_of_sample_value": self.out_of_sample_value,
                "in_sample": self.in_sample, "out_of_sample": self.out_of_sample,
                "eligible": self.eligible, "note": self.note}


@dataclass
class WalkForwardResult:
    strategy: str
    objective: str
    min_trades: int
    candidates: int
    windows: list[WindowResult]
    curve: Curve  # the stitched out-of-sample equity
    trades: list[Trade]  # out of sample, scaled as the curve
    metrics: dict  # of the stitched curve (metrics.compute)
    stability: list[dict]

    @property
    def times(self) -> pd.DatetimeIndex:
        return self.curve.times

    @property
    def equity(self) -> np.ndarray:
        return self.curve.equity

    def as_dict(self) -> dict:
        return {
            "strategy": self.strategy, "objective": self.objective,
            "min_trades": self.min_trades, "candidates": self.candidates,
            "windows": [window.as_dict() for window in self.windows],
            "curve": {"times": [time.isoformat() for time in self.curve.times],
                      "equity": self.curve.equity.tolist()},
            "metrics": self.metrics, "stability": self.stability,
        }


def walk_forward(strategy_name: str, candles: pd.DataFrame, config: BacktestConfig,
                 space: Mapping[str, list], *, objective: str, min_trades: int,
                 windows: Sequence[Window], search: str = "grid", samples: int | None = None,
                 seed: int = 0, evaluate_many: EvaluateMany | None = None) -> WalkForwardResult:
    """Optimise each window in sample over ``space`` (every valid combination, or ``samples``
    drawn at random with ``seed``), trade the winner out of sample, and stitch the
    out-of-sample curves. ``evaluate_many(candidates, candles, config, trade_from=)``
    scores the candidates (default: ``optimise.evaluate`` in this process)."""
    if not windows:
        raise ValueError("walk-forward needs at least one window")
    objective_value(objective, {})  # an unknown objective fails before any work
    cls = get_strategy(strategy_name)
    candidates = _candidates(cls, space, search, samples, seed)
    evaluate_many = evaluate_many or partial(evaluate, strategy_name)
    candles = candles.reset_index(drop=True)
    runs = [_run_window(strategy_name, candles, config, candidates, window, objective,
                        min_trades, evaluate_many) for window in windows]
    curve, trades, fees = _stitch([run[1] for run in runs], [run[2] for run in runs],
                                  [run[3] for run in runs], float(config.cash))
    figures = metrics.compute(curve, trades, starting_cash=float(config.cash), fees_paid=fees,
                              periods_per_year=metrics.periods_per_year(config.interval))
    results = [run[0] for run in runs]
    varied = [name for name, values in space.items() if len(values) > 1]
    return WalkForwardResult(strategy_name, objective, min_trades, len(candidates), results,
                             curve, trades, _jsonable(figures), stability(results, varied))


def _candidates(cls: type[Strategy], space: Mapping[str, list], search: str,
                samples: int | None, seed: int) -> list[dict]:
    if search == "grid":
        candidates = grid_candidates(cls, space)
    elif search == "random":
        if samples is None:
            raise ValueError("random search needs the number of samples to draw")
        candidates = random_candidates(cls, space, samples, seed)
    else:
        raise ValueError(f"unknown search '{search}'; choose grid or random")
    if not candidates:
        raise ValueError(f"no combination of the ranges is valid for {cls.name}")
    return candidates


def _run_window(strategy_name: str, candles: pd.DataFrame, config: BacktestConfig,
                candidates: list[dict], window: Window, objective: str, min_trades: int,
                evaluate_many: EvaluateMany) -> tuple[WindowResult, Curve, list[Trade], float]:
    in_sample = candles.iloc[window.warmup_start:window.out_of_sample_start]
    scores = rank(evaluate_many(candidates, in_sample, config,
                                trade_from=window.in_sample_start - window.warmup_start),
                  objective, min_trades=min_trades)
    eligible = sum(score.eligible for score in scores)
    if not eligible:
        note = (f"no candidate reached {min_trades} trades with a {objective} value in sample: "
                "the window sat out")
        return (WindowResult(window, None, None, None, {}, {}, 0, note),
                _flat(candles, window, config), [], 0.0)
    best = scores[0]
    strategy = get_strategy(strategy_name)(**best.params)
    # Start early enough for the winner's indicators to be warm on the first traded candle.
    start = max(window.out_of_sample_start - strategy.lookback(), 0)
    result = run_backtest(strategy, candles.iloc[start:window.out_of_sample_end], config,
                          trade_from=window.out_of_sample_start - start)
    out = score_metrics(result.metrics)
    summary = WindowResult(window, dict(strategy.params), best.value,
                           objective_value(objective, out), best.metrics, out, eligible)
    return summary, result.curve, result.trades, result.fees_paid


def _flat(candles: pd.DataFrame, window: Window, config: BacktestConfig) -> Curve:
    span = candles.iloc[window.out_of_sample_start:window.out_of_sample_end]
    close = span["close"].to_numpy(dtype="float64")
    times = pd.DatetimeIndex(span["open_time"]) + interval_step(config.interval)
    return Curve(times=times, equity=np.full(len(span), float(config.cash)), close=close,
                 in_market=np.zeros(len(span), dtype=bool))


def _stitch(curves: list[Curve], trades: list[list[Trade]], fees: list[float],
            starting_cash: float) -> tuple[Curve, list[Trade], float]:
    """One curve from the windows' curves, each window scaled to start with the equity the
    one before it ended with (every window's run starts from ``starting_cash``)."""
    level, equity, scaled, paid = starting_cash, [], [], 0.0
    for curve, window_trades, window_fees in zip(curves, trades, fees, strict=True):
        scale = level / starting_cash
        equity.append(curve.equity * scale)
        scaled += [_scaled(trade, scale) for trade in window_trades]
        paid += window_fees * scale
        level = float(curve.equity[-1]) * scale
    times = curves[0].times.append([curve.times for curve in curves[1:]])
    stitched = Curve(times=times, equity=np.concatenate(equity),
                     close=np.concatenate([curve.close for curve in curves]),
                     in_market=np.concatenate([curve.in_market for curve in curves]))
    return stitched, scaled, paid


def _scaled(trade: Trade, scale: float) -> Trade:
    # Scaling a window's equity is trading a position `scale` times the size.
    return replace(trade, quantity=trade.quantity * scale, entry_fee=trade.entry_fee * scale,
                   exit_fee=trade.exit_fee * scale, pnl=trade.pnl * scale,
                   cost=trade.cost * scale)


def stability(results: Sequence[WindowResult], names: Sequence[str]) -> list[dict]:
    """Per parameter: how many distinct values won a window and how often the most frequent
    one did, with the words ("fast: 20 won 4 of 5 windows")."""
    winners = [result.best_params for result in results if result.best_params is not None]
    rows = []
    for name in names:
        counts = Counter(params[name] for params in winners)
        if not counts:
            rows.append({"parameter": name, "distinct": 0, "most_frequent": None, "wins": 0,
                         "windows": 0, "share": None,
                         "words": f"{name}: no window found a winner"})
            continue
        value, wins = counts.most_common(1)[0]
        plural = "window" if len(winners) == 1 else "windows"
        words = f"{name}: {value} won {wins} of {len(winners)} {plural}"
        if len(counts) > 1:
            words += f" ({len(counts)} different values won)"
        rows.append({"parameter": name, "distinct": len(counts),
                     "most_frequent": json_params({name: value})[name], "wins": wins,
                     "windows": len(winners), "share": wins / len(winners), "words": words})
    return rows


def _jsonable(figures: Mapping[str, Any]) -> dict:
    return {name: None if isinstance(v, float) and not math.isfinite(v) else v
            for name, v in figures.items()}
