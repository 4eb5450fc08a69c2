"""Vectorised helpers for ``prepare()``: crossings, and how long recursive averages take to
forget their seed. Row i only ever uses rows <= i."""

from __future__ import annotations

import math

import pandas as pd

# Recursive averages (EMA, Wilder) keep a trace of the value they were seeded with. After this
# many extra bars that trace is below 1e-10 of the seed error, so a live window that starts
# later than the backtest's full history gives the same indicator values to ~1e-10.
SEED_INFLUENCE = 1e-10
PRICE_ROUNDING = 1e-9


def crossed_above(
    a: pd.Series, b: pd.Series | float, tolerance: pd.Series | float = 0.0
) -> pd.Series:
    """True on the bar where ``a`` rises above ``b`` (by more than ``tolerance``) having been
    at or below it (within ``tolerance``) the bar before."""
    difference = a - b
    return (difference > tolerance) & (difference.shift(1) <= _previous(tolerance))


def crossed_below(
    a: pd.Series, b: pd.Series | float, tolerance: pd.Series | float = 0.0
) -> pd.Series:
    """True on the bar where ``a`` falls below ``b`` (by more than ``tolerance``) having been
    at or above it (within ``tolerance``) the bar before."""
    difference = a - b
    return (difference < -tolerance) & (difference.shift(1) >= -_previous(tolerance))


def _previous(tolerance: pd.Series | float) -> pd.Series | float:
    return tolerance.shift(1) if isinstance(tolerance, pd.Series) else tolerance


def rounding_floor(close: pd.Series) -> pd.Series:
    """A tolerance for comparing two averages of ``close``.

    Averages that are equal in exact arithmetic (a flat market: EMA 10 and EMA 20 both at
    the price, MACD and its signal both at 0) differ in their last bits, because the
    indicators are computed block-wise, so they would "cross" on rounding noise. A billionth
    of the price is far above that noise (~1e-15) and far below any real move.
    """
    return close.abs() * PRICE_ROUNDING


def settling_bars(alpha: float) -> int:
    """Bars after which a recursive average with smoothing ``alpha`` has forgotten its seed."""
    if alpha >= 1.0:
        return 0  # no memory at all (an EMA of period 1)
    return math.ceil(math.log(SEED_INFLUENCE) / math.log(1.0 - alpha))


def ema_settling_bars(n: int) -> int:
    return settling_bars(2.0 / (n + 1))


def wilder_settling_bars(n: int) -> int:
    return settling_bars(1.0 / n)
