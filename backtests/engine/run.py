"""``run_backtest``: prepare the strategy's signals once, simulate, measure."""

from __future__ import annotations

from typing import Literal

import pandas as pd

from backtests.engine import metrics
from backtests.engine.config import BacktestConfig
from backtests.engine.data import CandleError, candles_from, interval_step
from backtests.engine.futures import funding_per_bar, futures_refusal, run_futures
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
FUTURES_NOTE = (
    "USD-M futures at {leverage}x on isolated margin: fees in {quote}, liquidation where the "
    "margin left meets the {maintenance}% maintenance margin, a liquidated position losing its "
    "whole margin; exits are reduce-only (never refused for size)."
)
MIRRORED_SHORTS_NOTE = (
    "The strategy has no short signals of its own: shorts open on its exit signal and close "
    "on its entry signal."
)
NO_FUNDING_NOTE = "No funding series was given: funding is ignored."
FUNDING_NOTE = ("Funding is paid at each funding time the position was open over, at the "
                "candle's open price ({total} {quote} in all: positive paid, negative received).")


def run_backtest(strategy: Strategy, candles: pd.DataFrame, config: BacktestConfig | None = None,
                 *, progress: Progress | None = None, loop: Loop = "auto",
                 trade_from: int = 0, funding: pd.Series | None = None) -> BacktestResult:
    """Run ``strategy`` over ``candles`` (open_time, open, high, low, close, volume; oldest
    first). ``progress(fraction)`` is called now and then; it may raise
    ``BacktestCancelled`` to stop the run. ``loop`` forces one of the two loops (tests
    compare them); "auto" takes the signal loop whenever the strategy allows it.

    ``trade_from``: the first candle the strategy may decide on; the candles before it only
    warm its indicators up, and the curve and the figures start there (a walk-forward's
    out-of-sample window).

    ``funding``: futures funding rates indexed by their funding times (0.0001 = 0.01%);
    without it a futures backtest ignores funding, and says so."""
    config = config or BacktestConfig()
    if not {"open_time", "open", "high", "low", "close"} <= set(candles.columns):
        raise CandleError("candles need open_time, open, high, low and close columns")
    candles = candles.reset_index(drop=True)
    if candles["open_time"].dt.tz is None:
        candles = candles_from(candles)
    prepared = strategy.prepare(candles)
    if not 0 <= trade_from < len(candles):
        raise CandleError(f"trade_from {trade_from} is outside the {len(candles)} candles")
    step = interval_step(config.interval)
    sim = Simulation(strategy, config, Candles.of(prepared, step), progress=progress,
                     trade_from=trade_from)
    if config.is_futures:
        _check_futures(strategy, loop)
        run_futures(sim, funding_per_bar(funding, sim.candles.open_times, step))
    else:
        signal_loop = loop == "signals" or (loop == "auto" and uses_default_on_bar(strategy))
        (run_signals if signal_loop else run_bars)(sim)
    if progress is not None:
        progress(1.0)
    result = _result(strategy, config, sim)
    if config.is_futures:
        result.notes.extend(_futures_notes(strategy, config, sim, funding))
    return result


def _check_futures(strategy: Strategy, loop: Loop) -> None:
    refusal = futures_refusal(strategy)
    if refusal:
        raise ValueError(refusal)
    if loop == "bars":
        raise ValueError("futures backtests run signal to signal: the bar loop is for spot")


def _futures_notes(strategy: Strategy, config: BacktestConfig, sim: Simulation,
                   funding: pd.Series | None) -> list[str]:
    quote = config.filters.quote_asset
    notes = [FUTURES_NOTE.format(leverage=config.leverage, quote=quote,
                                 maintenance=config.maintenance_margin * 100)]
    if config.direction != "long" and not strategy.has_own_short_signals(sim.candles.prepared):
        notes.append(MIRRORED_SHORTS_NOTE)
    if funding is None or funding.empty:
        notes.append(NO_FUNDING_NOTE)
    else:
        total = round(sim.account.funding_paid, 8)
        notes.append(FUNDING_NOTE.format(total=total, quote=quote))
    return notes


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
