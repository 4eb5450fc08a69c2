"""Order shortcuts for the tests."""

from decimal import Decimal

from orders.services import order_place


def market_buy(portfolio, qty="0.01"):
    return order_place(portfolio=portfolio, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                       quantity=Decimal(qty))


def limit_buy_below(portfolio, local_binance, qty="0.01", below="0.98"):
    price = (local_binance.price("BTCUSDT") * Decimal(below)).quantize(Decimal("0.01"))
    return order_place(portfolio=portfolio, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                       quantity=Decimal(qty), price=price, time_in_force="GTC")
