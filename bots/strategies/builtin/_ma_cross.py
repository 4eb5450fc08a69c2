"""Shared by sma_cross and ema_cross: enter when the fast average crosses above the slow one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pandas as pd

from bots.strategies.base import Strategy, with_signals
from bots.strategies.params import Parameter, fast_below_slow
from bots.strategies.signals import crossed_above, crossed_below, rounding_floor
from bots.strategies.wording import number

FAST = Parameter("fast", "int", 10, minimum=2, maximum=100, step=2,
                 help="Bars in the fast moving average.")
SLOW = Parameter("slow", "int", 30, minimum=3, maximum=300, step=3,
                 help="Bars in the slow moving average; must be more than fast.")


class MovingAverageCross(Strategy):
    label: ClassVar[str]  # "SMA", also the column prefix in lower case
    average: ClassVar[Callable[[pd.Series, int], pd.Series]]
    parameters = (FAST, SLOW)

    @classmethod
    def check(cls, params: Mapping[str, Any]) -> dict[str, str]:
        return fast_below_slow(params)

    def warmup(self) -> int:
        # The slow average's first value is at row slow-1; a cross also needs the row before.
        return self.params["slow"] + 1

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        close = candles["close"]
        fast = type(self).average(close, self.params["fast"])
        slow = type(self).average(close, self.params["slow"])
        prefix, floor = self.label.lower(), rounding_floor(close)
        return with_signals(
            candles,
            {f"{prefix}_fast": fast, f"{prefix}_slow": slow},
            enter_long=crossed_above(fast, slow, floor),
            exit_long=crossed_below(fast, slow, floor),
        )

    def entry_reason(self, bar: Mapping[str, Any]) -> str:
        return self._cross_reason(bar, "above")

    def exit_reason(self, bar: Mapping[str, Any]) -> str:
        return self._cross_reason(bar, "below")

    def _cross_reason(self, bar: Mapping[str, Any], direction: str) -> str:
        prefix, label = self.label.lower(), self.label
        fast, slow = self.params["fast"], self.params["slow"]
        return (
            f"{label}({fast}) {number(bar[f'{prefix}_fast'])} crossed {direction} "
            f"{label}({slow}) {number(bar[f'{prefix}_slow'])}"
        )
