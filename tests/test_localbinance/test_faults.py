"""Fault injection, observed through python-binance exactly as an application sees it."""

from __future__ import annotations

import asyncio
import time

import pytest
import requests
from binance import AsyncClient, BinanceSocketManager
from binance.client import Client
from binance.exceptions import BinanceAPIException

from .helpers import recv_until, run, shared

RESPONSES = {
    (r["body"]["code"], r["http_status"]): r["body"]["msg"] for r in shared("errors/responses.json")
}


def api_error(call, *args, **kwargs) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as exc:
        call(*args, **kwargs)
    return exc.value


def buy(client, client_order_id: str):
    return client.order_market_buy(
        symbol="BTCUSDT", quantity="0.002", newClientOrderId=client_order_id
    )


def test_rate_limit_for_n_requests(client, local_binance):
    local_binance.inject("rate_limit", path="/api/v3/account", count=2, retry_after=7)
    for _ in range(2):
        exc = api_error(client.get_account)
        assert (exc.status_code, exc.code) == (429, -1003)
        assert exc.message == RESPONSES[(-1003, 429)]
        assert client.response.headers["Retry-After"] == "7"
    assert client.get_symbol_ticker(symbol="BTCUSDT")  # other endpoints are unaffected
    assert "balances" in client.get_account()


def test_rate_limit_for_a_duration_and_ban(client, local_binance):
    local_binance.inject("rate_limit", duration=0.3)
    assert api_error(client.get_symbol_ticker, symbol="BTCUSDT").status_code == 429
    assert api_error(client.get_account).status_code == 429
    time.sleep(0.35)
    assert client.get_symbol_ticker(symbol="BTCUSDT")
    local_binance.inject("ban", retry_after=120)
    exc = api_error(client.get_account)
    assert (exc.status_code, exc.code) == (418, -1003)
    assert exc.message.startswith("Way too much request weight used; IP banned until ")
    assert client.response.headers["Retry-After"] == "120"


def test_forced_timestamp_rejection(client, local_binance):
    local_binance.inject("timestamp", method="POST", path="/api/v3/order")
    exc = api_error(buy, client, "ts-1")
    assert (exc.code, exc.message) == (
        -1021,
        "Timestamp for this request is outside of the recvWindow.",
    )
    assert client.get_all_orders(symbol="BTCUSDT") == []  # never reached the engine


@pytest.mark.parametrize(
    ("kind", "options", "status", "code"),
    [
        ("timeout", {}, 503, -1007),
        ("server_error", {"status": 502}, 502, 0),
        (
            "error",
            {
                "status": 500,
                "code": -1001,
                "msg": "Internal error; unable to process your request. Please try again.",
            },
            500,
            -1001,
        ),
    ],
)
def test_unknown_outcome_after_execution(client, local_binance, kind, options, status, code):
    local_binance.inject(kind, method="POST", path="/api/v3/order", phase="after", **options)
    exc = api_error(buy, client, "unknown-1")
    assert (exc.status_code, exc.code) == (status, code)
    if kind == "timeout":
        assert exc.message == RESPONSES[(-1007, 503)]
    order = client.get_order(symbol="BTCUSDT", origClientOrderId="unknown-1")
    assert order["status"] == "FILLED"  # the order was executed despite the error
    posts = local_binance.requests("POST", "/api/v3/order", newClientOrderId="unknown-1")
    assert [(p.status, p.fault) for p in posts] == [(status, kind)]


def test_dropped_connection_after_execution(client, local_binance):
    local_binance.inject("drop", method="POST", path="/api/v3/order")
    with pytest.raises(requests.exceptions.ConnectionError):
        buy(client, "dropped-1")
    assert client.get_order(symbol="BTCUSDT", origClientOrderId="dropped-1")["status"] == "FILLED"
    posts = local_binance.requests("POST", "/api/v3/order", newClientOrderId="dropped-1")
    assert [(p.status, p.fault) for p in posts] == [(None, "drop")]


def test_dropped_connection_before_execution(client, local_binance):
    local_binance.inject("drop", method="POST", path="/api/v3/order", phase="before")
    with pytest.raises(requests.exceptions.ConnectionError):
        buy(client, "dropped-2")
    assert (
        api_error(client.get_order, symbol="BTCUSDT", origClientOrderId="dropped-2").code == -2013
    )


def test_slow_response_times_out_client_but_executes(local_binance, binance_urls):
    local_binance.inject("delay", method="POST", path="/api/v3/order", seconds=0.6)
    impatient = Client(
        local_binance.api_key, local_binance.api_secret, requests_params={"timeout": 0.2}
    )
    with pytest.raises(requests.exceptions.ReadTimeout):
        buy(impatient, "slow-1")
    time.sleep(0.5)
    patient = Client(local_binance.api_key, local_binance.api_secret)
    assert patient.get_order(symbol="BTCUSDT", origClientOrderId="slow-1")["status"] == "FILLED"


def test_fresh_order_not_visible_for_n_queries(client, local_binance):
    local_binance.inject("order_not_found", method="POST", path="/api/v3/order", queries=3)
    order = buy(client, "lagging-1")
    for _ in range(3):
        exc = api_error(client.get_order, symbol="BTCUSDT", orderId=order["orderId"])
        assert (exc.code, exc.message) == (-2013, "Order does not exist.")
    assert client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "FILLED"
    later = buy(client, "lagging-2")  # the rule affected one fresh order
    assert client.get_order(symbol="BTCUSDT", orderId=later["orderId"])["status"] == "FILLED"


def test_order_lag_rule_only_counts_order_creation(client, local_binance):
    local_binance.inject("order_not_found", queries=1)  # any endpoint that creates orders
    client.get_account()
    order = buy(client, "lagging-3")
    assert api_error(client.get_order, symbol="BTCUSDT", orderId=order["orderId"]).code == -2013
    assert client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "FILLED"


def test_futures_faults_are_scoped(client, local_binance):
    local_binance.inject("timeout", path="/fapi/*", count=1)
    exc = api_error(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="BUY",
        type="MARKET",
        quantity="0.01",
        newClientOrderId="fut-1",
    )
    assert exc.code == -1007
    assert (
        client.futures_get_order(symbol="BTCUSDT", origClientOrderId="fut-1")["status"] == "FILLED"
    )
    assert "balances" in client.get_account()


# --- streams -------------------------------------------------------------------------------------
async def with_client(server, scenario):
    client = await AsyncClient.create(server.api_key, server.api_secret)
    try:
        return await scenario(client, BinanceSocketManager(client))
    finally:
        await client.close_connection()


async def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(predicate):
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


@pytest.mark.usefixtures("binance_urls", "fast_socket_exit")
def test_stream_disconnect_and_python_binance_reconnect(local_binance):
    async def scenario(client, bm):
        async with bm.trade_socket("BTCUSDT") as socket:
            await wait_for(lambda: local_binance.connections("spot") == 1)
            await asyncio.to_thread(local_binance.disconnect_streams)
            error = await recv_until(socket, lambda m: m.get("e") == "error")
            await wait_for(lambda: len(local_binance.requests("GET", "/ws/btcusdt@trade")) == 2)
            await wait_for(lambda: local_binance.connections("spot") == 1)
            await asyncio.to_thread(local_binance.set_price, "BTCUSDT", "9100.00")
            trade = await recv_until(socket, lambda m: m.get("e") == "trade")
            return error, trade

    error, trade = run(with_client(local_binance, scenario))
    assert error["type"] in ("ConnectionClosedOK", "BinanceWebsocketClosed")
    assert trade["p"] == "9100.00000000"


@pytest.mark.usefixtures("binance_urls", "fast_socket_exit")
def test_silent_stream_and_server_shutdown(local_binance):
    async def scenario(client, bm):
        async with bm.multiplex_socket(["btcusdt@trade"]) as socket:
            await wait_for(lambda: local_binance.connections("spot") == 1)
            await asyncio.to_thread(local_binance.silence_streams, True)
            await asyncio.to_thread(local_binance.advance, 1)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(socket.recv(), 0.3)
            assert local_binance.connections("spot") == 1  # still connected, just quiet
            await asyncio.to_thread(local_binance.silence_streams, False)
            await asyncio.to_thread(local_binance.server_shutdown)
            return await asyncio.wait_for(socket.recv(), 2)

    shutdown = run(with_client(local_binance, scenario))
    assert shutdown["stream"] == "!serverShutdown"
    assert set(shutdown["data"]) == set(shared("ws/spot/serverShutdown.raw.docs.json"))


@pytest.mark.usefixtures("binance_urls", "fast_socket_exit")
def test_listen_key_expiry(local_binance):
    async def scenario(client, bm):
        async with bm.futures_user_socket() as futures_user:
            await wait_for(lambda: local_binance.connections("futures_user") == 1)
            expired = await asyncio.to_thread(local_binance.expire_listen_key)
            event = await recv_until(futures_user, lambda m: m.get("e") == "listenKeyExpired")
            with pytest.raises(BinanceAPIException) as exc:
                await client.futures_stream_keepalive(listenKey=expired[0])
            # the expired stream stays silent: fills now need a new listenKey
            await client.futures_create_order(
                symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01"
            )
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(futures_user.recv(), 0.3)
            return expired, event, exc.value.code

    expired, event, code = run(with_client(local_binance, scenario))
    assert event == {"e": "listenKeyExpired", "E": event["E"], "listenKey": expired[0]}
    assert code == -1125


@pytest.mark.usefixtures("binance_urls", "fast_socket_exit")
def test_spot_user_stream_termination(local_binance):
    async def scenario(client, bm):
        socket = bm.user_socket()
        await socket.__aenter__()
        await asyncio.to_thread(local_binance.terminate_user_streams)
        terminated = await recv_until(socket, lambda m: m.get("e") == "eventStreamTerminated")
        # python-binance still unsubscribes on exit; the subscription is already gone
        with pytest.raises(BinanceAPIException) as exc:
            await socket.__aexit__(None, None, None)
        return terminated, exc.value.code

    terminated, code = run(with_client(local_binance, scenario))
    assert set(terminated) == set(shared("ws/spot/user/eventStreamTerminated.docs.json")["event"])
    assert code == -2036
