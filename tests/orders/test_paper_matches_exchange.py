"""Paper trading and the local Binance book the same positions and PnL for the same orders on
the same prices, with the same fee rates and no slippage."""

from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.core.cache import cache

from marketdata import live
from orders.fillmodel import Trade
from orders.models import Position
from orders.services import order_place, orders_reconcile, paper_deposit, paper_orders_match
from portfolios.models import Portfolio

pytestmark = pytest.mark.django_db(transaction=True)
TOLERANCE = D("0.00000002")  # each side rounds its commissions to 8 decimals


def show_price(price):
    """What the paper venue reads as the market; the fake exchange has its own price path."""
    cache.set(live.ticker_key("spot", "BTCUSDT"), {"symbol": "BTCUSDT", "price": str(price)})


def trade_sequence(portfolio, price, *, trade_through):
    show_price(price)
    order_place(portfolio=portfolio, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                quantity=D("0.02"))
    target = (price * D("1.01")).quantize(D("0.01"))
    order_place(portfolio=portfolio, symbol="BTCUSDT", side="SELL", order_type="LIMIT",
                quantity=D("0.01"), price=target, time_in_force="GTC")
    trade_through(target)
    show_price(target)
    order_place(portfolio=portfolio, symbol="BTCUSDT", side="SELL", order_type="MARKET",
                quantity=D("0.005"))
    return Position.objects.get(portfolio=portfolio, symbol="BTCUSDT")


def test_paper_and_the_exchange_book_the_same_position_and_pnl(portfolio, local_binance,
                                                              trader):
    paper = Portfolio.objects.create(owner=trader, name="paper twin")
    paper_deposit(portfolio=paper, asset="USDT", amount=D("10000"))
    price = local_binance.price("BTCUSDT")

    def through_the_exchange(target):
        local_binance.emit_trade("BTCUSDT", target, "1")
        orders_reconcile(portfolio=portfolio)  # books the limit's fill

    def through_paper(target):
        paper_orders_match(market="spot", symbol="BTCUSDT",
                           trade=Trade(price=target, qty=D("1"), time=datetime.now(tz=UTC)))

    on_exchange = trade_sequence(portfolio, price, trade_through=through_the_exchange)
    on_paper = trade_sequence(paper, price, trade_through=through_paper)

    assert on_exchange.quantity > 0
    for field in ("quantity", "cost", "realised_pnl", "fees_paid"):
        difference = abs(getattr(on_paper, field) - getattr(on_exchange, field))
        assert difference <= TOLERANCE, (field, getattr(on_paper, field),
                                         getattr(on_exchange, field))
