"""What a strategy sees on each bar and what it asks for: plain frozen dataclasses.

Money and quantities are ``Decimal``; times are aware UTC datetimes. The caller (live bot,
paper trader, backtester) builds the views from its own records and turns intents into orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


def as_decimal(value: float | Decimal) -> Decimal:
    """A float from the prepared frame as Decimal, via its shortest repr: Decimal(0.1) would
    carry the binary noise 0.1000000000000000055511151231257827 into a price."""
    return Decimal(str(float(value)))


@dataclass(frozen=True)
class PositionView:
    """The bot's position: ``quantity`` above zero is long, below zero short (USD-M futures,
    in backtests). ``highest_price_since_entry`` / ``lowest_price_since_entry`` are the
    highest high and lowest low seen since the entry, for a long's and a short's trailing
    stop (the caller keeps them; ``None`` falls back to the average price)."""

    quantity: Decimal = ZERO
    average_price: Decimal = ZERO
    opened_at: datetime | None = None
    highest_price_since_entry: Decimal | None = None
    lowest_price_since_entry: Decimal | None = None

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    @property
    def is_short(self) -> bool:
        return self.quantity < 0


FLAT = PositionView()


@dataclass(frozen=True)
class OpenOrderView:
    """An order of this bot that is resting on the exchange (or in the simulator)."""

    tag: str
    side: Side
    order_type: OrderType
    price: Decimal | None
    quantity: Decimal


@dataclass(frozen=True, kw_only=True)
class Intent:
    """An order the strategy wants. Sizes: give at most one of ``quote_amount``, ``quantity``
    and ``close_fraction`` (a share of the position the order closes: a sell closes a long,
    a buy a short; 1 = the whole position). None of them means "let
    position sizing decide".

    ``trigger_price`` is set on protective exits: the level that was crossed inside the bar.
    A backtest fill model may fill there (as a resting stop order would); a live bot that
    ticks on closed candles sells at market and gets the price of the moment.
    """

    side: Side
    order_type: OrderType = "market"
    price: Decimal | None = None
    quote_amount: Decimal | None = None
    quantity: Decimal | None = None
    close_fraction: Decimal | None = None
    tag: str = "entry"
    reason: str = ""
    trigger_price: Decimal | None = None

    def __post_init__(self) -> None:
        problem = _intent_problem(self)
        if problem:
            raise ValueError(problem)

    @property
    def needs_sizing(self) -> bool:
        return self.quote_amount is None and self.quantity is None and self.close_fraction is None


def _intent_problem(intent: Intent) -> str | None:
    if intent.side not in ("buy", "sell"):
        return f"side must be buy or sell, not {intent.side!r}"
    if intent.order_type not in ("market", "limit"):
        return f"order type must be market or limit, not {intent.order_type!r}"
    if intent.order_type == "limit" and (intent.price is None or intent.price <= 0):
        return "a limit order needs a positive price"
    sizes = [
        size
        for size in (intent.quote_amount, intent.quantity, intent.close_fraction)
        if size is not None
    ]
    if len(sizes) > 1:
        return "give only one of quote_amount, quantity and close_fraction"
    if any(size <= 0 for size in sizes):
        return "an order size must be positive"
    if intent.close_fraction is not None and intent.close_fraction > 1:
        return "close_fraction is at most 1 (the whole position)"
    return None


@dataclass(frozen=True)
class Cancel:
    """Cancel this bot's resting order with ``tag``."""

    tag: str
    reason: str = ""


Action = Intent | Cancel


@dataclass
class Context:
    """One closed bar as the strategy sees it.

    ``bar`` is the prepared row (open_time, OHLCV as floats, indicators, enter_long and
    exit_long). ``state`` is the strategy's JSON-serialisable memory: the caller stores it
    after ``on_bar`` returns and hands it back on the next bar; the strategy mutates it.
    """

    bar: Mapping[str, Any]
    position: PositionView = FLAT
    open_orders: tuple[OpenOrderView, ...] = ()
    state: dict[str, Any] = field(default_factory=dict)
    now: datetime | None = None

    def price(self, column: str = "close") -> Decimal:
        """A bar value (close by default) as Decimal."""
        return as_decimal(self.bar[column])

    def open_order(self, tag: str) -> OpenOrderView | None:
        return next((order for order in self.open_orders if order.tag == tag), None)
