"""Spot public endpoints answer like the documented/real Binance payloads."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from .helpers import assert_shape, run, shared


def test_ping_and_time(client, local_binance):
    assert client.ping() == shared("spot/rest/ping.docs.json")
    assert_shape(client.get_server_time(), shared("spot/rest/time.docs.json"))


def test_exchange_info_serves_real_filters(client):
    info = client.get_exchange_info()
    real = shared("spot/rest/exchangeInfo.real-2021-10-12.subset.json")
    assert_shape(info, real)
    btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
    assert btc == next(s for s in real["symbols"] if s["symbol"] == "BTCUSDT")
    assert {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT"}
    assert client.get_symbol_info("ETHUSDT")["baseAsset"] == "ETH"


def test_exchange_info_filters_by_symbol(local_binance):
    url = f"{local_binance.rest_url}/api/v3/exchangeInfo"
    one = requests.get(url, params={"symbol": "ETHUSDT"}, timeout=5).json()
    assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
    unknown = requests.get(url, params={"symbol": "NOPEUSDT"}, timeout=5)
    assert unknown.status_code == 400
    assert unknown.json() == {"code": -1121, "msg": "Invalid symbol."}


def test_klines_history_and_replay(client, local_binance):
    rows = client.get_klines(symbol="BTCUSDT", interval="1m", limit=5)
    assert_shape(rows, shared("spot/rest/klines.real-BTCUSDT-1m.json"))
    assert len(rows) == 5
    local_binance.advance(3)
    newer = client.get_klines(symbol="BTCUSDT", interval="1m", limit=5)
    assert newer[-1][0] == rows[-1][0] + 3 * 60_000
    assert [r[0] for r in newer] == sorted(r[0] for r in newer)


def test_klines_aggregate_and_time_window(client):
    rows = client.get_klines(symbol="BTCUSDT", interval="5m", limit=3)
    assert all(r[0] % 300_000 == 0 and r[6] == r[0] + 299_999 for r in rows)
    first = client.get_klines(symbol="BTCUSDT", interval="1m", limit=1)[0][0]
    window = client.get_klines(symbol="BTCUSDT", interval="1m", startTime=first - 120_000, limit=2)
    assert [r[0] for r in window] == [first - 120_000, first - 60_000]
    with pytest.raises(BinanceAPIException) as exc:
        client.get_klines(symbol="BTCUSDT", interval="7m")
    assert exc.value.code == -1120


def test_tickers(client, local_binance):
    local_binance.set_price("BTCUSDT", "9200.5")
    assert_shape(
        client.get_ticker(symbol="BTCUSDT"), shared("spot/rest/ticker_24hr.FULL.single.docs.json")
    )
    assert client.get_ticker(symbol="BTCUSDT")["lastPrice"] == "9200.50000000"
    mini = client._get("ticker/24hr", data={"symbol": "BTCUSDT", "type": "MINI"})
    assert_shape(mini, shared("spot/rest/ticker_24hr.MINI.single.docs.json"))
    assert_shape(client.get_ticker(), shared("spot/rest/ticker_24hr.FULL.list.docs.json"))
    book = client.get_orderbook_ticker(symbol="BTCUSDT")
    assert_shape(book, shared("spot/rest/ticker_bookTicker.real-BTCUSDT.json"))
    assert Decimal(book["askPrice"]) - Decimal(book["bidPrice"]) == Decimal("0.01")
    assert_shape(
        client.get_orderbook_tickers(), shared("spot/rest/ticker_bookTicker.list.docs.json")
    )
    assert client.get_symbol_ticker(symbol="BTCUSDT") == {
        "symbol": "BTCUSDT",
        "price": "9200.50000000",
    }
    assert_shape(client.get_all_tickers(), shared("spot/rest/ticker_price.list.docs.json"))
    assert_shape(client.get_avg_price(symbol="BTCUSDT"), shared("spot/rest/avgPrice.docs.json"))


def test_depth(client, local_binance):
    depth = client.get_order_book(symbol="BTCUSDT", limit=10)
    assert_shape(depth, shared("spot/rest/depth.real-BTCUSDT-limit10.json"))
    assert len(depth["bids"]) == len(depth["asks"]) == 10
    best_bid, best_ask = Decimal(depth["bids"][0][0]), Decimal(depth["asks"][0][0])
    assert best_ask - best_bid == Decimal("0.01")
    before = depth["lastUpdateId"]
    local_binance.set_price("BTCUSDT", "9300")
    assert client.get_order_book(symbol="BTCUSDT")["lastUpdateId"] > before


def test_rest_headers(local_binance):
    response = requests.get(f"{local_binance.rest_url}/api/v3/exchangeInfo", timeout=5)
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["X-MBX-USED-WEIGHT-1M"] == "20"
    response = requests.get(
        f"{local_binance.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=1000", timeout=5
    )
    assert response.headers["X-MBX-USED-WEIGHT-1M"] == "70"
    assert requests.get(f"{local_binance.rest_url}/api/v3/nothing", timeout=5).status_code == 404


def test_async_client(local_binance, binance_urls):
    async def scenario():
        client = await AsyncClient.create(local_binance.api_key, local_binance.api_secret)
        try:
            assert abs(client.timestamp_offset) < 1000
            klines = await client.get_klines(symbol="ETHUSDT", interval="1m", limit=3)
            ticker = await client.get_symbol_ticker(symbol="ETHUSDT")
            return klines, ticker
        finally:
            await client.close_connection()

    klines, ticker = run(scenario())
    assert len(klines) == 3
    assert Decimal(ticker["price"]) == Decimal(klines[-1][4])
