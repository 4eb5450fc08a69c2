"""A backtest result as one JSON-friendly dict: money and percentages as ``Decimal`` turned
into plain strings (never floats in the books), times as ISO 8601 UTC, the curves thinned to
a size a chart can draw, and every trade with the strategy's own words for why it entered
and exited."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np

from backtests.engine.metrics import drawdown_pct
from backtests.engine.results import BacktestResult, Trade
from bots.strategies import Strategy, as_decimal

MONEY = Decimal("0.00000001")  # Binance's finest precision
PERCENT = Decimal("0.0001")
COUNTS = frozenset({"trade_count", "max_consecutive_wins", "max_consecutive_losses"})
TEXT = frozenset({"start", "end"})
CURVE_POINTS = 2_000
REFUSALS_SHOWN = 200


def as_report(result: BacktestResult, strategy: Strategy, *,
              curve_points: int = CURVE_POINTS) -> dict[str, Any]:
    """The whole result. ``strategy`` is the instance that ran (it words the reasons)."""
    closed = [t for t in result.trades if not t.is_open]
    still_open = next((t for t in result.trades if t.is_open), None)
    return {
        "strategy": result.strategy,
        "params": {name: _plain(value) for name, value in result.params.items()},
        **{name: _figure(name, value) for name, value in result.metrics.items()},
        "trades": [_trade(t, result, strategy) for t in closed],
        "open_at_end": _trade(still_open, result, strategy) if still_open else None,
        "monthly_returns": [{**row, "return_pct": _figure("return_pct", row["return_pct"])}
                            for row in result.monthly_returns],
        "equity": _series(result, result.curve.equity, curve_points, MONEY),
        "drawdown": _series(result, -drawdown_pct(result.curve.equity), curve_points, PERCENT),
        "refusals": [{"candle": _candle(result, bar), "reason": why}
                     for bar, why in result.refusals[:REFUSALS_SHOWN]],
        "refusal_count": len(result.refusals),
        "notes": list(result.notes),
    }


def _trade(trade: Trade, result: BacktestResult, strategy: Strategy) -> dict[str, Any]:
    return {
        "entry_time": trade.entry_time.isoformat(),
        "exit_time": trade.exit_time.isoformat() if trade.exit_time else None,
        "entry_price": _money(trade.entry_price),
        "exit_price": _money(trade.exit_price) if trade.exit_price is not None else None,
        "quantity": _money(trade.quantity),
        "fees": _money(trade.fees),
        "pnl": _money(trade.pnl),
        "return_pct": _percent(trade.return_pct),
        "exit_reason": trade.exit_reason,
        "side": trade.side,
        "funding": _money(trade.funding),
        "entry_words": _words(_reasons(strategy, trade)[0], result, trade.signal_bar),
        "exit_words": trade.exit_note or _exit_words(trade, result, strategy),
        "entry_bar": trade.entry_bar,
        "exit_bar": trade.exit_bar,
    }


def _exit_words(trade: Trade, result: BacktestResult, strategy: Strategy) -> str:
    if trade.exit_reason == "open_at_end":
        return "still open at the end: valued at the last close"
    if trade.exit_reason == "signal" and trade.exit_bar:
        return _words(_reasons(strategy, trade)[1], result, trade.exit_bar - 1)
    return trade.exit_reason.replace("_", " ")


def _reasons(strategy: Strategy, trade: Trade):
    """The strategy's wording of an entry and an exit, for the trade's side."""
    if trade.side == "short":
        return strategy.short_entry_reason, strategy.short_exit_reason
    return strategy.entry_reason, strategy.exit_reason


def _words(reason, result: BacktestResult, bar: int) -> str:
    try:
        return reason(result.prepared.iloc[bar].to_dict())
    except (KeyError, ValueError, TypeError):  # a user strategy's wording needs other columns
        return ""


def _series(result: BacktestResult, values: np.ndarray, points: int,
            places: Decimal) -> list[list[str]]:
    """[time, value] pairs, thinned evenly to about ``points`` (the last point always kept)."""
    if len(values) == 0:
        return []
    step = max(1, len(values) // points)
    picks = np.unique(np.append(np.arange(0, len(values), step), len(values) - 1))
    times = result.curve.times[picks]
    return [[time.isoformat(), _quantized(values[i], places)]
            for time, i in zip(times, picks, strict=True)]


def _figure(name: str, value: Any) -> Any:
    if value is None or name in TEXT or name in COUNTS:
        return value
    if name.endswith("_pct") or name in ("sharpe", "sortino", "calmar", "sqn", "profit_factor"):
        return _percent(value)
    if name.endswith(("_days", "_hours")):
        return _quantized(value, Decimal("0.01"))
    return _money(value)


def _money(value: float) -> str:
    return _quantized(value, MONEY)


def _percent(value: float) -> str:
    return _quantized(value, PERCENT)


def _quantized(value: float, places: Decimal) -> str | None:
    if value is None or not np.isfinite(value):
        return None
    return f"{as_decimal(value).quantize(places).normalize():f}"


def _candle(result: BacktestResult, bar: int) -> str:
    """The open time of the candle whose close decided it."""
    return result.prepared["open_time"].iloc[bar].isoformat()


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value
