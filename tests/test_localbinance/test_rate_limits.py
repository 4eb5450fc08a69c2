"""Request weight and order-count limits answer 429 like Binance."""

from __future__ import annotations

import time

import pytest
from binance.exceptions import BinanceAPIException

from tests.localbinance import ServerConfig


def avoid_window_edge(window_ms: int) -> None:
    """Counts use clock-aligned windows; don't start a test just before one rolls over."""
    remaining = window_ms - int(time.time() * 1000) % window_ms
    if remaining < 2_000:
        time.sleep(remaining / 1000 + 0.05)


def test_order_count_limit(client):
    avoid_window_edge(10_000)
    for i in range(50):
        client.order_limit_buy(symbol="BTCUSDT", quantity="0.002", price="8000.00")
        assert client.response.headers["X-MBX-ORDER-COUNT-10S"] == str(i + 1)
    with pytest.raises(BinanceAPIException) as exc:
        client.order_limit_buy(symbol="BTCUSDT", quantity="0.002", price="8000.00")
    assert (exc.value.status_code, exc.value.code) == (429, -1015)
    assert exc.value.message == "Too many new orders; current limit is 50 orders per 10 SECOND."
    assert 1 <= int(client.response.headers["Retry-After"]) <= 10


def test_request_weight_limit(client):
    avoid_window_edge(60_000)
    for _ in range(23):  # 1 (the client's ping) + 23 * 250 = 5751
        client.get_order_book(symbol="BTCUSDT", limit=5000)
    with pytest.raises(BinanceAPIException) as exc:
        client.get_order_book(symbol="BTCUSDT", limit=5000)
    assert (exc.value.status_code, exc.value.code) == (429, -1003)
    assert exc.value.message == (
        "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API."
    )
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "6001"


class TestReportOnly:
    @pytest.fixture
    def local_binance_config(self) -> ServerConfig:
        return ServerConfig(enforce_rate_limits=False)

    def test_limits_can_be_reported_only(self, client):
        avoid_window_edge(60_000)
        for _ in range(26):
            client.get_order_book(symbol="BTCUSDT", limit=5000)
        assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "6501"
