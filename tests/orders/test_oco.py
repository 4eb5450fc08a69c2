"""OCO order lists: two legs saved with our ids and the list's before one POST; one leg
filling or triggering ends the other, on the local Binance and on paper alike."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.core.cache import cache

from marketdata import live
from marketdata.services import symbols_sync
from orders.fillmodel import Trade
from orders.models import Balance, OrderStatus
from orders.services import (
    OrderRefused,
    oco_place,
    order_cancel,
    order_resolve,
    paper_deposit,
    paper_orders_match,
)
from portfolios.models import Portfolio
from tests.orders.ordering import market_buy

pytestmark = pytest.mark.django_db(transaction=True)
S = OrderStatus


def sell_oco(portfolio, last, qty="0.01"):
    return oco_place(portfolio=portfolio, symbol="BTCUSDT", side="SELL", quantity=D(qty),
                     price=(last * D("1.05")).quantize(D("0.01")),
                     stop_price=(last * D("0.95")).quantize(D("0.01")),
                     stop_limit_price=(last * D("0.94")).quantize(D("0.01")))


def fresh(order):
    order.refresh_from_db()
    return order


def test_an_oco_is_sent_once_as_a_list_under_our_ids(portfolio, local_binance):
    market_buy(portfolio, qty="0.02")
    limit, stop = sell_oco(portfolio, local_binance.price("BTCUSDT"))

    sent = local_binance.requests("POST", "/api/v3/orderList/oco")
    assert len(sent) == 1
    assert sent[0].params["listClientOrderId"] == limit.list_client_order_id
    assert sent[0].params["aboveClientOrderId"] == limit.client_order_id
    assert sent[0].params["belowClientOrderId"] == stop.client_order_id
    assert (limit.status, stop.status) == (S.NEW, S.NEW)
    assert limit.other_leg() == stop


def test_the_take_profit_leg_fills_and_the_stop_leg_ends(portfolio, local_binance):
    market_buy(portfolio, qty="0.02")
    limit, stop = sell_oco(portfolio, local_binance.price("BTCUSDT"))

    local_binance.set_price("BTCUSDT", limit.price + 1)
    limit, stop = order_resolve(order=limit), order_resolve(order=stop)

    assert limit.status == S.FILLED
    assert limit.executed_qty == D("0.01")
    assert stop.status == S.EXPIRED
    assert stop.fills.count() == 0


def test_cancelling_one_leg_cancels_the_list_with_one_request(portfolio, local_binance):
    market_buy(portfolio, qty="0.02")
    limit, stop = sell_oco(portfolio, local_binance.price("BTCUSDT"))

    order_cancel(order=stop)

    assert (fresh(limit).status, fresh(stop).status) == (S.CANCELED, S.CANCELED)
    assert len(local_binance.requests("DELETE", "/api/v3/order")) == 1


def test_a_lost_list_answer_is_settled_leg_by_leg_never_resent(portfolio, local_binance):
    market_buy(portfolio, qty="0.02")
    local_binance.inject("timeout", method="POST", path="/api/v3/orderList/oco")
    limit, stop = sell_oco(portfolio, local_binance.price("BTCUSDT"))
    assert (fresh(limit).status, fresh(stop).status) == (S.UNKNOWN, S.UNKNOWN)

    limit, stop = order_resolve(order=limit), order_resolve(order=stop)

    assert (limit.status, stop.status) == (S.NEW, S.NEW)
    assert len(local_binance.requests("POST", "/api/v3/orderList/oco")) == 1


def test_legs_on_the_wrong_side_of_the_market_are_refused_in_words(portfolio, local_binance):
    last = local_binance.price("BTCUSDT")
    with pytest.raises(OrderRefused, match="limit price above its stop price"):
        oco_place(portfolio=portfolio, symbol="BTCUSDT", side="SELL", quantity=D("0.01"),
                  price=last * D("0.9"), stop_price=last * D("0.95"),
                  stop_limit_price=last * D("0.94"))


# --- paper -----------------------------------------------------------------------------------

@pytest.fixture
def paper(trader, local_venue):
    symbols_sync(market="spot", venue=local_venue)
    portfolio = Portfolio.objects.create(owner=trader, name="paper")
    paper_deposit(portfolio=portfolio, asset="BTC", amount=D("1"))
    cache.set(live.ticker_key("spot", "BTCUSDT"),
              {"symbol": "BTCUSDT", "price": "60000", "bid": "59990", "ask": "60010"})
    return portfolio


def btc(portfolio):
    row = Balance.objects.get(portfolio=portfolio, asset="BTC")
    return row.free, row.locked


def print_at(price):
    paper_orders_match(market="spot", symbol="BTCUSDT",
                       trade=Trade(price=D(price), qty=D("10"), time=datetime.now(tz=UTC)))


def test_a_paper_oco_reserves_once_and_its_stop_ends_the_limit_leg(paper):
    limit, stop = sell_oco(paper, D("60000"), qty="0.5")
    assert btc(paper) == (D("0.5"), D("0.5"))  # one reservation for the list, not two

    print_at("56900")  # below the stop (57000): the stop leg triggers and fills at its limit

    assert fresh(limit).status == S.CANCELED
    assert fresh(stop).status == S.FILLED
    assert btc(paper) == (D("0.5"), D("0"))  # nothing left locked


def test_cancelling_a_paper_oco_leg_cancels_both_and_frees_the_reservation(paper):
    limit, stop = sell_oco(paper, D("60000"), qty="0.5")

    order_cancel(order=limit)

    assert (fresh(limit).status, fresh(stop).status) == (S.CANCELED, S.CANCELED)
    assert btc(paper) == (D("1"), D("0"))
