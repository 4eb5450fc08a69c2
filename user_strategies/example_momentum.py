"""Example user strategy: buy strong momentum in an uptrend, sell when momentum fades.

Copy this file, rename the class and its ``name``, and change ``prepare``. See README.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from bots.strategies import Parameter, Strategy, register, with_signals
from bots.strategies.wording import number
from marketdata import indicators


@register
class ExampleMomentum(Strategy):
    name = "example_momentum"
    title = "Momentum (example)"
    description = (
        "Buys when the close has risen more than min_gain_pct over the last period bars and "
        "is above its trend_period SMA; sells when the gain over period bars turns negative."
    )
    parameters = (
        Parameter("period", "int", 12, minimum=2, maximum=100, step=2,
                  help="Bars over which the gain is measured."),
        Parameter("min_gain_pct", "float", 3.0, minimum=0.1, maximum=50, step=0.5,
                  help="Percent gain over period bars needed to buy."),
        Parameter("trend_period", "int", 50, minimum=2, maximum=400, step=10,
                  help="Bars in the SMA that the close must be above to buy."),
    )

    @classmethod
    def check(cls, params: Mapping[str, Any]) -> dict[str, str]:
        if params["trend_period"] <= params["period"]:
            return {"trend_period": "trend_period must be longer than period"}
        return {}

    def warmup(self) -> int:
        # gain needs period+1 rows; the SMA trend_period rows (longer, by check()).
        return self.params["trend_period"]

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        close = candles["close"]
        # shift() looks back only: row i uses the close `period` rows earlier, never later.
        gain_pct = (close / close.shift(self.params["period"]) - 1.0) * 100.0
        trend = indicators.sma(close, self.params["trend_period"])
        return with_signals(
            candles,
            {"gain_pct": gain_pct, "trend": trend},
            enter_long=(gain_pct > self.params["min_gain_pct"]) & (close > trend),
            exit_long=gain_pct < 0.0,
        )

    def entry_reason(self, bar: Mapping[str, Any]) -> str:
        return (
            f"up {bar['gain_pct']:.2f}% over {self.params['period']} bars and the close "
            f"{number(bar['close'])} is above SMA({self.params['trend_period']}) "
            f"{number(bar['trend'])}"
        )

    def exit_reason(self, bar: Mapping[str, Any]) -> str:
        return f"down {-bar['gain_pct']:.2f}% over {self.params['period']} bars"
