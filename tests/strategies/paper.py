"""A deliberately simple bar-by-bar driver for tests: what a caller of on_bar has to do.

Market orders fill at the bar's close (protective exits at their trigger price); limit
orders rest and fill on a later bar whose range reaches their price. No fees, no rounding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal

import pandas as pd

from bots.strategies import Cancel, Context, Intent, OpenOrderView, PositionView, Strategy
from bots.strategies.context import as_decimal

DEFAULT_QUOTE = Decimal(100)


@dataclass
class Paper:
    strategy: Strategy
    quantity: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    highest: Decimal | None = None
    resting: dict[str, Intent] = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    actions: list[tuple[int, Intent | Cancel]] = field(default_factory=list)
    fills: list[tuple[int, str, Decimal, Decimal]] = field(default_factory=list)

    def run(self, candles: pd.DataFrame) -> Paper:
        for index, bar in enumerate(self.strategy.prepare(candles).to_dict("records")):
            self.step(index, bar)
        return self

    def step(self, index: int, bar: dict) -> list[Intent | Cancel]:
        self._fill_resting(index, bar)
        if self.quantity > 0:
            self.highest = max(self.highest or Decimal(0), as_decimal(bar["high"]))
        ctx = Context(bar=bar, position=self.position(), open_orders=self.open_orders(),
                      state=self.state, now=bar["open_time"])
        actions = self.strategy.on_bar(ctx)
        # What the caller stores between bars is JSON; round-trip it to prove it is.
        self.state = json.loads(json.dumps(ctx.state))
        for action in actions:
            self.actions.append((index, action))
            self._execute(index, bar, action)
        return actions

    def position(self) -> PositionView:
        if self.quantity <= 0:
            return PositionView()
        return PositionView(self.quantity, self.cost / self.quantity, None, self.highest)

    def open_orders(self) -> tuple[OpenOrderView, ...]:
        return tuple(
            OpenOrderView(tag, i.side, i.order_type, i.price, i.quantity or Decimal(0))
            for tag, i in self.resting.items()
        )

    def _execute(self, index: int, bar: dict, action: Intent | Cancel) -> None:
        if isinstance(action, Cancel):
            self.resting.pop(action.tag)
        elif action.order_type == "limit":
            assert action.tag not in self.resting, f"{action.tag} placed twice"
            self.resting[action.tag] = action
        else:
            self._fill(index, action, action.trigger_price or as_decimal(bar["close"]))

    def _fill_resting(self, index: int, bar: dict) -> None:
        for tag, intent in list(self.resting.items()):
            reached = (as_decimal(bar["low"]) <= intent.price if intent.side == "buy"
                       else as_decimal(bar["high"]) >= intent.price)
            if reached:
                del self.resting[tag]
                self._fill(index, intent, intent.price)

    def _fill(self, index: int, intent: Intent, price: Decimal) -> None:
        quantity = self._quantity(intent, price)
        if intent.side == "buy":
            if self.quantity <= 0:
                self.highest = price
            self.quantity += quantity
            self.cost += quantity * price
        else:
            assert quantity <= self.quantity, f"{intent.tag} sells more than held"
            self.cost -= self.cost * quantity / self.quantity
            self.quantity -= quantity
        self.fills.append((index, intent.tag, quantity, price))

    def _quantity(self, intent: Intent, price: Decimal) -> Decimal:
        if intent.quantity is not None:
            return intent.quantity
        if intent.close_fraction is not None:
            return self.quantity * intent.close_fraction
        return (intent.quote_amount or DEFAULT_QUOTE) / price
