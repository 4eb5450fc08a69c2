"""Offers the stream's trade prints to resting paper orders (registered in orders.apps).

Paper orders rest in the database. Which symbols have any is re-read once a second, so a
print on a symbol without resting paper orders costs nothing.
"""

import logging
import time
from datetime import datetime
from decimal import Decimal

from channels.db import database_sync_to_async

from orders import fillmodel
from orders.models import Order, OrderStatus
from orders.services import paper_orders_match

logger = logging.getLogger(__name__)
REFRESH_SECONDS = 1.0


@database_sync_to_async
def resting_paper_symbols() -> set[tuple[str, str]]:
    resting = Order.objects.filter(portfolio__mode="paper", status__in=[
        OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED])
    return set(resting.values_list("market", "symbol").distinct())


@database_sync_to_async
def _match(market: str, symbol: str, trade: fillmodel.Trade) -> None:
    try:
        paper_orders_match(market=market, symbol=symbol, trade=trade)
    except Exception:  # one bad order must not stop the stream
        logger.exception("paper matching failed for %s %s", market, symbol)


class PaperMatcher:
    def __init__(self):
        self.symbols: set[tuple[str, str]] = set()
        self.checked_at = 0.0

    async def on_trade(self, market: str, symbol: str, price: Decimal, quantity: Decimal,
                       when: datetime) -> None:
        now = time.monotonic()
        if now - self.checked_at >= REFRESH_SECONDS:
            self.checked_at = now
            self.symbols = await resting_paper_symbols()
        if (market, symbol) in self.symbols:
            await _match(market, symbol, fillmodel.Trade(price=price, qty=quantity, time=when))
