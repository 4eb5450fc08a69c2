"""Breakout (turtle style): buy a close above the prior N-bar high, sell below the M-bar low."""

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
class DonchianBreakout(Strategy):
    name = "donchian_breakout"
    title = "Donchian channel breakout"
    description = (
        "Buys when the close breaks above the highest high of the previous entry_period "
        "bars and sells when it breaks below the lowest low of the previous exit_period bars."
    )
    parameters = (
        Parameter("entry_period", "int", 20, minimum=2, maximum=100, step=2,
                  help="Bars whose highest high the close must beat to buy."),
        Parameter("exit_period", "int", 10, minimum=2, maximum=100, step=2,
                  help="Bars whose lowest low the close must break to sell."),
    )

    def warmup(self) -> int:
        # The channel of the *previous* bars: first complete at row period, not period-1.
        return max(self.params["entry_period"], self.params["exit_period"]) + 1

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        high, low, close = candles["high"], candles["low"], candles["close"]
        entry_high = indicators.donchian(high, low, self.params["entry_period"])["upper"]
        exit_low = indicators.donchian(high, low, self.params["exit_period"])["lower"]
        # shift(1): the current bar is compared with the channel before it, never itself.
        entry_high, exit_low = entry_high.shift(1), exit_low.shift(1)
        return with_signals(
            candles,
            {"entry_high": entry_high, "exit_low": exit_low},
            enter_long=close > entry_high,
            exit_long=close < exit_low,
        )

    def entry_reason(self, bar: Mapping[str, Any]) -> str:
        return (
            f"close {number(bar['close'])} broke above the {self.params['entry_period']}-bar "
            f"high {number(bar['entry_high'])}"
        )

    def exit_reason(self, bar: Mapping[str, Any]) -> str:
        return (
            f"close {number(bar['close'])} broke below the {self.params['exit_period']}-bar "
            f"low {number(bar['exit_low'])}"
        )
