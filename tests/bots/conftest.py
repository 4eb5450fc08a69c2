"""A paper portfolio with a budget, a designed candle path in the database, and a market that
looks live (fresh stream status and ticker), so a bot's tick can be driven directly."""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.core.cache import cache

from marketdata import live
from marketdata.models import Kline
from marketdata.services import symbols_sync
from orders.services import paper_deposit
from portfolios.models import Portfolio
from tests.support.fake_ollama import fake_ollama  # noqa: F401 (a fixture for these tests)
from tests.support.feed_server import feed_server  # noqa: F401 (a fixture for these tests)

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
# Ten falling closes, then a jump: SMA(2) crosses above SMA(3) on the last candle.
CROSSING_CLOSES = [110 - n for n in range(10)] + [120]


def store_candles(closes, *, symbol="BTCUSDT", start=START):
    for n, close in enumerate(closes):
        opened = start + timedelta(minutes=n)
        Kline.objects.create(market="spot", symbol=symbol, interval="1m", open_time=opened,
                             close_time=opened + timedelta(seconds=59, microseconds=999000),
                             open=D(close), high=D(close) + 1, low=D(close) - 1,
                             close=D(close), volume=D("10"))
    return start + timedelta(minutes=len(closes) - 1)


def market_is_live(symbol="BTCUSDT", price="120"):
    cache.set(live.status_key("spot"), {"updated_at": time.time(), "connected": True,
                                        "symbols": {symbol: {"stale": False}}})
    cache.set(live.ticker_key("spot", symbol),
              {"symbol": symbol, "price": price, "bid": price, "ask": price})


@pytest.fixture
def paper_portfolio(trader, local_venue):
    symbols_sync(market="spot", venue=local_venue)
    portfolio = Portfolio.objects.create(owner=trader, name="paper bots",
                                         total_budget=D("1000"))
    paper_deposit(portfolio=portfolio, asset="USDT", amount=D("10000"))
    market_is_live()
    yield portfolio
    # The market's "live" state lives in the cache: it must not leak into other tests.
    cache.delete_many([live.status_key("spot"), live.ticker_key("spot", "BTCUSDT")])


@pytest.fixture
def crossing_candle(paper_portfolio):
    """The open time of the candle whose close makes SMA(2) cross above SMA(3)."""
    return store_candles(CROSSING_CLOSES)
