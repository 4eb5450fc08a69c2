"""Paper trading through the same order path: fills from the fill model on live prices,
balances locked and moved, resting orders matched by the stream's prints."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.core.cache import cache

from marketdata import live
from marketdata.services import symbols_sync
from orders.fillmodel import Trade
from orders.models import Balance, Order, OrderStatus, Position
from orders.services import (
    OrderRefused,
    order_cancel,
    order_place,
    orders_reconcile,
    paper_deposit,
    paper_orders_match,
)
from portfolios.models import Portfolio

pytestmark = pytest.mark.django_db
S = OrderStatus


@pytest.fixture
def paper(trader, local_venue):
    symbols_sync(market="spot", venue=local_venue)
    portfolio = Portfolio.objects.create(owner=trader, name="paper", slippage_bps=D("10"))
    paper_deposit(portfolio=portfolio, asset="USDT", amount=D("10000"))
    cache.set(live.ticker_key("spot", "BTCUSDT"),
              {"symbol": "BTCUSDT", "price": "60000", "bid": "59990", "ask": "60010"})
    return portfolio


def balance(portfolio, asset):
    row = Balance.objects.filter(portfolio=portfolio, asset=asset).first()
    return (row.free, row.locked) if row else (D("0"), D("0"))


def trade(price, qty):
    return Trade(price=D(price), qty=D(qty), time=datetime.now(tz=UTC))


def test_a_paper_market_buy_fills_at_the_ask_plus_slippage_and_pays_fees(paper):
    order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                        quantity=D("0.1"))

    assert order.status == S.FILLED
    fill = order.fills.get()
    assert fill.price == D("60070.01")  # 60010 + 10 bps, rounded against the buyer
    assert fill.commission == D("0.0001")  # 0.1 % of 0.1 BTC, in BTC
    assert balance(paper, "BTC") == (D("0.0999"), 0)
    assert balance(paper, "USDT") == (D("10000") - fill.quote_quantity, 0)
    assert Position.objects.get(portfolio=paper).quantity == D("0.0999")


def test_a_paper_order_beyond_the_balance_is_refused_in_binances_words(paper):
    order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                        quantity=D("1"))

    assert order.status == S.REJECTED
    assert "insufficient balance" in order.reason
    assert balance(paper, "USDT") == (D("10000"), 0)


def test_a_resting_limit_locks_funds_fills_by_trades_and_frees_the_rest(paper):
    order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                        quantity=D("0.1"), price=D("59000"), time_in_force="GTC")
    assert order.status == S.NEW
    assert balance(paper, "USDT") == (D("4100"), D("5900"))

    paper_orders_match(market="spot", symbol="BTCUSDT", trade=trade("59500", "1"))
    assert Order.objects.get(pk=order.pk).status == S.NEW  # not crossed
    paper_orders_match(market="spot", symbol="BTCUSDT", trade=trade("58990", "0.04"))
    order.refresh_from_db()
    assert (order.status, order.executed_qty) == (S.PARTIALLY_FILLED, D("0.04"))
    assert order.fills.get().is_maker

    order_cancel(order=order)
    assert Order.objects.get(pk=order.pk).status == S.CANCELED
    assert balance(paper, "USDT") == (D("10000") - D("0.04") * D("59000"), 0)
    assert balance(paper, "BTC")[0] == D("0.04") - D("0.00004")


def test_paper_orders_survive_a_restart_and_fill_afterwards(paper):
    order = order_place(portfolio=paper, symbol="BTCUSDT", side="SELL", order_type="LIMIT",
                        quantity=D("0.05"), price=D("61000"), time_in_force="GTC")
    assert order.status == S.REJECTED  # nothing to sell yet

    order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                quantity=D("0.1"))
    sell = order_place(portfolio=paper, symbol="BTCUSDT", side="SELL", order_type="LIMIT",
                       quantity=D("0.05"), price=D("61000"), time_in_force="GTC")
    # "Restart": nothing is held in memory; the order is only its row.
    assert orders_reconcile(portfolio=paper)["settled"] == 0

    paper_orders_match(market="spot", symbol="BTCUSDT", trade=trade("61000", "1"))

    sell.refresh_from_db()
    assert sell.status == S.FILLED
    position = Position.objects.get(portfolio=paper)
    assert position.quantity == D("0.0999") - D("0.05")
    assert position.realised_pnl > 0


def test_a_paper_order_without_a_live_price_is_refused(paper):
    cache.delete(live.ticker_key("spot", "BTCUSDT"))

    order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                        quantity=D("0.1"))

    assert order.status == S.REJECTED
    assert "no live price" in order.reason


def test_deposits_are_for_paper_portfolios_only(portfolio):
    with pytest.raises(OrderRefused):
        paper_deposit(portfolio=portfolio, asset="USDT", amount=D("1"))


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_the_stream_fills_a_resting_paper_order_when_the_market_trades_through(
        paper, local_venue, local_binance, settings, fast_socket_exit):
    from marketdata.models import WatchedSymbol
    from marketdata.stream_runner import build_supervisor
    from marketdata.stream_sink import PlatformSink
    from tests.support.servers import running_in_thread as running
    from tests.support.servers import wait_until

    WatchedSymbol.objects.update_or_create(market="spot", symbol="BTCUSDT",
                                           defaults={"intervals": "1m", "active": True})
    settings.STREAM_RESUBSCRIBE_SECONDS = 0.5
    price = local_binance.price("BTCUSDT")
    cache.set(live.ticker_key("spot", "BTCUSDT"), {"symbol": "BTCUSDT", "price": str(price)})
    limit = (price * D("0.99")).quantize(D("0.01"))
    order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                        quantity=D("0.01"), price=limit, time_in_force="GTC")
    assert order.status == S.NEW
    supervisor = build_supervisor("spot", venue=local_venue,
                                  sink=PlatformSink(push_interval=0.05, repair=None))

    with running(supervisor):
        wait_until(lambda: supervisor.connection is not None, timeout=10, what="the stream")
        local_binance.emit_trade("BTCUSDT", limit - 1, "1")
        wait_until(lambda: Order.objects.get(pk=order.pk).status == S.FILLED, timeout=10,
                   what="the paper fill")


def test_fees_are_paid_in_bnb_at_a_quarter_off_while_the_portfolio_holds_enough(paper):
    paper.pay_fees_in_bnb = True
    paper.save()
    paper_deposit(portfolio=paper, asset="BNB", amount=D("1"))
    cache.set(live.ticker_key("spot", "BNBUSDT"), {"symbol": "BNBUSDT", "price": "600"})

    order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                        quantity=D("0.1"))

    fill = order.fills.get()
    assert fill.commission_asset == "BNB"
    # 0.1 % of the notional, a quarter off, in BNB at 600 USDT
    assert fill.commission == (fill.quote_quantity * D("0.00075") / 600).quantize(D("1e-8"))
    assert balance(paper, "BTC") == (D("0.1"), 0)  # nothing taken from what was bought
    assert balance(paper, "BNB")[0] == 1 - fill.commission
    position = Position.objects.get(portfolio=paper, symbol="BTCUSDT")
    assert position.fees_paid == fill.commission * 600  # valued in USDT for the PnL


def test_without_enough_bnb_the_fee_falls_back_to_the_received_asset(paper):
    paper.pay_fees_in_bnb = True
    paper.save()
    cache.set(live.ticker_key("spot", "BNBUSDT"), {"symbol": "BNBUSDT", "price": "600"})

    order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                        quantity=D("0.1"))

    assert order.fills.get().commission_asset == "BTC"


def test_a_paper_portfolio_refuses_futures_orders_in_words(paper):
    with pytest.raises(OrderRefused, match="paper portfolios trade spot only"):
        order_place(portfolio=paper, market="futures", symbol="BTCUSDT", side="SELL",
                    order_type="MARKET", quantity=D("0.1"))
    assert not Order.objects.exists()
