"""Trend following with exponential moving averages."""

from __future__ import annotations

from bots.strategies.builtin._ma_cross import MovingAverageCross
from bots.strategies.registry import register
from bots.strategies.signals import ema_settling_bars
from marketdata import indicators


@register
class EmaCross(MovingAverageCross):
    name = "ema_cross"
    title = "EMA crossover"
    description = (
        "Buys when the fast exponential moving average of the close crosses above the slow "
        "one and sells when it crosses back below. Reacts faster than the SMA version."
    )
    label = "EMA"
    average = staticmethod(indicators.ema)

    def lookback(self) -> int:
        return self.warmup() + ema_settling_bars(self.params["slow"])
