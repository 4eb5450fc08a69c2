"""USD-M futures orders against the local Binance: plain orders on /fapi/v1/order, conditional
ones on the algo endpoint under our own id, signed positions, leverage and margin type, and
the account's balances and positions beside the books."""

from decimal import Decimal

import pytest

from orders.models import Balance, FuturesSetting, Order, OrderStatus, Position
from orders.services import (
    OrderRefused,
    futures_configure,
    order_cancel,
    order_place,
    order_resolve,
    orders_reconcile,
)

pytestmark = pytest.mark.django_db(transaction=True)
S = OrderStatus


def futures_order(portfolio, side, order_type="MARKET", qty="0.01", **fields):
    return order_place(portfolio=portfolio, market="futures", symbol="BTCUSDT", side=side,
                       order_type=order_type, quantity=Decimal(qty), **fields)


def posts(local_binance, path, **params):
    return local_binance.requests("POST", path, **params)


def position(portfolio):
    return Position.objects.get(portfolio=portfolio, market="futures", symbol="BTCUSDT")


def test_a_market_order_fills_once_and_opens_a_long(futures_portfolio, local_binance):
    order = futures_order(futures_portfolio, "BUY")

    assert order.status == S.FILLED
    assert len(posts(local_binance, "/fapi/v1/order",
                     newClientOrderId=order.client_order_id)) == 1
    assert order.executed_qty == Decimal("0.01")
    assert order.fills.count() >= 1
    held = position(futures_portfolio)
    fees = sum(f.commission for f in order.fills.all())
    assert held.quantity == Decimal("0.01")
    assert held.average_entry == order.average_price
    assert held.realised_pnl == -fees  # only the fee so far


def test_a_short_closed_reduce_only_realises_the_price_difference_net_of_fees(
        futures_portfolio, local_binance):
    opened = futures_order(futures_portfolio, "SELL")
    local_binance.set_price("BTCUSDT", opened.average_price - Decimal("100"))
    closed = futures_order(futures_portfolio, "BUY", reduce_only=True)

    assert posts(local_binance, "/fapi/v1/order", newClientOrderId=closed.client_order_id,
                 reduceOnly="true")
    held = position(futures_portfolio)
    fees = sum(f.commission for o in (opened, closed) for f in o.fills.all())
    assert held.quantity == 0
    assert held.cost == 0
    gross = (opened.average_price - closed.average_price) * Decimal("0.01")
    assert held.realised_pnl == gross - fees
    assert gross == Decimal("1")


def test_a_stop_market_goes_to_the_algo_endpoint_under_our_id_and_fills_once_triggered(
        futures_portfolio, local_binance):
    futures_order(futures_portfolio, "BUY")
    price = local_binance.price("BTCUSDT")
    stop = futures_order(futures_portfolio, "SELL", "STOP_MARKET", reduce_only=True,
                         stop_price=(price * Decimal("0.95")).quantize(Decimal("0.1")))

    assert stop.status == S.NEW
    assert posts(local_binance, "/fapi/v1/order", newClientOrderId=stop.client_order_id) == []
    algo_posts = posts(local_binance, "/fapi/v1/algoOrder", clientAlgoId=stop.client_order_id)
    assert len(algo_posts) == 1

    local_binance.set_price("BTCUSDT", price * Decimal("0.94"))
    stop = order_resolve(order=stop)

    assert stop.status == S.FILLED
    assert stop.executed_qty == Decimal("0.01")
    assert stop.fills.count() >= 1
    assert position(futures_portfolio).quantity == 0
    assert len(posts(local_binance, "/fapi/v1/algoOrder")) == 1  # never sent again


def test_a_trailing_stop_sends_its_callback_rate_and_activation_price(futures_portfolio,
                                                                      local_binance):
    futures_order(futures_portfolio, "BUY")
    price = local_binance.price("BTCUSDT")
    trailing = futures_order(futures_portfolio, "SELL", "TRAILING_STOP_MARKET",
                             reduce_only=True, callback_rate=Decimal("1.5"),
                             activation_price=price * Decimal("1.02"))

    sent = posts(local_binance, "/fapi/v1/algoOrder", clientAlgoId=trailing.client_order_id)
    assert sent[0].params["callbackRate"] == "1.5"
    assert Decimal(sent[0].params["activatePrice"]) == trailing.activation_price
    assert trailing.status == S.NEW


def test_a_trailing_stop_without_a_callback_rate_is_refused_in_words(futures_portfolio):
    with pytest.raises(OrderRefused, match="callback rate between 0.1 and 10"):
        futures_order(futures_portfolio, "SELL", "TRAILING_STOP_MARKET", reduce_only=True)
    assert not Order.objects.exists()


def test_cancelling_a_conditional_order_cancels_the_algo_order(futures_portfolio,
                                                               local_binance):
    price = local_binance.price("BTCUSDT")
    stop = futures_order(futures_portfolio, "BUY", "STOP_MARKET",
                         stop_price=(price * Decimal("1.05")).quantize(Decimal("0.1")))

    stop = order_cancel(order=stop)

    assert stop.status == S.CANCELED
    assert local_binance.requests("DELETE", "/fapi/v1/algoOrder",
                                  clientAlgoId=stop.client_order_id)


def test_a_lost_futures_answer_is_settled_by_querying(futures_portfolio, local_binance):
    local_binance.inject("timeout", method="POST", path="/fapi/v1/order")
    order = futures_order(futures_portfolio, "BUY")
    assert order.status == S.UNKNOWN

    order = order_resolve(order=order)

    assert order.status == S.FILLED
    assert order.executed_qty == Decimal("0.01")
    assert len(posts(local_binance, "/fapi/v1/order")) == 1
    assert position(futures_portfolio).quantity == Decimal("0.01")


def test_leverage_and_margin_type_are_set_idempotently(futures_portfolio, local_binance):
    futures_configure(portfolio=futures_portfolio, symbol="BTCUSDT", leverage=5,
                      margin_type="ISOLATED")
    setting = futures_configure(portfolio=futures_portfolio, symbol="BTCUSDT", leverage=5,
                                margin_type="ISOLATED")  # -4046 from Binance: still success

    assert (setting.leverage, setting.margin_type) == (5, "ISOLATED")
    assert FuturesSetting.objects.count() == 1
    assert len(posts(local_binance, "/fapi/v1/marginType")) == 2
    with pytest.raises(OrderRefused, match="1 to 125"):
        futures_configure(portfolio=futures_portfolio, symbol="BTCUSDT", leverage=200)


def test_reconciling_copies_balances_and_records_the_exchange_position(futures_portfolio,
                                                                       local_binance):
    futures_order(futures_portfolio, "BUY", qty="0.02")

    report = orders_reconcile(portfolio=futures_portfolio)

    assert report["positions_differing"] == 0
    held = position(futures_portfolio)
    assert held.exchange_quantity == Decimal("0.02") == held.quantity
    assert held.exchange_entry_price == held.average_entry
    usdt = Balance.objects.get(portfolio=futures_portfolio, asset="USDT")
    assert usdt.free + usdt.locked < Decimal("10000")  # the fee was paid from the wallet
    assert usdt.locked > 0  # the position's margin


def test_a_spot_account_refuses_futures_orders(portfolio):
    with pytest.raises(OrderRefused, match="cannot place futures orders"):
        futures_order(portfolio, "BUY")


@pytest.mark.slow
def test_the_futures_user_stream_books_fills_and_triggered_stops_without_adopting_twice(
        futures_portfolio, local_venue, local_binance, fast_socket_exit):
    from orders.userdata import UserStream
    from tests.support.servers import running_in_thread, wait_until

    stream = UserStream(account_id=futures_portfolio.exchange_account_id, venue=local_venue,
                        api_key=local_binance.api_key, api_secret=local_binance.api_secret,
                        market="futures")
    with running_in_thread(stream):
        wait_until(lambda: stream.connected, timeout=10, what="the futures user stream")
        price = local_binance.price("BTCUSDT")
        limit = futures_order(futures_portfolio, "BUY", "LIMIT", price=price - 50,
                              time_in_force="GTC")
        stop = futures_order(futures_portfolio, "SELL", "STOP_MARKET", reduce_only=True,
                             stop_price=price - 200)
        local_binance.clear_requests()
        local_binance.emit_trade("BTCUSDT", limit.price, "1")
        wait_until(lambda: Order.objects.get(pk=limit.pk).status == S.FILLED, timeout=10,
                   what="the limit fill over the stream")
        local_binance.set_price("BTCUSDT", price - 250)
        wait_until(lambda: Order.objects.get(pk=stop.pk).status == S.FILLED, timeout=10,
                   what="the triggered stop over ALGO_UPDATE")
        wait_until(lambda: position(futures_portfolio).exchange_quantity == 0, timeout=10,
                   what="ACCOUNT_UPDATE")

    assert local_binance.requests("GET", "/fapi/v1/order",
                                  origClientOrderId=limit.client_order_id) == []
    assert Order.objects.filter(portfolio=futures_portfolio).count() == 2  # nothing adopted
    assert position(futures_portfolio).quantity == 0
