"""``run_backtest``: prepare the strategy's signals once, simulate, measure."""

from __future__ import annotations

from typing import Literal

import pandas as pd

from backtests.engine import metrics
from backtests.engine.config import BacktestConfig
from backtests.engine.data import CandleError, candles_from, interval_step
from backtests.engine.results import BacktestResult, Curve
from backtests.engine.simulator import (
    Candles,
    Progress,
    Simulation,
    run_bars,
    run_signals,
    uses_default_on_bar,
)
from bots.strategies import Strategy

Loop = Literal["auto", "bars", "signals"]
BOTH_EXITS_NOTE = (
    "When one candle reached both the stop and the take profit, the stop is taken to have "
    "come first (the worse outcome: a candle does not say which came first)."
)
FILL_NOTE = (
    "Decisions are made on closed candles; market orders fill at the next candle's open, "
    "stops and take profits inside the candle that reached them, at their level (or at the "
    "open when the candle gapped past it)."
)


def run_backtest(strategy: Strategy, candles: pd.DataFrame, config: BacktestConfig | None = None,
                 *, progress: Progress | None = None, loop: Loop = "auto",
                 trade_from: int = 0) -> BacktestResult:
    """Run ``strategy`` over ``candles`` (open_time, open, high, low, close, volume; oldest
    first). ``progress(fraction)`` is called now and then; it may raise
    ``BacktestCancelled`` to stop the run. ``loop`` forces one of the two loops (tests
    compare them); "auto" takes the signal loop whenever the strategy allows it.

    ``trade_from``: the first candle the strategy may decide on; the candles before it only
    warm its indicators up, and the curve and the figures start there (a walk-forward's
    out-of-sample window)."""
    config = config or BacktestConfig()
    if not {"open_time", "open", "high", "low", "close"} <= set(candles.columns):
        raise CandleError("candles need open_time, open, high, low and close columns")
    candles = candles.reset_index(drop=True)
    if candles["open_time"].dt.tz is None:
        candles = candles_from(candles)
    prepared = strategy.prepare(candles)
    if not 0 <= trade_from < len(candles):
        raise CandleError(f"trade_from {trade_from} is outside the {len(candles)} candles")
    sim = Simulation(strategy, config, Candles.of(prepared, interval_step(config.interval)),
                     progress=progress, trade_from=trade_from)
    signal_loop = loop == "signals" or (loop == "auto" and uses_default_on_bar(strategy))
    (run_signals if signal_loop else run_bars)(sim)
    if progress is not None:
        progress(1.0)
    return _result(strategy, config, sim)


def _result(strategy: Strategy, config: BacktestConfig, sim: Simulation) -> BacktestResult:
    starting_cash = float(config.cash)
    equity, in_market = sim.account.curve_arrays(sim.candles.close, starting_cash)
    first = sim.trade_from
    curve = Curve(times=sim.candles.close_times[first:], equity=equity[first:],
                  close=sim.candles.close[first:], in_market=in_market[first:])
    trades = sim.account.trades
    figures = metrics.compute(curve, trades, starting_cash=starting_cash,
                              fees_paid=sim.account.fees_paid,
                              periods_per_year=metrics.periods_per_year(config.interval))
    notes = [FILL_NOTE]
    if strategy.params.get("take_profit_pct") and (strategy.params.get("stop_loss_pct")
                                                   or strategy.params.get("trailing_stop_pct")):
        notes.append(BOTH_EXITS_NOTE)
    return BacktestResult(
        strategy=strategy.name, params=dict(strategy.params), trades=trades, curve=curve,
        starting_cash=starting_cash, fees_paid=sim.account.fees_paid, refusals=sim.refusals,
        notes=notes, metrics=figures, monthly_returns=metrics.monthly_returns(curve, starting_cash),
        decisions=sim.decisions, prepared=sim.candles.prepared)
