"""The figures of a backtest, drawn from its equity curve and its trades. Pure: no Django.

Everything is float64 and vectorised with numpy: a curve can hold a million candles and a run
tens of thousands of trades, and an optimisation computes these figures once per run.

Conventions, as in ``portfolios.analytics`` (whose Sharpe and Sortino these are):

- Percentages are in percent (12.5 = 12.5%); a drawdown is a positive percent below the peak.
- A figure that cannot be computed is None, never 0: a 0 would read as a measurement.
- A year is 365 days: crypto trades around the clock.
- The curve is equity at each candle's close. Its first point is the starting cash in
  practice (an entry fills after a signal candle's close), so the drawdown and the returns
  are taken over the curve alone; the total return and CAGR start from ``starting_cash``.
- A trade still open at the end (``exit_reason`` "open_at_end") is marked to market in the
  curve, so it counts in every equity figure, but it is no closed trade: the trade
  statistics leave it out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from operator import attrgetter, sub

import numpy as np
import pandas as pd

from backtests.engine.data import interval_step
from backtests.engine.results import Curve, Trade
from portfolios.analytics import sharpe_ratio, sortino_ratio

__all__ = ["compute", "drawdown_pct", "monthly_returns", "periods_per_year", "simple_returns"]

DAYS_PER_YEAR = 365
# Candle times come in microseconds or nanoseconds (pandas keeps the unit it was given):
# time spans are divided by ONE_DAY rather than counted in raw integers.
ONE_DAY = np.timedelta64(1, "D")
SECONDS_PER_HOUR = 3_600

Figures = dict[str, float | int | str | None]


def periods_per_year(interval: str) -> float:
    """How many candles of a Binance interval ("1s" ... "1w", "1M") a 365-day year holds
    (a "1M" candle is a twelfth of a year, not 31 days)."""
    step = interval_step(interval)  # CandleError (a ValueError) in words for a bad one
    if interval.endswith("M"):
        return 12 / int(interval[:-1])
    return DAYS_PER_YEAR * 86_400 / step.total_seconds()


def simple_returns(equity: np.ndarray) -> np.ndarray:
    """Per-candle returns ``equity[i] / equity[i-1] - 1``.

    As in ``portfolios.analytics.returns``, a period that starts at zero or negative equity
    has no defined return and is left out.
    """
    before, after = equity[:-1], equity[1:]
    if before.size and before.min() <= 0:
        keep = before > 0
        before, after = before[keep], after[keep]
    return after / before - 1


def drawdown_pct(equity: np.ndarray) -> np.ndarray:
    """How far each point stands below the highest equity so far, in percent (0 at a high)."""
    return _below_peaks(equity, np.maximum.accumulate(equity))


def _below_peaks(equity: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        below = equity / peaks
    # In place: on a million points each temporary array costs a millisecond.
    np.subtract(1, below, out=below)
    below *= 100
    # Running peaks never fall, so the first is the lowest: when it is positive they all are
    # and the costly mask below is skipped.
    if len(peaks) and peaks[0] <= 0:
        # Under a non-positive peak there was nothing to lose as a share (as analytics does).
        below = np.where(peaks > 0, below, 0.0)
    return below


def compute(
    curve: Curve,
    trades: Sequence[Trade],
    *,
    starting_cash: float,
    fees_paid: float,
    periods_per_year: float,
) -> Figures:
    """The headline figures of a run, as one JSON-friendly dict (see the module docstring)."""
    if len(curve.equity) == 0:
        raise ValueError("the curve is empty: a backtest needs at least one candle")
    if starting_cash <= 0 or periods_per_year <= 0:
        raise ValueError("starting_cash and periods_per_year must be positive")
    pnl, return_pct, hours = _closed_trades(trades)
    return {
        **_span(curve),
        **_equity_figures(curve, starting_cash, periods_per_year),
        **_trade_figures(pnl, return_pct, hours),
        "exposure_pct": np.count_nonzero(curve.in_market) / len(curve.in_market) * 100,
        "max_consecutive_wins": _longest_run(pnl > 0),
        "max_consecutive_losses": _longest_run(pnl < 0),
        # Van Tharp's System Quality Number is a Sharpe ratio over trades scaled by sqrt(n).
        "sqn": sharpe_ratio(pnl, len(pnl)),
        "fees_paid": float(fees_paid),
    }


def monthly_returns(curve: Curve, starting_cash: float) -> list[dict]:
    """One ``{"year", "month", "return_pct"}`` per calendar month (UTC) with candles.

    Each month compounds from the last equity of the month before it (the first month from
    ``starting_cash``); a month without candles is skipped. ``return_pct`` is None after a
    month that ended at zero or negative equity. A candle closing at midnight on the 1st
    traded in the month before, so its close counts there.
    """
    times = _utc_datetime64(curve.times)
    if len(times) == 0:
        return []
    just_before = times[[0, -1]] - np.timedelta64(1)  # one tick, in the times' own unit
    first, last = just_before.astype("datetime64[M]")
    months = np.arange(first, last + 1)
    # Searching for each month's end takes microseconds; converting every candle's time to
    # its month is calendar arithmetic, some 15 ms on a million candles.
    month_ends = (months + 1).astype(times.dtype)
    last_candle = np.searchsorted(times, month_ends, side="right") - 1
    has_candles = np.diff(last_candle, prepend=-1) > 0
    months, last_candle = months[has_candles].astype(np.int64), last_candle[has_candles]
    ends = curve.equity[last_candle]
    starts = np.append(float(starting_cash), ends[:-1])
    return [
        {"year": int(month // 12 + 1970), "month": int(month % 12 + 1),
         "return_pct": float((end / start - 1) * 100) if start > 0 else None}
        for month, start, end in zip(months, starts, ends, strict=True)
    ]


def _span(curve: Curve) -> Figures:
    start, end = curve.times[0], curve.times[-1]
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "duration_days": _days(end - start),
    }


def _equity_figures(curve: Curve, starting_cash: float, per_year: float) -> Figures:
    equity = curve.equity
    peaks = np.maximum.accumulate(equity)
    final = float(equity[-1])
    period_returns = simple_returns(equity)
    cagr = _cagr(starting_cash, final, _days(curve.times[-1] - curve.times[0]))
    max_drawdown = float(_below_peaks(equity, peaks).max())
    return {
        "starting_cash": float(starting_cash),
        "final_equity": final,
        "equity_peak": float(peaks[-1]),
        "total_return_pct": (final / starting_cash - 1) * 100,
        "cagr_pct": cagr,
        "buy_hold_return_pct": _buy_and_hold(curve.close),
        "max_drawdown_pct": max_drawdown,
        "max_drawdown_duration_days": _longest_underwater_days(curve.times, equity, peaks),
        "volatility_pct": _volatility(period_returns, per_year),
        "sharpe": sharpe_ratio(period_returns, per_year),
        "sortino": sortino_ratio(period_returns, per_year),
        "calmar": cagr / max_drawdown if cagr is not None and max_drawdown > 0 else None,
    }


def _cagr(starting_cash: float, final: float, days: float) -> float | None:
    # Below zero equity there is no rate that compounds to it; over no time, no rate at all.
    if days <= 0 or final < 0:
        return None
    try:
        return ((final / starting_cash) ** (DAYS_PER_YEAR / days) - 1) * 100
    except OverflowError:  # a big gain over hours, compounded for a year, is beyond a float
        return None


def _buy_and_hold(close: np.ndarray) -> float | None:
    if close.size == 0 or close[0] <= 0:
        return None
    return float(close[-1] / close[0] - 1) * 100


def _volatility(period_returns: np.ndarray, per_year: float) -> float | None:
    if period_returns.size < 2:
        return None
    return float(np.std(period_returns, ddof=1)) * math.sqrt(per_year) * 100


def _longest_underwater_days(
    close_times: pd.DatetimeIndex, equity: np.ndarray, peaks: np.ndarray
) -> float:
    """The longest time from a peak until equity was back at it, or until the end if never.

    A point at or above every earlier point is a high; between two highs that are not
    neighbours the curve was under water from the first to the second.
    """
    highs = np.flatnonzero(equity >= peaks)
    times = _utc_datetime64(close_times)
    # The end counts as a recovery when the curve has not recovered by then.
    if highs[-1] != len(equity) - 1:
        highs = np.append(highs, len(equity) - 1)
    under_water = np.diff(highs) > 1
    if not under_water.any():
        return 0.0
    spans = times[highs[1:][under_water]] - times[highs[:-1][under_water]]
    return _days(spans.max())


def _utc_datetime64(times: pd.DatetimeIndex) -> np.ndarray:
    # The index's own UTC values, not a copy (pandas deprecates `.values` for aware indexes).
    return times.tz_convert(None).to_numpy()


def _days(span: np.timedelta64 | timedelta) -> float:
    return float(np.timedelta64(span) / ONE_DAY)


def _closed_trades(trades: Sequence[Trade]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pnl, return_pct and duration in hours of each closed trade, as arrays."""
    closed = [t for t in trades if not t.is_open]
    count = len(closed)
    # map and attrgetter keep the per-trade work in C: half the time of a comprehension.
    pnl = np.fromiter(map(attrgetter("pnl"), closed), np.float64, count)
    return_pct = np.fromiter(map(attrgetter("return_pct"), closed), np.float64, count)
    spans = map(sub, map(attrgetter("exit_time"), closed), map(attrgetter("entry_time"), closed))
    seconds = np.fromiter(map(timedelta.total_seconds, spans), np.float64, count)
    return pnl, return_pct, seconds / SECONDS_PER_HOUR


def _trade_figures(pnl: np.ndarray, return_pct: np.ndarray, hours: np.ndarray) -> Figures:
    # A break-even trade is neither a win nor a loss (it ends both streaks) but it counts
    # in the win rate's total: it was a trade that did not win.
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    return {
        "trade_count": len(pnl),
        "win_rate_pct": len(wins) / len(pnl) * 100 if len(pnl) else None,
        # With no losses the factor is infinite, not a number to print.
        "profit_factor": float(wins.sum() / -losses.sum()) if len(losses) else None,
        "expectancy": _mean(pnl),
        "expectancy_pct": _mean(return_pct),
        "avg_win": _mean(wins),
        "avg_loss": _mean(losses),
        "best_trade_pct": float(return_pct.max()) if len(return_pct) else None,
        "worst_trade_pct": float(return_pct.min()) if len(return_pct) else None,
        "avg_trade_duration_hours": _mean(hours),
        "max_trade_duration_hours": float(hours.max()) if len(hours) else None,
    }


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None


def _longest_run(flags: np.ndarray) -> int:
    """The most True values in a row."""
    if not flags.any():
        return 0
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.view(np.int8), [0]))))
    return int((edges[1::2] - edges[::2]).max())
