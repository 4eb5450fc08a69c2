"""Mean reversion on Bollinger bands: buy below the lower band, sell back at the middle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from bots.strategies.base import Strategy, with_signals
from bots.strategies.params import Parameter
from bots.strategies.registry import register
from bots.strategies.wording import number
from marketdata import indicators


@register
class BollingerReversion(Strategy):
    name = "bollinger_reversion"
    title = "Bollinger band mean reversion"
    description = (
        "Buys when a candle closes below the lower Bollinger band and sells when the close "
        "is back at or above the middle band (the moving average)."
    )
    parameters = (
        Parameter("period", "int", 20, minimum=2, maximum=100, step=2,
                  help="Bars in the moving average and standard deviation."),
        Parameter("deviations", "float", 2.0, minimum=0.5, maximum=4, step=0.5,
                  help="Band distance from the middle, in standard deviations."),
    )

    def warmup(self) -> int:
        return self.params["period"]

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        close = candles["close"]
        bands = indicators.bollinger(close, self.params["period"], self.params["deviations"])
        return with_signals(
            candles,
            {"bb_lower": bands["lower"], "bb_middle": bands["middle"], "bb_upper": bands["upper"]},
            enter_long=close < bands["lower"],
            exit_long=close >= bands["middle"],
        )

    def entry_reason(self, bar: Mapping[str, Any]) -> str:
        return (
            f"close {number(bar['close'])} is below the lower Bollinger band "
            f"{number(bar['bb_lower'])} ({self._bands()})"
        )

    def exit_reason(self, bar: Mapping[str, Any]) -> str:
        return (
            f"close {number(bar['close'])} is back at the middle Bollinger band "
            f"{number(bar['bb_middle'])} ({self._bands()})"
        )

    def _bands(self) -> str:
        return f"{self.params['period']} bars, {number(self.params['deviations'])} std"
