"""Every order exactly once, against the local Binance: lost answers, eventual consistency,
cancel races, partial fills, crash windows. "Exactly once" is counted in the fake's request
log (POSTs carrying our client order id) and in the database (orders and fills)."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from marketdata import live
from orders import services
from orders.models import Fill, Order, OrderStatus, Position
from orders.services import (
    OrderRefused,
    order_cancel,
    order_create,
    order_place,
    order_resolve,
    order_submit,
    orders_reconcile,
)
from tests.orders.ordering import limit_buy_below, market_buy

pytestmark = pytest.mark.django_db(transaction=True)
S = OrderStatus


def posts(local_binance, order):
    return local_binance.requests("POST", "/api/v3/order",
                                  newClientOrderId=order.client_order_id)


def test_a_market_order_fills_once_and_books_its_position(portfolio, local_binance):
    order = market_buy(portfolio)

    assert order.status == S.FILLED
    assert len(posts(local_binance, order)) == 1
    assert order.executed_qty == Decimal("0.01")
    assert order.fills.count() >= 1
    order.refresh_from_db()
    assert order.submitted_at <= order.acknowledged_at  # the round trip /metrics reports
    position = Position.objects.get(portfolio=portfolio, symbol="BTCUSDT")
    assert position.quantity == Decimal("0.01") - sum(f.commission for f in order.fills.all())


def test_a_filter_breach_is_refused_before_anything_is_saved_or_sent(portfolio, local_binance):
    with pytest.raises(OrderRefused, match="minimum") as refused:
        market_buy(portfolio, qty="0.0000001")

    assert "0.0000001 was rounded down to 0" in str(refused.value)
    assert not Order.objects.exists()
    assert local_binance.requests("POST", "/api/v3/order") == []


@pytest.mark.parametrize("fault", ["timeout", "server_error", "drop"])
def test_a_lost_answer_is_settled_by_querying_never_by_sending_again(portfolio, local_binance,
                                                                    fault):
    local_binance.inject(fault, method="POST", path="/api/v3/order")

    order = market_buy(portfolio)
    assert order.status == S.UNKNOWN
    order = order_resolve(order=order)

    assert order.status == S.FILLED
    assert order.acknowledged_at is None  # no answer to our send ever arrived
    assert order.exchange_order_id is not None
    assert len(posts(local_binance, order)) == 1
    assert Order.objects.count() == 1
    assert order.executed_qty == Decimal("0.01")


def test_an_order_invisible_for_a_while_is_not_taken_for_absent(portfolio, local_binance):
    local_binance.inject("timeout", method="POST", path="/api/v3/order")
    local_binance.inject("order_not_found", method="POST", path="/api/v3/order", queries=3)
    order = market_buy(portfolio)

    statuses = [order_resolve(order=order).status for _ in range(4)]

    assert statuses == [S.UNKNOWN, S.UNKNOWN, S.UNKNOWN, S.FILLED]
    assert Fill.objects.filter(order=order).count() == order.fills.count() >= 1
    assert len(posts(local_binance, order)) == 1


def test_an_order_that_never_arrived_is_rejected_only_after_enough_checks(portfolio,
                                                                         local_binance,
                                                                         monkeypatch):
    monkeypatch.setattr(services, "ABSENT_AFTER", timedelta(0))
    local_binance.inject("drop", method="POST", path="/api/v3/order", phase="before")
    order = market_buy(portfolio)

    statuses = [order_resolve(order=order).status for _ in range(services.ABSENT_AFTER_CHECKS)]

    assert statuses[:-1] == [S.UNKNOWN] * (services.ABSENT_AFTER_CHECKS - 1)
    assert statuses[-1] == S.REJECTED
    assert "never reached the exchange" in Order.objects.get().reason


def test_two_workers_submitting_the_same_order_send_it_once(portfolio, local_binance):
    order = order_create(portfolio=portfolio, symbol="BTCUSDT", side="BUY",
                         order_type="MARKET", quantity=Decimal("0.01"))

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: order_submit(order=Order.objects.get(pk=order.pk)),
                                range(2)))

    assert len(posts(local_binance, order)) == 1
    assert {r.status for r in results} <= {S.FILLED, S.SUBMITTING}
    assert Order.objects.get().status == S.FILLED


def test_a_cancel_racing_a_fill_records_the_fill(portfolio, local_binance):
    order = limit_buy_below(portfolio, local_binance)
    assert order.status == S.NEW
    local_binance.emit_trade("BTCUSDT", order.price, "1")  # fills it on the exchange

    order = order_cancel(order=order)

    assert order.status == S.FILLED
    assert order.executed_qty == order.quantity
    assert order.fills.count() >= 1


def test_a_partial_fill_then_cancel_keeps_the_filled_part(portfolio, local_binance):
    order = limit_buy_below(portfolio, local_binance, qty="0.05")
    local_binance.emit_trade("BTCUSDT", order.price, "0.02")  # a smaller trade: partial fill

    order = order_cancel(order=order)

    assert order.status == S.CANCELED
    assert order.executed_qty == Decimal("0.02")
    position = Position.objects.get(portfolio=portfolio, symbol="BTCUSDT")
    assert position.cost == order.cumulative_quote


def test_a_replayed_answer_books_no_fill_twice(portfolio, local_binance):
    order = market_buy(portfolio)
    fills = order.fills.count()

    order_resolve(order=Order.objects.get(pk=order.pk))
    order_resolve(order=Order.objects.get(pk=order.pk))

    assert order.fills.count() == fills
    assert Order.objects.get(pk=order.pk).executed_qty == Decimal("0.01")


def test_reconciling_expires_unsent_intents_and_settles_unknown_orders(portfolio,
                                                                       local_binance):
    # Crash after the intent was saved, before it was sent:
    stale = order_create(portfolio=portfolio, symbol="BTCUSDT", side="BUY",
                         order_type="MARKET", quantity=Decimal("0.01"))
    Order.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    # Crash after the POST went out, before its answer was stored:
    local_binance.inject("drop", method="POST", path="/api/v3/order")
    sent = market_buy(portfolio)
    Order.objects.filter(pk=sent.pk).update(status=S.SUBMITTING)

    report = orders_reconcile(portfolio=portfolio)

    assert (report["expired_intents"], report["settled"]) == (1, 1)
    assert report["balances"] == 2  # the fill moved USDT and BTC on Binance: copied over
    assert Order.objects.get(pk=stale.pk).status == S.EXPIRED
    assert Order.objects.get(pk=sent.pk).status == S.FILLED
    assert posts(local_binance, stale) == []
    assert len(posts(local_binance, sent)) == 1


def test_a_late_partial_status_never_undoes_a_fill(portfolio, local_binance):
    order = market_buy(portfolio)

    order.refresh_from_db()
    assert not order.can_become(S.PARTIALLY_FILLED)
    assert not order.can_become(S.NEW)


def test_staff_cancel_and_reconcile_from_the_admin(admin_client, portfolio, local_binance):
    order = limit_buy_below(portfolio, local_binance)

    response = admin_client.post("/admin/orders/order/", {
        "action": "cancel_orders", "_selected_action": [order.pk]}, follow=True)
    assert Order.objects.get(pk=order.pk).status == S.CANCELED
    assert order.client_order_id in response.content.decode()

    response = admin_client.post("/admin/orders/order/", {
        "action": "reconcile_now", "_selected_action": [order.pk]}, follow=True)
    assert "settled" in response.content.decode()
    assert admin_client.get(f"/admin/orders/order/{order.pk}/change/").status_code == 200


def test_an_order_held_back_by_a_rate_limit_is_sent_later_once(portfolio, local_binance):
    local_binance.inject("rate_limit", method="POST", path="/api/v3/order", retry_after=1)

    order = market_buy(portfolio)
    assert order.status == S.CREATED
    assert order.reason.startswith("not sent yet")

    time.sleep(1.1)  # the pause Binance asked for
    orders_reconcile(portfolio=portfolio)

    order.refresh_from_db()
    assert order.status == S.FILLED
    assert len(posts(local_binance, order)) == 2  # the refused attempt, then the one that filled
    assert order.fills.count() >= 1


def test_a_market_order_below_the_minimum_value_is_refused_here_when_prices_are_live(
        portfolio, local_binance):
    price = local_binance.price("BTCUSDT")
    cache.set(live.status_key("spot"), {"connected": True, "updated_at": time.time(),
                                        "symbols": {"BTCUSDT": {"stale": False, "age": 0}}})
    cache.set(live.ticker_key("spot", "BTCUSDT"), {"symbol": "BTCUSDT", "price": str(price)})

    with pytest.raises(OrderRefused, match="notional|value|minimum"):
        market_buy(portfolio, qty="0.0001")  # a fraction of a dollar's worth

    assert local_binance.requests("POST", "/api/v3/order") == []
    cache.delete(live.status_key("spot"))


def test_trading_waits_for_a_successful_reconciliation(portfolio, local_binance):
    cache.delete(f"orders:reconciled:{portfolio.pk}")  # e.g. just started, or Binance failing

    with pytest.raises(OrderRefused, match="reconciliation"):
        market_buy(portfolio)
    assert not Order.objects.exists()

    orders_reconcile(portfolio=portfolio)
    assert market_buy(portfolio).status == S.FILLED


def test_exits_do_not_wait_for_the_reconciliation(portfolio, local_binance):
    """A close must get out while Binance is failing: a duplicate sell would be refused for
    want of balance, never doubled."""
    assert market_buy(portfolio).status == S.FILLED
    cache.delete(f"orders:reconciled:{portfolio.pk}")

    sold = order_place(portfolio=portfolio, symbol="BTCUSDT", side="SELL",
                       order_type="MARKET", quantity=Decimal("0.009"))

    assert (sold.status, sold.risk_check) == (S.FILLED, "exit")
