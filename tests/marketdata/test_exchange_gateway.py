"""The exchange layer against the local Binance: python-binance unchanged, over loopback."""

import asyncio
import time

import pytest
from django.core.cache import cache

from marketdata.exchange import limits
from marketdata.exchange.clients import build_async_client, build_client, build_socket_manager
from marketdata.exchange.errors import (
    CircuitOpen,
    ClockSkew,
    DefiniteRejection,
    RateLimited,
    RetryableError,
    UnknownOutcome,
)
from marketdata.exchange.gateway import BinanceGateway

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}


@pytest.fixture
def gateway(local_venue, local_binance):
    return BinanceGateway(local_venue, api_key=local_binance.api_key,
                          api_secret=local_binance.api_secret)


def posts(local_binance, path="/api/v3/order"):
    return local_binance.requests("POST", path)


def paths(local_binance) -> list[str]:
    return [request.path for request in local_binance.requests()]


def test_a_local_venue_client_reaches_every_market(local_venue, local_binance):
    client = build_client(local_venue, api_key=local_binance.api_key,
                          api_secret=local_binance.api_secret)

    assert client.ping() == {}
    assert "BTCUSDT" in {s["symbol"] for s in client.get_exchange_info()["symbols"]}
    assert client.futures_exchange_info()["symbols"]
    assert {b["asset"] for b in client.get_account()["balances"]} >= {"USDT", "BTC"}


def test_async_client_and_socket_manager_receive_a_kline(local_venue, local_binance,
                                                         fast_socket_exit):
    async def scenario():
        client = await build_async_client(local_venue)
        try:
            manager = build_socket_manager(local_venue, client)
            async with manager.kline_socket("BTCUSDT", interval="1m") as stream:
                await asyncio.to_thread(local_binance.advance, 1)
                return await asyncio.wait_for(stream.recv(), 5)
        finally:
            await client.close_connection()

    message = asyncio.run(scenario())

    assert message["e"] == "kline"
    assert message["s"] == "BTCUSDT"


def test_a_429_pauses_every_gateway_of_the_venue_for_retry_after(gateway, local_venue,
                                                                 local_binance):
    local_binance.inject("rate_limit", path="/api/v3/ticker/price", retry_after=2)

    with pytest.raises(RateLimited) as raised:
        gateway.call("get_symbol_ticker", symbol="BTCUSDT")
    assert raised.value.retry_after == 2

    other_process = BinanceGateway(local_venue)  # shares the pause through the cache
    started = time.monotonic()
    other_process.call("get_symbol_ticker", symbol="BTCUSDT")
    assert time.monotonic() - started >= 1.8


def test_a_418_ban_refuses_calls_without_sending_them(gateway, local_binance):
    local_binance.inject("ban", path="/api/v3/account", retry_after=120)
    with pytest.raises(RateLimited) as first:
        gateway.call("get_account")
    assert first.value.banned
    local_binance.clear_requests()

    with pytest.raises(RateLimited, match="pause"):
        gateway.call("get_symbol_ticker", symbol="BTCUSDT")
    assert local_binance.requests() == []


def test_a_1021_is_resent_once_after_a_clock_resync(gateway, local_binance):
    local_binance.inject("timestamp", path="/api/v3/account", count=1)

    account = gateway.call("get_account")

    assert account["balances"]
    calls = paths(local_binance)
    assert calls.count("/api/v3/account") == 2
    assert "/api/v3/time" in calls


def test_a_second_1021_is_not_resent_again(gateway, local_binance):
    local_binance.inject("timestamp", path="/api/v3/account", count=2)

    with pytest.raises(ClockSkew):
        gateway.call("get_account")
    assert paths(local_binance).count("/api/v3/account") == 2


def test_a_filter_failure_is_never_retried_and_asks_for_fresh_filters(gateway, local_binance):
    cache.delete("binance:symbols_refresh:spot")

    with pytest.raises(DefiniteRejection) as raised:
        gateway.call("create_order", **{**ORDER, "quantity": "0.0000001"})

    assert raised.value.code == -1013
    assert "LOT_SIZE" in raised.value.message
    assert len(posts(local_binance)) == 1
    assert cache.get("binance:symbols_refresh:spot") == 1


@pytest.mark.parametrize("fault", ["timeout", "server_error", "drop"])
def test_an_order_whose_answer_is_lost_is_an_unknown_outcome_sent_once(gateway, local_binance,
                                                                      fault):
    local_binance.inject(fault, method="POST", path="/api/v3/order")

    with pytest.raises(UnknownOutcome):
        gateway.call("create_order", **ORDER, newClientOrderId="ours-1")

    assert len(posts(local_binance)) == 1
    order = gateway.call("get_order", symbol="BTCUSDT", origClientOrderId="ours-1")
    assert order["status"] == "FILLED"  # it did execute: only querying could tell


def test_a_5xx_on_a_read_is_retryable_not_unknown(gateway, local_binance):
    local_binance.inject("server_error", path="/api/v3/account")

    with pytest.raises(RetryableError) as raised:
        gateway.call("get_account")
    assert not isinstance(raised.value, UnknownOutcome)


def test_the_circuit_opens_after_repeated_failures_and_closes_after_a_probe(
        gateway, local_binance, monkeypatch):
    monkeypatch.setattr(gateway.breaker, "reset_after", 0.5)
    local_binance.inject("server_error", path="/api/v3/account", count=5)
    for _ in range(5):
        with pytest.raises(RetryableError):
            gateway.call("get_account")
    local_binance.clear_requests()

    with pytest.raises(CircuitOpen):
        gateway.call("get_account")
    assert local_binance.requests() == []

    time.sleep(0.6)
    assert gateway.call("get_account")["balances"]  # the probe
    assert gateway.breaker.state() == "closed"


def test_the_limiter_adopts_binance_counts_and_rate_limits(gateway, local_binance):
    info = gateway.call("get_exchange_info")
    gateway.limiter("spot").adopt_rate_limits(info["rateLimits"])

    reported = int(gateway.client.response.headers["X-MBX-USED-WEIGHT-1M"])
    assert gateway.limiter("spot").used("X-MBX-USED-WEIGHT-1M") >= reported
    assert {w.header for w in gateway.limiter("spot").windows} >= {"X-MBX-USED-WEIGHT-1M"}


def test_a_spent_budget_waits_for_the_next_window(local_venue, monkeypatch):
    now = [1_000_000.0]
    slept = []
    limiter = limits.RateLimiter(local_venue.key, "spot", clock=lambda: now[0],
                                 sleep=slept.append)
    limiter.adopt_rate_limits([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                "intervalNum": 1, "limit": 10}])
    monkeypatch.setattr(limits, "MAX_BLOCKING_WAIT", 120)

    limiter.acquire(9)
    limiter.acquire(1)

    assert slept == [pytest.approx(60 - now[0] % 60)]
