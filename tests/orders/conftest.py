import pytest

from marketdata.services import symbols_sync
from tests.orders.ordering import exchange_portfolio


@pytest.fixture
def portfolio(trader, local_venue, local_binance):
    symbols_sync(market="spot", venue=local_venue)
    return exchange_portfolio(trader, local_binance)


@pytest.fixture
def futures_portfolio(trader, local_venue, local_binance):
    symbols_sync(market="futures", venue=local_venue)
    symbols_sync(market="spot", venue=local_venue)
    return exchange_portfolio(trader, local_binance, market="futures", name="futures")
