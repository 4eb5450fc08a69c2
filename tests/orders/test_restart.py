"""Reconciliation after the platform was down (reliability.md scenario 28): orders filled,
partly filled and cancelled by hand meanwhile, and one placed by hand, all come out right."""

from decimal import Decimal

import pytest
from binance import Client

from orders.models import Order, OrderStatus, Position
from orders.services import orders_refresh_for_account
from tests.orders.ordering import limit_buy_below

pytestmark = pytest.mark.django_db(transaction=True)
S = OrderStatus


def by_hand(local_binance) -> Client:
    client = Client(local_binance.api_key, local_binance.api_secret, ping=False)
    client.API_URL = local_binance.rest_url + "/api"
    return client


def test_start_up_reconciliation_after_changes_made_while_down(portfolio, local_binance):
    a = limit_buy_below(portfolio, local_binance, below="0.98")
    b = limit_buy_below(portfolio, local_binance, qty="0.05", below="0.97")
    c = limit_buy_below(portfolio, local_binance, below="0.90")
    # The platform is down; the market and the trader act.
    local_binance.emit_trade("BTCUSDT", a.price, "1")  # fills A
    local_binance.emit_trade("BTCUSDT", b.price, "0.02")  # part of B (A is already done)
    by_hand(local_binance).cancel_order(symbol="BTCUSDT", origClientOrderId=c.client_order_id)
    price = (local_binance.price("BTCUSDT") * Decimal("0.8")).quantize(Decimal("0.01"))
    by_hand(local_binance).create_order(symbol="BTCUSDT", side="BUY", type="LIMIT",
                                        timeInForce="GTC", quantity="0.01", price=str(price),
                                        newClientOrderId="by-hand-d")

    report = orders_refresh_for_account(account_id=portfolio.exchange_account_id)

    a, b, c = (Order.objects.get(pk=o.pk) for o in (a, b, c))
    assert (a.status, a.executed_qty) == (S.FILLED, a.quantity)
    assert (b.status, b.executed_qty) == (S.PARTIALLY_FILLED, Decimal("0.02"))
    assert (c.status, c.executed_qty) == (S.CANCELED, 0)
    d = Order.objects.get(client_order_id="by-hand-d")
    assert (d.source, d.status) == (Order.Source.EXTERNAL, S.NEW)
    assert report["adopted"] == 1
    position = Position.objects.get(portfolio=portfolio, symbol="BTCUSDT")
    assert position.cost == a.cumulative_quote + b.cumulative_quote

    again = orders_refresh_for_account(account_id=portfolio.exchange_account_id)
    assert again["adopted"] == 0  # a second start-up changes nothing
    assert Order.objects.count() == 4
