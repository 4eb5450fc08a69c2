"""The user-data stream against the local Binance: fills arrive without polling, duplicates and
reordering change nothing, a stream that was away catches up, outside orders are adopted."""

from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal

import pytest

from orders.models import Order, OrderStatus
from orders.services import order_event_apply
from orders.userdata import UserStream, spot_order_event
from tests.orders.ordering import limit_buy_below
from tests.support.servers import running_in_thread, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
S = OrderStatus


@contextmanager
def streaming(portfolio, local_venue, local_binance):
    stream = UserStream(account_id=portfolio.exchange_account_id, venue=local_venue,
                        api_key=local_binance.api_key, api_secret=local_binance.api_secret)
    with running_in_thread(stream):
        wait_until(lambda: stream.connected, timeout=10, what="the user stream")
        yield stream


def status_of(order):
    return Order.objects.get(pk=order.pk).status


def test_a_fill_arrives_over_the_stream_without_any_query(portfolio, local_venue,
                                                          local_binance, fast_socket_exit):
    with streaming(portfolio, local_venue, local_binance):
        order = limit_buy_below(portfolio, local_binance)
        local_binance.clear_requests()
        local_binance.emit_trade("BTCUSDT", order.price, "1")
        wait_until(lambda: status_of(order) == S.FILLED, timeout=10, what="the fill event")

    assert local_binance.requests("GET", "/api/v3/order") == []
    assert Order.objects.get(pk=order.pk).executed_qty == order.quantity


def test_a_fill_missed_while_the_stream_was_down_is_caught_up(portfolio,
                                                              local_venue, local_binance,
                                                              fast_socket_exit):
    order = limit_buy_below(portfolio, local_binance)
    local_binance.emit_trade("BTCUSDT", order.price, "1")  # no stream is listening
    assert status_of(order) == S.NEW

    with streaming(portfolio, local_venue, local_binance):
        wait_until(lambda: status_of(order) == S.FILLED, timeout=10, what="the catch-up")


def test_duplicate_and_out_of_order_events_change_nothing(portfolio,
                                                          local_binance):
    order = limit_buy_below(portfolio, local_binance, qty="0.05")
    local_binance.emit_trade("BTCUSDT", order.price, "0.02")
    local_binance.emit_trade("BTCUSDT", order.price, "0.03")
    reports = [e for e in local_binance.user_events() if e.get("e") == "executionReport"
               and e["c"] == order.client_order_id]
    events = [spot_order_event(report) for report in reports]
    venue = f"local:127.0.0.1:{local_binance.port}"

    for event in [*reversed(events), *events, *events]:  # reordered, then twice again
        order_event_apply(account_id=portfolio.exchange_account_id, venue=venue, event=event)

    order.refresh_from_db()
    assert order.status == S.FILLED
    assert order.executed_qty == Decimal("0.05")
    assert order.fills.count() == 2


def test_an_order_placed_outside_the_platform_is_adopted(portfolio, local_venue,
                                                         local_binance, fast_socket_exit):
    from binance import Client

    with streaming(portfolio, local_venue, local_binance):
        outside = Client(local_binance.api_key, local_binance.api_secret, ping=False)
        outside.API_URL = local_binance.rest_url + "/api"
        outside.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01",
                             newClientOrderId="by-hand-1")
        wait_until(lambda: Order.objects.filter(client_order_id="by-hand-1").exists(),
                   timeout=10, what="the outside order")

    adopted = Order.objects.get(client_order_id="by-hand-1")
    assert adopted.source == Order.Source.EXTERNAL
    wait_until(lambda: status_of(adopted) == S.FILLED, timeout=5, what="its fill")


def test_a_late_cancel_event_for_a_filled_order_is_ignored(portfolio,
                                                           local_binance):
    order = limit_buy_below(portfolio, local_binance)
    local_binance.emit_trade("BTCUSDT", order.price, "1")
    filled = [e for e in local_binance.user_events() if e.get("e") == "executionReport"
              and e["c"] == order.client_order_id and e["X"] == "FILLED"][0]
    venue = f"local:127.0.0.1:{local_binance.port}"
    event = spot_order_event(filled)
    order_event_apply(account_id=portfolio.exchange_account_id, venue=venue, event=event)

    late = replace(event, answer=replace(event.answer, status="CANCELED", fills=[]))
    order_event_apply(account_id=portfolio.exchange_account_id, venue=venue, event=late)

    assert status_of(order) == S.FILLED
