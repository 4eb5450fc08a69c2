"""What an order gateway returns, whatever the venue: plain dataclasses, Decimal amounts."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol


@dataclass(frozen=True)
class TradeFill:
    trade_id: int
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str
    is_maker: bool
    executed_at: datetime


@dataclass
class ExchangeOrder:
    """The exchange's view of one order."""

    status: str  # Binance's status: NEW, PARTIALLY_FILLED, FILLED, CANCELED, ...
    exchange_order_id: int | None
    executed_qty: Decimal
    cumulative_quote: Decimal
    fills: list[TradeFill] = field(default_factory=list)


@dataclass(frozen=True)
class OrderReport:
    """An order as the exchange reports it on its own (a stream event, an open-orders row),
    with enough to adopt it when the platform did not place it."""

    client_order_id: str
    symbol: str
    side: str
    order_type: str
    quantity: Decimal
    price: Decimal
    answer: ExchangeOrder
    event_time: int = 0


class OrderGateway(Protocol):
    venue: str  # identifies where trade ids are unique (live, testnet, local:host:port, paper)

    def place(self, order) -> ExchangeOrder: ...
    def query(self, order) -> ExchangeOrder: ...
    def cancel(self, order) -> ExchangeOrder: ...
    def trades(self, order) -> list[TradeFill]: ...
    def open_orders(self, symbol: str | None = None) -> list[OrderReport]: ...
