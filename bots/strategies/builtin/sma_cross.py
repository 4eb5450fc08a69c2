"""Trend following with simple moving averages."""

from __future__ import annotations

from bots.strategies.builtin._ma_cross import MovingAverageCross
from bots.strategies.registry import register
from marketdata import indicators


@register
class SmaCross(MovingAverageCross):
    name = "sma_cross"
    title = "SMA crossover"
    description = (
        "Buys when the fast simple moving average of the close crosses above the slow one "
        "and sells when it crosses back below."
    )
    label = "SMA"
    average = staticmethod(indicators.sma)
