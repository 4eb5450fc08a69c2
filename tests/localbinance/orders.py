"""Order, fill and trade records shared by the spot and futures engines."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal

from .accounts import Account
from .decimals import ZERO

TERMINAL = ("FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH")


@dataclass
class Lock:
    """Funds reserved for an order (shared by both legs of an OCO)."""

    asset: str
    amount: Decimal


@dataclass
class Fill:
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: int
    time: int
    is_maker: bool
    realized_pnl: Decimal = ZERO  # futures only


@dataclass
class Order:
    account: Account
    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    orig_qty: Decimal
    price: Decimal
    time: int
    stop_price: Decimal = ZERO
    iceberg_qty: Decimal = ZERO
    orig_quote_qty: Decimal = ZERO
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    working_time: int = -1
    order_list_id: int = -1
    lock: Lock | None = None
    fills: list[Fill] = field(default_factory=list)
    cancel_client_id: str = ""
    hidden_queries: int = 0  # fault injection: -2013 for the first N queries
    # futures-only attributes
    reduce_only: bool = False
    close_position: bool = False
    position_side: str = "BOTH"
    working_type: str = "CONTRACT_PRICE"
    orig_type: str = ""
    price_protect: bool = False
    activate_price: Decimal | None = None
    callback_rate: Decimal | None = None
    good_till_date: int = 0
    self_trade_prevention_mode: str = "NONE"
    price_match: str = "NONE"

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status not in TERMINAL

    @property
    def is_working(self) -> bool:
        return self.working_time != -1

    @property
    def is_stop(self) -> bool:
        return self.type in ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed_qty if self.executed_qty else ZERO

    def last_fill(self) -> Fill | None:
        return self.fills[-1] if self.fills else None


@dataclass
class OrderList:
    """An OCO: two orders where activity on one expires the other."""

    order_list_id: int
    list_client_order_id: str
    symbol: str
    orders: list[Order]
    transaction_time: int
    status: str = "EXECUTING"  # listOrderStatus
    status_type: str = "EXEC_STARTED"  # listStatusType

    def other(self, order: Order) -> Order:
        return next(o for o in self.orders if o is not order)


@dataclass
class Trade:
    """A row of myTrades / userTrades."""

    symbol: str
    trade_id: int
    order: Order
    fill: Fill
    is_buyer: bool


def random_client_id() -> str:
    """Server-assigned client ids look like Binance's 22-character random ids."""
    return secrets.token_urlsafe(16)[:22].replace("-", "a").replace("_", "b")
