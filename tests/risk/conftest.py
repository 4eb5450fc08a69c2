"""A paper portfolio for the risk tests, and an entry to check against it."""

from decimal import Decimal as D

import pytest
from django.core.cache import cache

from marketdata.services import symbols_sync
from orders.services import order_create, paper_deposit
from portfolios.models import Portfolio
from tests.bots.conftest import (  # noqa: F401  (fixtures for the bots' tests here)
    crossing_candle,
    market_is_live,
    paper_portfolio,
)
from tests.orders.conftest import (  # noqa: F401  (testnet portfolios on the local Binance)
    futures_portfolio,
    portfolio,
)


@pytest.fixture
def book(trader, local_venue):
    """A paper portfolio with 10 000 USDT; BTCUSDT and ETHUSDT trade at 120 and 60."""
    symbols_sync(market="spot", venue=local_venue)
    paper = Portfolio.objects.create(owner=trader, name="risk")
    paper_deposit(portfolio=paper, asset="USDT", amount=D("10000"))
    market_is_live("ETHUSDT", "60")
    market_is_live("BTCUSDT", "120")  # the stream status names the last one: bots trade it
    yield paper
    cache.clear()


def buy(book, symbol="BTCUSDT", quote="100", **extra):
    return order_create(portfolio=book, symbol=symbol, side="BUY", order_type="MARKET",
                        quote_quantity=D(quote), **extra)
