import pytest

from marketdata.services import symbols_sync
from orders.services import orders_reconcile
from portfolios.models import ExchangeAccount, Portfolio


@pytest.fixture
def portfolio(trader, local_venue, local_binance):
    symbols_sync(market="spot", venue=local_venue)
    account = ExchangeAccount(owner=trader, name="local", mode="local", market="spot",
                              base_url=local_binance.rest_url)
    account.set_credentials(api_key=local_binance.api_key, api_secret=local_binance.api_secret)
    account.save()
    portfolio = Portfolio.objects.create(owner=trader, name="main", mode="testnet",
                                         exchange_account=account)
    orders_reconcile(portfolio=portfolio)  # trading opens once a reconciliation succeeded
    return portfolio


@pytest.fixture
def futures_portfolio(trader, local_venue, local_binance):
    symbols_sync(market="futures", venue=local_venue)
    symbols_sync(market="spot", venue=local_venue)
    account = ExchangeAccount(owner=trader, name="local futures", mode="local",
                              market="futures", base_url=local_binance.rest_url)
    account.set_credentials(api_key=local_binance.api_key, api_secret=local_binance.api_secret)
    account.save()
    portfolio = Portfolio.objects.create(owner=trader, name="futures", mode="testnet",
                                         exchange_account=account)
    orders_reconcile(portfolio=portfolio)
    return portfolio
