"""Order shortcuts for the tests."""

from decimal import Decimal

from orders.services import order_place, orders_reconcile
from portfolios.models import ExchangeAccount, Portfolio


def exchange_portfolio(owner, local_binance, *, market="spot", name="main"):
    """A testnet portfolio trading through the local Binance, reconciled once (trading opens
    only after a reconciliation succeeded)."""
    account = ExchangeAccount(owner=owner, name=f"local {name}", mode="local", market=market,
                              base_url=local_binance.rest_url)
    account.set_credentials(api_key=local_binance.api_key, api_secret=local_binance.api_secret)
    account.save()
    portfolio = Portfolio.objects.create(owner=owner, name=name, mode="testnet",
                                         exchange_account=account)
    orders_reconcile(portfolio=portfolio)
    return portfolio


def market_buy(portfolio, qty="0.01"):
    return order_place(portfolio=portfolio, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                       quantity=Decimal(qty))


def limit_buy_below(portfolio, local_binance, qty="0.01", below="0.98"):
    price = (local_binance.price("BTCUSDT") * Decimal(below)).quantize(Decimal("0.01"))
    return order_place(portfolio=portfolio, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                       quantity=Decimal(qty), price=price, time_in_force="GTC")
