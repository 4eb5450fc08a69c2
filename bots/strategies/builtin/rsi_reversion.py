"""Mean reversion on RSI: buy the bounce out of oversold, sell once overbought."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from bots.strategies.base import Strategy, with_signals
from bots.strategies.params import Parameter
from bots.strategies.registry import register
from bots.strategies.signals import crossed_above, wilder_settling_bars
from bots.strategies.wording import number
from marketdata import indicators


@register
class RsiReversion(Strategy):
    name = "rsi_reversion"
    title = "RSI mean reversion"
    description = (
        "Buys when the RSI crosses up through the oversold level (the bounce, not the fall; "
        "or, with entry_rule 'below', on any close with the RSI below it) and sells when it "
        "rises above the overbought level."
    )
    parameters = (
        Parameter("period", "int", 14, minimum=2, maximum=50, step=2,
                  help="Bars in the RSI (Wilder smoothing)."),
        Parameter("oversold", "float", 30.0, minimum=1, maximum=50, step=5,
                  help="Buy when the RSI crosses up through this level."),
        Parameter("overbought", "float", 70.0, minimum=50, maximum=99, step=5,
                  help="Sell when the RSI is above this level."),
        Parameter("entry_rule", "choice", "cross", choices=("cross", "below"),
                  help="cross: buy when the RSI crosses up through oversold; below: buy "
                       "while it is below oversold (the textbook rule, which buys the fall)."),
    )

    @classmethod
    def check(cls, params: Mapping[str, Any]) -> dict[str, str]:
        if params["oversold"] >= params["overbought"]:
            return {"oversold": "oversold must be below overbought"}
        return {}

    def warmup(self) -> int:
        # The first RSI is at row `period`; the cross compares it with the row before.
        return self.params["period"] + 2

    def lookback(self) -> int:
        return self.warmup() + wilder_settling_bars(self.params["period"])

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        rsi = indicators.rsi(candles["close"], self.params["period"])
        return with_signals(
            candles,
            {"rsi": rsi},
            enter_long=self._entries(rsi),
            exit_long=rsi > self.params["overbought"],
        )

    def _entries(self, rsi: pd.Series) -> pd.Series:
        if self.params["entry_rule"] == "below":
            return rsi < self.params["oversold"]
        return crossed_above(rsi, self.params["oversold"])

    def entry_reason(self, bar: Mapping[str, Any]) -> str:
        period, level = self.params["period"], number(self.params["oversold"])
        how = "is below" if self.params["entry_rule"] == "below" else "crossed up through"
        return f"RSI({period}) {number(bar['rsi'])} {how} the oversold level {level}"

    def exit_reason(self, bar: Mapping[str, Any]) -> str:
        period, level = self.params["period"], number(self.params["overbought"])
        return f"RSI({period}) {number(bar['rsi'])} is above the overbought level {level}"
