"""Dollar-cost averaging with a safety-order ladder and a take profit on the average price."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pandas as pd

from bots.strategies.base import EXIT_PARAMETERS, Strategy, with_signals
from bots.strategies.context import HUNDRED, ONE, Action, Context, Intent
from bots.strategies.params import Parameter
from bots.strategies.registry import register
from bots.strategies.wording import number, percent

TAKE_PROFIT = next(p for p in EXIT_PARAMETERS if p.name == "take_profit_pct")


@register
class Dca(Strategy):
    """State (``ctx.state``): ``cycle_price`` (close of the cycle's first buy, as a string),
    ``bars_since_buy`` and ``safety_orders`` (placed so far this cycle). A cycle starts with
    a buy whenever the bot is flat and ends when the position is sold."""

    name = "dca"
    title = "DCA with safety orders"
    description = (
        "Buys a fixed quote amount every interval_bars bars. When the price falls "
        "safety_step_pct, 2x that, 3x that... below the cycle's first buy it buys more (a "
        "safety order), each one safety_multiplier times larger than the one before, up to "
        "max_safety_orders. Sells everything take_profit_pct above the average price, then "
        "starts over."
    )
    parameters = (
        Parameter("quote_amount", "decimal", Decimal(100), minimum=Decimal("0.00000001"),
                  help="Quote currency spent on the first and each scheduled buy."),
        Parameter("interval_bars", "int", 24, minimum=1, maximum=100_000,
                  help="Bars between scheduled buys."),
        Parameter("safety_step_pct", "decimal", Decimal(2), minimum=Decimal("0.1"),
                  maximum=50, step=Decimal("0.5"),
                  help="Percent drop below the cycle's first buy between safety orders."),
        Parameter("safety_multiplier", "decimal", Decimal("1.5"), minimum=1, maximum=5,
                  step=Decimal("0.25"),
                  help="Safety order n spends quote_amount times this to the power n."),
        Parameter("max_safety_orders", "int", 3, minimum=0, maximum=20, step=1,
                  help="Safety orders per cycle at most."),
        Parameter("take_profit_pct", "decimal", Decimal("1.5"), minimum=0, maximum=1000,
                  help=TAKE_PROFIT.help),
    )

    @classmethod
    def check(cls, params: Mapping[str, Any]) -> dict[str, str]:
        deepest = params["safety_step_pct"] * params["max_safety_orders"]
        if deepest >= HUNDRED:
            return {"max_safety_orders": "the deepest safety order would be at or below 0 "
                                         "(safety_step_pct x max_safety_orders must be under 100)"}
        return {}

    def warmup(self) -> int:
        return 1

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        return with_signals(candles, {}, enter_long=False, exit_long=False)

    def on_bar(self, ctx: Context) -> list[Action]:
        exit_now = self.protective_exit(ctx)
        if exit_now is not None:
            ctx.state.clear()  # the cycle ends with the position
            return [exit_now]
        if ctx.position.is_flat:
            return [self._start_cycle(ctx)]
        if "cycle_price" not in ctx.state:
            # A position we did not open (state lost, or adopted): ladder from its average.
            self._reset(ctx.state, ctx.position.average_price)
        return self._scheduled_buy(ctx) + self._safety_orders(ctx)

    def safety_level(self, cycle_price: Decimal, nth: int) -> Decimal:
        return cycle_price * (ONE - nth * self.params["safety_step_pct"] / HUNDRED)

    def safety_amount(self, nth: int) -> Decimal:
        return self.params["quote_amount"] * self.params["safety_multiplier"] ** nth

    def _reset(self, state: dict[str, Any], cycle_price: Decimal) -> None:
        state.clear()
        state.update(cycle_price=str(cycle_price), bars_since_buy=0, safety_orders=0)

    def _start_cycle(self, ctx: Context) -> Intent:
        close = ctx.price()
        self._reset(ctx.state, close)
        return Intent(
            side="buy",
            quote_amount=self.params["quote_amount"],
            tag="entry",
            reason=f"first buy of a DCA cycle at {number(close)}",
        )

    def _scheduled_buy(self, ctx: Context) -> list[Action]:
        ctx.state["bars_since_buy"] += 1
        interval = self.params["interval_bars"]
        if ctx.state["bars_since_buy"] < interval:
            return []
        ctx.state["bars_since_buy"] = 0
        return [Intent(
            side="buy",
            quote_amount=self.params["quote_amount"],
            tag="scheduled",
            reason=f"scheduled buy at {number(ctx.price())}, {interval} bars after the last one",
        )]

    def _safety_orders(self, ctx: Context) -> list[Action]:
        # A bar that falls through several levels places all of them, as resting orders
        # at those levels would have filled.
        cycle_price, close = Decimal(ctx.state["cycle_price"]), ctx.price()
        orders: list[Action] = []
        placed = ctx.state["safety_orders"]
        while placed < self.params["max_safety_orders"]:
            level = self.safety_level(cycle_price, placed + 1)
            if close > level:
                break
            placed += 1
            orders.append(self._safety_intent(placed, close, level, cycle_price))
        ctx.state["safety_orders"] = placed
        return orders

    def _safety_intent(
        self, nth: int, close: Decimal, level: Decimal, cycle_price: Decimal
    ) -> Intent:
        drop = percent(nth * self.params["safety_step_pct"])
        return Intent(
            side="buy",
            quote_amount=self.safety_amount(nth),
            tag=f"safety-{nth}",
            reason=(
                f"safety order {nth}: close {number(close)} is at or below {number(level)}, "
                f"{drop} under the cycle's first buy at {number(cycle_price)}"
            ),
        )
