"""Trend following on MACD: in while the MACD line is above its signal line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from bots.strategies.base import Strategy, with_signals
from bots.strategies.params import Parameter, fast_below_slow
from bots.strategies.registry import register
from bots.strategies.signals import (
    crossed_above,
    crossed_below,
    ema_settling_bars,
    rounding_floor,
)
from bots.strategies.wording import number
from marketdata import indicators


@register
class MacdTrend(Strategy):
    name = "macd_trend"
    title = "MACD trend"
    description = (
        "Buys when the MACD line crosses above its signal line and sells when it crosses "
        "back below."
    )
    parameters = (
        Parameter("fast", "int", 12, minimum=2, maximum=50, step=2,
                  help="Bars in the fast EMA."),
        Parameter("slow", "int", 26, minimum=3, maximum=100, step=2,
                  help="Bars in the slow EMA; must be more than fast."),
        Parameter("signal", "int", 9, minimum=2, maximum=50, step=1,
                  help="Bars in the EMA of the MACD line (the signal line)."),
    )

    @classmethod
    def check(cls, params: Mapping[str, Any]) -> dict[str, str]:
        return fast_below_slow(params)

    def warmup(self) -> int:
        # TA-Lib's MACD starts at row slow+signal-2; a cross also needs the row before.
        return self.params["slow"] + self.params["signal"]

    def lookback(self) -> int:
        settle = ema_settling_bars(self.params["slow"]) + ema_settling_bars(self.params["signal"])
        return self.warmup() + settle

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        lines = indicators.macd(
            candles["close"], self.params["fast"], self.params["slow"], self.params["signal"]
        )
        macd, signal = lines["macd"], lines["signal"]
        floor = rounding_floor(candles["close"])
        return with_signals(
            candles,
            {"macd": macd, "macd_signal": signal, "macd_hist": lines["hist"]},
            enter_long=crossed_above(macd, signal, floor),
            exit_long=crossed_below(macd, signal, floor),
        )

    def entry_reason(self, bar: Mapping[str, Any]) -> str:
        return self._reason(bar, "above")

    def exit_reason(self, bar: Mapping[str, Any]) -> str:
        return self._reason(bar, "below")

    def _reason(self, bar: Mapping[str, Any], direction: str) -> str:
        settings = f"{self.params['fast']},{self.params['slow']},{self.params['signal']}"
        return (
            f"MACD({settings}) {number(bar['macd'])} crossed {direction} its signal line "
            f"{number(bar['macd_signal'])}"
        )
