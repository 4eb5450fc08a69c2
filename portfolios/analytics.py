"""Portfolio analytics, pure Python: the live portfolio pages and the backtester share it.

Inputs are an equity curve (`EquityPoint`s in strictly increasing time order) and closed trades
(`TradeResult`s). Conventions:

- Money is `Decimal`. Sums and differences of inputs are exact; derived amounts (averages,
  quantity x price) are rounded to 8 decimal places, Binance's finest precision.
- Fractions (drawdown, win rate, share of equity) are `Decimal`s rounded to 6 places, where
  0.1 means 10%. `pnl_pct` in `summary` is the one figure in percent, as its name says.
- Sharpe, Sortino and the profit factor are `Decimal`s rounded to 4 places. The statistics
  behind them are computed in float.
- Ratios that cannot be computed are `None`, never 0: a 0 would read as "no edge" where the
  truth is "not enough information" or "no losses at all".
- Times are aware UTC datetimes; anything else is refused with a ValueError.
- The curve should be net of deposits and withdrawals (or the caller adjusts it): a deposit
  would count as a gain.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Drawdown",
    "DrawdownPoint",
    "EquityPoint",
    "Exposure",
    "TradeResult",
    "TradeStats",
    "drawdown_series",
    "exposure_by_asset",
    "infer_periods_per_year",
    "max_drawdown",
    "returns",
    "sharpe",
    "sharpe_ratio",
    "sortino",
    "sortino_ratio",
    "summary",
    "trade_stats",
]

ZERO = Decimal("0")
EIGHT_DP = Decimal("0.00000001")
FRACTION = Decimal("0.000001")
RATIO = Decimal("0.0001")
PERCENT = Decimal("0.0001")
# Crypto trades around the clock: a year is 365 days of periods, not 252 trading days.
SECONDS_PER_YEAR = 365 * 24 * 60 * 60
# Below this a deviation is float noise from a curve that did not vary (e.g. a flat curve).
NO_DEVIATION = 1e-12


def _require_utc(when: datetime, name: str) -> None:
    if when.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be an aware UTC datetime, got {when!r}")


def _require_decimal(value: Any, name: str) -> None:
    if not isinstance(value, Decimal):
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__} {value!r}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class _Reported:
    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-friendly dict: Decimals as strings, datetimes in ISO 8601."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class EquityPoint:
    """The portfolio's total value (in its quote asset) at one moment."""

    at: datetime
    equity: Decimal

    def __post_init__(self) -> None:
        _require_utc(self.at, "EquityPoint.at")
        _require_decimal(self.equity, "EquityPoint.equity")


@dataclass(frozen=True)
class TradeResult:
    """A closed trade or position reduction: realised `pnl` already net of `fees`."""

    closed_at: datetime
    pnl: Decimal
    fees: Decimal

    def __post_init__(self) -> None:
        _require_utc(self.closed_at, "TradeResult.closed_at")
        _require_decimal(self.pnl, "TradeResult.pnl")
        _require_decimal(self.fees, "TradeResult.fees")


@dataclass(frozen=True)
class Drawdown(_Reported):
    """A fall from a peak: `fraction` of the peak lost (0.1 = 10%) and the `amount` lost."""

    fraction: Decimal
    amount: Decimal
    peak_at: datetime
    trough_at: datetime
    recovered_at: datetime | None


@dataclass(frozen=True)
class DrawdownPoint(_Reported):
    """How far below its running peak the curve stands at `at` (0 at a new high)."""

    at: datetime
    fraction: Decimal
    amount: Decimal


@dataclass(frozen=True)
class TradeStats(_Reported):
    count: int
    wins: int
    losses: int
    win_rate: Decimal | None
    profit_factor: Decimal | None
    average_win: Decimal | None
    average_loss: Decimal | None
    expectancy: Decimal | None
    largest_win: Decimal | None
    largest_loss: Decimal | None
    total_pnl: Decimal
    total_fees: Decimal


@dataclass(frozen=True)
class Exposure(_Reported):
    asset: str
    quantity: Decimal
    price: Decimal
    value: Decimal
    fraction: Decimal | None


def _curve(points: Iterable[EquityPoint]) -> list[EquityPoint]:
    curve = list(points)
    for before, after in pairwise(curve):
        if after.at <= before.at:
            raise ValueError(
                f"equity points must be in strictly increasing time order: {after.at.isoformat()}"
                f" follows {before.at.isoformat()}"
            )
    return curve


def _ratio(value: float, places: Decimal = RATIO) -> Decimal | None:
    return Decimal(value).quantize(places) if math.isfinite(value) else None


def returns(points: Iterable[EquityPoint]) -> pd.Series:
    """Simple period returns of the equity curve: `equity[i] / equity[i-1] - 1`.

    A float Series indexed by the end time of each period. A period that starts at zero or
    negative equity has no defined return and is left out (no division by zero, no sign-flipped
    "gains"); a period that ends below zero keeps its return below -1, the loss it was.
    """
    curve = _curve(points)
    pairs = [(b, a) for b, a in pairwise(curve) if b.equity > 0]
    values = [float(a.equity / b.equity - 1) for b, a in pairs]
    index = pd.DatetimeIndex([a.at for _, a in pairs], tz="UTC")
    return pd.Series(values, index=index, dtype="float64", name="return")


def infer_periods_per_year(points: Iterable[EquityPoint]) -> float | None:
    """365 days divided by the median spacing of the points (hourly -> 8760, daily -> 365).

    The median so that a gap in the snapshots (a restart, an outage) does not change the scale.
    None with fewer than 2 points.
    """
    curve = _curve(points)
    if len(curve) < 2:
        return None
    spacing = statistics.median(
        (a.at - b.at).total_seconds() for b, a in pairwise(curve)
    )
    return SECONDS_PER_YEAR / spacing


def sharpe_ratio(period_returns: np.ndarray, periods_per_year: float) -> float | None:
    """`mean(x) / std(x) * sqrt(periods_per_year)` of per-period returns `x`, as a float.

    The array-level Sharpe that `sharpe` and the backtester share: `x` is already less any
    risk-free rate; `std` is the sample standard deviation (ddof=1). None with fewer than 2
    returns (the sample deviation needs two) or when they do not vary (the ratio would be
    infinite, or 0/0 on a flat curve): not 0, which would claim a measured absence of edge.
    """
    if len(period_returns) < 2:
        return None
    deviation = float(np.std(period_returns, ddof=1))
    if deviation < NO_DEVIATION:
        return None
    return _finite(float(np.mean(period_returns)) / deviation * math.sqrt(periods_per_year))


def sortino_ratio(period_returns: np.ndarray, periods_per_year: float) -> float | None:
    """`mean(x) / sqrt(mean(min(x, 0) ** 2)) * sqrt(periods_per_year)`, as a float.

    The array-level Sortino that `sortino` and the backtester share. The downside deviation
    has target 0 and is taken over all periods, the gains counting as 0. None with fewer
    than 2 returns (as `sharpe_ratio`, so that both appear together) or with no downside.
    """
    if len(period_returns) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(period_returns, 0.0) ** 2)))
    if downside < NO_DEVIATION:
        return None
    return _finite(float(np.mean(period_returns)) / downside * math.sqrt(periods_per_year))


def _finite(value: float) -> float | None:
    # A NaN in the curve would otherwise surface as a NaN "ratio".
    return value if math.isfinite(value) else None


def _excess_returns(
    points: Iterable[EquityPoint], periods_per_year: float | None, risk_free_rate: Decimal | float
) -> tuple[np.ndarray, float] | None:
    curve = _curve(points)
    period_returns = returns(curve).to_numpy()
    if len(period_returns) < 2:
        return None
    per_year = infer_periods_per_year(curve) if periods_per_year is None else periods_per_year
    if per_year is None or per_year <= 0:
        raise ValueError(f"periods_per_year must be positive, got {periods_per_year!r}")
    risk_free_per_period = (1 + float(risk_free_rate)) ** (1 / per_year) - 1
    return period_returns - risk_free_per_period, per_year


def sharpe(
    points: Iterable[EquityPoint],
    *,
    periods_per_year: float | None = None,
    risk_free_rate: Decimal | float = 0,
) -> Decimal | None:
    """Annualised Sharpe ratio: `mean(x) / std(x) * sqrt(periods_per_year)`.

    `x` is the `returns` series less the risk-free rate per period, `(1 + risk_free_rate) **
    (1 / periods_per_year) - 1` (`risk_free_rate` is annual, 0.05 = 5%); `std` is the sample
    standard deviation (ddof=1). `periods_per_year` defaults to `infer_periods_per_year`.

    None with fewer than 2 returns or when they do not vary, as `sharpe_ratio` explains.
    """
    excess = _excess_returns(points, periods_per_year, risk_free_rate)
    ratio = None if excess is None else sharpe_ratio(*excess)
    return None if ratio is None else _ratio(ratio)


def sortino(
    points: Iterable[EquityPoint],
    *,
    periods_per_year: float | None = None,
    risk_free_rate: Decimal | float = 0,
) -> Decimal | None:
    """Annualised Sortino ratio: `mean(x) / sqrt(mean(min(x, 0) ** 2)) * sqrt(periods_per_year)`.

    `x` and `periods_per_year` as in `sharpe`. The downside deviation has target 0 on the excess
    returns (so the risk-free rate is the target) and averages over all periods, the gains
    counting as 0.

    None with fewer than 2 returns (as `sharpe`, so that both appear together) or with no
    period below the target (no downside: the ratio would be infinite).
    """
    excess = _excess_returns(points, periods_per_year, risk_free_rate)
    ratio = None if excess is None else sortino_ratio(*excess)
    return None if ratio is None else _ratio(ratio)


def _underwater(curve: Sequence[EquityPoint]) -> list[tuple[EquityPoint, EquityPoint]]:
    """Each point with the running peak it stands under (itself at a new or equal high)."""
    pairs = []
    peak = None
    for point in curve:
        if peak is None or point.equity >= peak.equity:
            peak = point
        pairs.append((peak, point))
    return pairs


def _fall(peak: EquityPoint, point: EquityPoint) -> tuple[Decimal, Decimal]:
    amount = peak.equity - point.equity
    # Below a non-positive peak there was nothing to lose as a fraction; the amount still shows.
    fraction = (amount / peak.equity).quantize(FRACTION) if peak.equity > 0 else ZERO
    return fraction, amount


def drawdown_series(points: Iterable[EquityPoint]) -> list[DrawdownPoint]:
    """For each point, the fraction and amount below the highest equity so far (for a chart)."""
    return [
        DrawdownPoint(point.at, *_fall(peak, point))
        for peak, point in _underwater(_curve(points))
    ]


def max_drawdown(points: Iterable[EquityPoint]) -> Drawdown | None:
    """The largest fall from a running peak, by fraction of the peak (the first, on a tie).

    `amount` is that drawdown's fall, not necessarily the largest fall in money. `peak_at` is the
    last time the peak value was reached before the trough; `recovered_at` is the first point
    after the trough back at or above the peak, None while it has not recovered.

    None when the curve never falls below an earlier peak (no points, one point, a rising or
    flat curve): there is no peak and trough to name. `summary` reports that as 0.
    """
    curve = _curve(points)
    worst = None
    for index, (peak, point) in enumerate(_underwater(curve)):
        fall = _fall(peak, point)
        if fall[1] > 0 and (worst is None or fall > worst[0]):
            worst = (fall, peak, index)
    if worst is None:
        return None
    (fraction, amount), peak, trough_index = worst
    recovered_at = next(
        (p.at for p in curve[trough_index + 1:] if p.equity >= peak.equity), None
    )
    return Drawdown(fraction, amount, peak.at, curve[trough_index].at, recovered_at)


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    return (sum(values, ZERO) / len(values)).quantize(EIGHT_DP) if values else None


def trade_stats(trades: Iterable[TradeResult]) -> TradeStats:
    """Figures over closed trades, from their realised PnL net of fees.

    A win has pnl > 0, a loss pnl < 0; a break-even trade counts in `count` only. `win_rate` is
    wins / count. `profit_factor` is gross profit / gross loss (sum of winning pnl over the
    magnitude of the sum of losing pnl), None when there are no losses, 0 with losses and no
    wins. `average_loss` and `largest_loss` are negative (the losing trades' own pnl).
    `expectancy` is the mean pnl per trade (= total_pnl / count). Averages, rates and largest
    trades are None when there is nothing to take them over.
    """
    trades = list(trades)
    pnls = [t.pnl for t in trades]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_loss = -sum(losses, ZERO)
    return TradeStats(
        count=len(pnls),
        wins=len(wins),
        losses=len(losses),
        win_rate=(Decimal(len(wins)) / len(pnls)).quantize(FRACTION) if pnls else None,
        profit_factor=(sum(wins, ZERO) / gross_loss).quantize(RATIO) if losses else None,
        average_win=_mean(wins),
        average_loss=_mean(losses),
        expectancy=_mean(pnls),
        largest_win=max(wins, default=None),
        largest_loss=min(losses, default=None),
        total_pnl=sum(pnls, ZERO),
        total_fees=sum((t.fees for t in trades), ZERO),
    )


def exposure_by_asset(
    positions: Mapping[str, tuple[Decimal, Decimal]], *, equity: Decimal
) -> list[Exposure]:
    """Each asset's value (quantity x price, 8 dp) and its fraction of `equity`.

    Short positions (negative quantity) have negative value and fraction. Largest exposure
    first, by absolute value, then by asset name. `fraction` is None when equity is not
    positive (a share of nothing is meaningless).
    """
    _require_decimal(equity, "equity")
    exposures = []
    for asset, (quantity, price) in positions.items():
        _require_decimal(quantity, f"{asset} quantity")
        _require_decimal(price, f"{asset} price")
        value = (quantity * price).quantize(EIGHT_DP)
        fraction = (value / equity).quantize(FRACTION) if equity > 0 else None
        exposures.append(Exposure(asset, quantity, price, value, fraction))
    return sorted(exposures, key=lambda e: (-abs(e.value), e.asset))


def summary(
    points: Iterable[EquityPoint],
    trades: Iterable[TradeResult],
    *,
    starting_equity: Decimal | None = None,
) -> dict[str, Any]:
    """The headline figures as one JSON-friendly dict (Decimals as strings, ISO datetimes).

    `value` is the last equity; `pnl` is value - starting equity, where the starting equity is
    `starting_equity` if given (e.g. a backtest's capital) else the first point's equity;
    `pnl_pct` is pnl as a percent of it ("12.5" = +12.5%), None unless it is positive.
    `sharpe`, `sortino` (risk-free rate 0, inferred periods per year, both reported) and
    `max_drawdown` come from the curve alone; `max_drawdown` is "0" for a curve with points that
    never falls. Trade figures are as in `trade_stats`; `realised_pnl` is their total.
    """
    curve = _curve(points)
    stats = trade_stats(trades)
    if starting_equity is not None:
        _require_decimal(starting_equity, "starting_equity")
    start = starting_equity if starting_equity is not None else (
        curve[0].equity if curve else None
    )
    value = curve[-1].equity if curve else None
    pnl = value - start if value is not None and start is not None else None
    drawdown = max_drawdown(curve)
    figures = {
        "start_at": curve[0].at if curve else None,
        "end_at": curve[-1].at if curve else None,
        "starting_equity": start,
        "value": value,
        "pnl": pnl,
        "pnl_pct": (pnl * 100 / start).quantize(PERCENT) if pnl is not None and start > 0 else None,
        "periods_per_year": infer_periods_per_year(curve),
        "sharpe": sharpe(curve),
        "sortino": sortino(curve),
        "max_drawdown": drawdown.fraction if drawdown else (ZERO if curve else None),
        "max_drawdown_amount": drawdown.amount if drawdown else (ZERO if curve else None),
        "trade_count": stats.count,
        "win_rate": stats.win_rate,
        "profit_factor": stats.profit_factor,
        "expectancy": stats.expectancy,
        "realised_pnl": stats.total_pnl,
        "total_fees": stats.total_fees,
    }
    return {name: _jsonable(figure) for name, figure in figures.items()}
