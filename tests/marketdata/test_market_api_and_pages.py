"""Market-data endpoints and pages (without a browser; the browser test is separate)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache

from marketdata import live
from marketdata.models import Kline, Symbol, WatchedSymbol

pytestmark = pytest.mark.django_db

START = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def candles():
    rows = []
    for i in range(120):
        price = Decimal(60000 + i)
        rows.append(Kline(market="spot", symbol="BTCUSDT", interval="1m",
                          open_time=START + timedelta(minutes=i),
                          close_time=START + timedelta(minutes=i + 1, milliseconds=-1),
                          open=price, high=price + 5, low=price - 5, close=price + 1,
                          volume=Decimal("1.5")))
    return Kline.objects.bulk_create(rows)


@pytest.fixture
def logged_in(client, trader):
    client.force_login(trader)
    return client


def test_candles_come_in_pages_oldest_first(logged_in, candles):
    first = logged_in.get("/api/candles/", {"symbol": "btcusdt", "interval": "1m",
                                            "limit": 100}).json()
    second = logged_in.get(first["next"]).json()

    assert len(first["results"]) == 100
    assert first["results"][0]["open"] == "60000.000000000000000000"
    assert len(second["results"]) == 20
    assert second["next"] is None
    assert second["results"][0]["open_time"] > first["results"][-1]["open_time"]


def test_candles_can_be_asked_for_a_time_range(logged_in, candles):
    body = logged_in.get("/api/candles/", {
        "symbol": "BTCUSDT", "interval": "1m", "from": "2024-03-01T00:10:00Z",
        "to": "2024-03-01T00:19:00Z"}).json()

    assert len(body["results"]) == 10
    assert body["results"][0]["open_time"].startswith("2024-03-01T00:10:00")


def test_candle_queries_are_checked_in_words(logged_in):
    response = logged_in.get("/api/candles/", {"symbol": "BTCUSDT", "interval": "7m"})

    assert response.status_code == 400
    assert "interval" in response.json()


def test_the_api_needs_a_login(client):
    answer = client.get("/api/candles/", {"symbol": "BTCUSDT", "interval": "1m"})
    assert answer.status_code == 401  # not signed in (a token or the session)


def test_symbols_are_listed_with_their_filters(logged_in):
    Symbol.objects.create(market="spot", name="BTCUSDT", status="TRADING", base_asset="BTC",
                          quote_asset="USDT", synced_at=START,
                          exchange_info={"filters": [{"filterType": "PRICE_FILTER"}]})

    body = logged_in.get("/api/symbols/", {"quote": "usdt"}).json()

    assert body["results"][0]["name"] == "BTCUSDT"
    assert body["results"][0]["filters"] == [{"filterType": "PRICE_FILTER"}]
    assert logged_in.get("/api/symbols/BTCUSDT/").status_code == 200


def test_one_symbol_is_read_in_spot_unless_another_market_is_named(logged_in):
    for market, status in (("spot", "TRADING"), ("futures", "BREAK")):
        Symbol.objects.create(market=market, name="BTCUSDT", status=status, base_asset="BTC",
                              quote_asset="USDT", synced_at=START, exchange_info={})

    assert logged_in.get("/api/symbols/BTCUSDT/").json()["status"] == "TRADING"
    assert logged_in.get("/api/symbols/BTCUSDT/", {"market": "futures"}).json()["status"] == (
        "BREAK")
    assert logged_in.get("/api/symbols/ETHUSDT/").status_code == 404


def test_tickers_report_the_stream_state(logged_in):
    WatchedSymbol.objects.update_or_create(market="spot", symbol="BTCUSDT")
    cache.set(live.ticker_key("spot", "BTCUSDT"), {"symbol": "BTCUSDT", "price": "64000.01"})
    cache.delete(live.status_key("spot"))

    rows = logged_in.get("/api/tickers/").json()["results"]

    btc = next(row for row in rows if row["symbol"] == "BTCUSDT")
    assert btc["price"] == "64000.01"
    assert btc["stale"] is True  # no stream process reports


def test_chart_data_carries_candles_and_the_indicator_series(logged_in, candles):
    body = logged_in.get("/market/spot/BTCUSDT/chart-data", {"interval": "1m"}).json()

    assert len(body["candles"]) == 120
    assert len(body["overlays"]["sma20"]) == 120 - 19
    assert len(body["overlays"]["sma50"]) == 120 - 49
    assert {"rsi", "macd", "macd_signal", "macd_hist"} <= body["panes"].keys()


def test_the_market_pages_render(logged_in, candles):
    WatchedSymbol.objects.update_or_create(market="spot", symbol="BTCUSDT")

    assert "BTCUSDT" in logged_in.get("/market/").content.decode()
    page = logged_in.get("/market/spot/BTCUSDT/").content.decode()
    assert 'id="chart"' in page
    assert logged_in.get("/market/spot/NOSUCHCOIN/").status_code == 404
    assert logged_in.get("/market/quality/").status_code == 200
