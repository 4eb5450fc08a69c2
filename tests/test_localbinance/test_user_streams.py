"""User data: spot over the WebSocket API subscription, USD-M over a listenKey."""

from __future__ import annotations

import asyncio
import queue
import time

import pytest
from binance import AsyncClient, BinanceSocketManager, ThreadedWebsocketManager

from .helpers import assert_shape, recv_until, run, shared

pytestmark = pytest.mark.usefixtures("binance_urls", "fast_socket_exit")

EXECUTION_REPORT = shared("ws/spot/user/executionReport.docs.json")["event"]
# "v" (preventedMatchId) only appears after self-trade prevention; "W" only once working.
REPORT_OPTIONAL = ("v", "W")


async def with_client(server, scenario):
    client = await AsyncClient.create(server.api_key, server.api_secret)
    try:
        return await scenario(client, BinanceSocketManager(client))
    finally:
        await client.close_connection()


def of_type(kind: str, exec_type: str | None = None):
    def match(msg: dict) -> bool:
        return msg.get("e") == kind and (exec_type is None or msg.get("x") == exec_type)

    return match


def test_spot_user_socket_events(local_binance):
    async def scenario(client, bm):
        async with bm.user_socket() as user:
            price = local_binance.price("BTCUSDT")
            order = await client.order_limit_sell(
                symbol="BTCUSDT",
                quantity="0.01",
                price=f"{price + 10:.2f}",
                newClientOrderId="sell-1",
            )
            new = await recv_until(user, of_type("executionReport", "NEW"))
            position = await recv_until(user, of_type("outboundAccountPosition"))
            await asyncio.to_thread(
                local_binance.emit_trade, "BTCUSDT", f"{price + 10:.2f}", "0.004"
            )
            trade = await recv_until(user, of_type("executionReport", "TRADE"))
            await client.cancel_order(
                symbol="BTCUSDT", orderId=order["orderId"], newClientOrderId="cxl-1"
            )
            canceled = await recv_until(user, of_type("executionReport", "CANCELED"))
            await asyncio.to_thread(local_binance.deposit, "USDT", "25")
            deposit = await recv_until(user, of_type("balanceUpdate"))
            return price, new, position, trade, canceled, deposit

    price, new, position, trade, canceled, deposit = run(with_client(local_binance, scenario))
    for report in (new, trade, canceled):
        assert_shape(report, EXECUTION_REPORT, optional=REPORT_OPTIONAL)
    assert (new["c"], new["X"], new["z"], new["N"], new["t"]) == (
        "sell-1",
        "NEW",
        "0.00000000",
        None,
        -1,
    )
    assert_shape(position, shared("ws/spot/user/outboundAccountPosition.docs.json")["event"])
    assert {b["a"]: b["l"] for b in position["B"]} == {"BTC": "0.01000000"}
    assert (trade["X"], trade["l"], trade["z"], trade["L"]) == (
        "PARTIALLY_FILLED",
        "0.00400000",
        "0.00400000",
        f"{price + 10:.8f}",
    )
    assert trade["N"] == "USDT"
    assert trade["m"] is True
    assert trade["t"] > 0
    assert (canceled["c"], canceled["C"], canceled["X"], canceled["z"]) == (
        "cxl-1",
        "sell-1",
        "CANCELED",
        "0.00400000",
    )
    assert_shape(deposit, shared("ws/spot/user/balanceUpdate.docs.json")["event"])
    frames = [r.ws_method for r in local_binance.requests("WS", "/ws-api/v3")]
    assert frames == ["userDataStream.subscribe.signature", "userDataStream.unsubscribe"]


def test_spot_oco_list_status(local_binance):
    async def scenario(client, bm):
        async with bm.user_socket() as user:
            price = local_binance.price("BTCUSDT")
            await client.create_oco_order(
                symbol="BTCUSDT",
                side="SELL",
                quantity="0.01",
                aboveType="LIMIT_MAKER",
                abovePrice=f"{price + 100:.2f}",
                belowType="STOP_LOSS_LIMIT",
                belowStopPrice=f"{price - 100:.2f}",
                belowPrice=f"{price - 110:.2f}",
                belowTimeInForce="GTC",
            )
            return await recv_until(user, of_type("listStatus"))

    status = run(with_client(local_binance, scenario))
    assert_shape(status, shared("ws/spot/user/listStatus.docs.json")["event"])
    assert (status["c"], status["l"], status["L"]) == ("OCO", "EXEC_STARTED", "EXECUTING")


def test_futures_user_socket_events(local_binance):
    async def scenario(client, bm):
        async with bm.futures_user_socket() as user:
            await client.futures_create_order(
                symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01"
            )
            events = [
                await recv_until(user, of_type(kind))
                for kind in (
                    "ORDER_TRADE_UPDATE",
                    "TRADE_LITE",
                    "ORDER_TRADE_UPDATE",
                    "ACCOUNT_UPDATE",
                )
            ]
            await client.futures_create_order(
                symbol="BTCUSDT",
                side="SELL",
                type="STOP_MARKET",
                quantity="0.01",
                stopPrice="1000.00",
            )
            algo = await recv_until(user, of_type("ALGO_UPDATE"))
            return events, algo

    (new, lite, trade, account), algo = run(with_client(local_binance, scenario))
    assert_shape(new, shared("ws/futures_um/user/ORDER_TRADE_UPDATE.NEW.json"), extra=("pm", "gtd"))
    assert_shape(
        trade, shared("ws/futures_um/user/ORDER_TRADE_UPDATE.TRADE.json"), extra=("pm", "gtd")
    )
    assert_shape(lite, shared("ws/futures_um/user/TRADE_LITE.json"))
    assert_shape(account, shared("ws/futures_um/user/ACCOUNT_UPDATE.json"))
    assert (new["o"]["x"], trade["o"]["x"], trade["o"]["X"]) == ("NEW", "TRADE", "FILLED")
    assert account["a"]["m"] == "ORDER"
    assert account["a"]["P"][0]["pa"] == "0.010"
    assert (algo["o"]["X"], algo["o"]["o"], algo["o"]["tp"]) == ("NEW", "STOP_MARKET", "1000.00")
    assert local_binance.requests("POST", "/fapi/v1/listenKey")


def test_threaded_websocket_manager(local_binance):
    received: queue.Queue = queue.Queue()
    twm = ThreadedWebsocketManager(
        api_key=local_binance.api_key, api_secret=local_binance.api_secret
    )
    twm.start()
    try:
        twm.start_kline_socket(callback=received.put, symbol="BTCUSDT")
        deadline = time.time() + 5
        while local_binance.connections("spot") == 0 and time.time() < deadline:
            time.sleep(0.02)
        local_binance.advance(1)
        msg = received.get(timeout=5)
    finally:
        twm.stop()
        twm.join(5)
    assert msg["e"] == "kline"
    assert msg["s"] == "BTCUSDT"
