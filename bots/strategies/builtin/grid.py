"""Grid trading: resting limit buys below the price and sells above it, at fixed levels."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from bots.strategies.base import Strategy, with_signals
from bots.strategies.context import Action, Cancel, Context, Intent, Side
from bots.strategies.params import Parameter
from bots.strategies.registry import register
from bots.strategies.wording import number

TAG_PREFIX = "grid-"
SETUP_TAG = "grid-setup"


def level_tag(index: int) -> str:
    return f"{TAG_PREFIX}{index}"


def level_of(tag: str) -> int | None:
    suffix = tag.removeprefix(TAG_PREFIX)
    return int(suffix) if tag.startswith(TAG_PREFIX) and suffix.isdigit() else None


@register
class Grid(Strategy):
    """Each level holds at most one order, tagged ``grid-<level>`` (0 = lower_price), and one
    level, the *empty* one, holds none: buys rest below it, sells above it. A filled buy
    moves the empty level down one (its sell goes one level up); a filled sell moves it up.

    State (``ctx.state``): ``empty_level`` and ``resting`` ({tag: side} placed last bar). An
    order in ``resting`` that is no longer among ``ctx.open_orders`` is taken as filled, so
    the caller must list every resting order of the bot, and must not cancel grid orders
    behind the strategy's back.
    """

    name = "grid"
    title = "Grid"
    description = (
        "Splits lower_price..upper_price into evenly spaced levels and keeps a limit buy at "
        "each level below the price and a limit sell at each level above it, order_quantity "
        "each. When a buy fills, a sell goes one level up; when a sell fills, a buy goes one "
        "level down. At the start it buys the quantity the sells need at market."
    )
    parameters = (
        Parameter("lower_price", "decimal", minimum=Decimal("0.00000001"),
                  help="Price of the lowest level."),
        Parameter("upper_price", "decimal", minimum=Decimal("0.00000001"),
                  help="Price of the highest level."),
        Parameter("levels", "int", 10, minimum=3, maximum=200, step=1,
                  help="Number of price levels, both ends included."),
        Parameter("order_quantity", "decimal", minimum=Decimal("0.00000001"),
                  help="Base asset quantity of every grid order."),
    )

    @classmethod
    def check(cls, params: Mapping[str, Any]) -> dict[str, str]:
        if params["lower_price"] >= params["upper_price"]:
            return {"lower_price": "lower_price must be below upper_price"}
        return {}

    def warmup(self) -> int:
        return 1

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        return with_signals(candles, {}, enter_long=False, exit_long=False)

    def level_price(self, index: int) -> Decimal:
        lower, upper = self.params["lower_price"], self.params["upper_price"]
        return lower + (upper - lower) * index / (self.params["levels"] - 1)

    def nearest_level(self, price: Decimal) -> int:
        lower, upper = self.params["lower_price"], self.params["upper_price"]
        steps = (price - lower) * (self.params["levels"] - 1) / (upper - lower)
        return self._clamp(int(steps.to_integral_value(rounding=ROUND_HALF_UP)))

    def on_bar(self, ctx: Context) -> list[Action]:
        if ctx.state.get("stopped"):
            return []
        exit_now = self.protective_exit(ctx)
        if exit_now is not None:
            return self._stop(ctx, exit_now)
        if "empty_level" not in ctx.state:
            return self._set_up(ctx)
        return self._rebalance(ctx)

    def _set_up(self, ctx: Context) -> list[Action]:
        close = ctx.price()
        empty = self.nearest_level(close)
        sells = self.params["levels"] - 1 - empty
        actions: list[Action] = []
        if sells:
            actions.append(Intent(
                side="buy",
                quantity=self.params["order_quantity"] * sells,
                tag=SETUP_TAG,
                reason=f"grid set-up: buy what the {sells} sell levels above "
                       f"{number(close)} will sell",
            ))
        return actions + self._place_missing(ctx, empty, resting_now={})

    def _rebalance(self, ctx: Context) -> list[Action]:
        resting_now = {o.tag: o.side for o in ctx.open_orders if level_of(o.tag) is not None}
        gone = [side for tag, side in ctx.state["resting"].items() if resting_now.get(tag) != side]
        empty = self._clamp(ctx.state["empty_level"] - gone.count("buy") + gone.count("sell"))
        wanted = self._wanted(empty)
        cancels: list[Action] = [
            Cancel(tag, reason=f"grid level {level_of(tag)} should not hold a {side} now")
            for tag, side in resting_now.items()
            if wanted.get(tag) != side
        ]
        kept = {tag: side for tag, side in resting_now.items() if wanted.get(tag) == side}
        return cancels + self._place_missing(ctx, empty, kept)

    def _place_missing(
        self, ctx: Context, empty: int, resting_now: dict[str, Side]
    ) -> list[Action]:
        wanted = self._wanted(empty)
        ctx.state["empty_level"] = empty
        ctx.state["resting"] = wanted
        return [self._order(tag, side, empty) for tag, side in wanted.items()
                if resting_now.get(tag) != side]

    def _wanted(self, empty: int) -> dict[str, Side]:
        return {
            level_tag(index): "buy" if index < empty else "sell"
            for index in range(self.params["levels"])
            if index != empty
        }

    def _order(self, tag: str, side: Side, empty: int) -> Intent:
        index = int(tag.removeprefix(TAG_PREFIX))
        price = self.level_price(index)
        where = "below" if side == "buy" else "above"
        return Intent(
            side=side,
            order_type="limit",
            price=price,
            quantity=self.params["order_quantity"],
            tag=tag,
            reason=f"grid level {index} at {number(price)}: {side} {where} the empty level "
                   f"{empty} at {number(self.level_price(empty))}",
        )

    def _stop(self, ctx: Context, exit_now: Intent) -> list[Action]:
        cancels: list[Action] = [
            Cancel(order.tag, reason=f"grid stopped: {exit_now.tag.replace('_', ' ')}")
            for order in ctx.open_orders
            if level_of(order.tag) is not None
        ]
        ctx.state.clear()
        ctx.state["stopped"] = True  # a grid that hit its stop stays down until restarted
        return cancels + [exit_now]

    def _clamp(self, index: int) -> int:
        return min(max(index, 0), self.params["levels"] - 1)
