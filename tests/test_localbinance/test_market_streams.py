"""Market streams through python-binance's BinanceSocketManager (and a raw client)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
import websockets
from binance import AsyncClient, BinanceSocketManager, DepthCacheManager

from .helpers import assert_shape, recv_until, run, shared

pytestmark = pytest.mark.usefixtures("binance_urls", "fast_socket_exit")

SPOT_STREAMS = {
    "btcusdt@trade": "ws/spot/trade.docs.json",
    "btcusdt@aggTrade": "ws/spot/aggTrade.docs.json",
    "btcusdt@bookTicker": "ws/spot/bookTicker.docs.json",
    "btcusdt@kline_1m": "ws/spot/kline.docs.json",
    "btcusdt@ticker": "ws/spot/24hrTicker.docs.json",
    "btcusdt@miniTicker": "ws/spot/24hrMiniTicker.docs.json",
    "btcusdt@depth": "ws/spot/depthUpdate.docs.json",
    "btcusdt@depth5@100ms": "ws/spot/partialDepth.docs.json",
}


async def with_client(server, scenario):
    client = await AsyncClient.create(server.api_key, server.api_secret)
    try:
        return await scenario(client, BinanceSocketManager(client))
    finally:
        await client.close_connection()


async def collect(socket, until, timeout: float = 3.0) -> list:
    messages = []
    while True:
        msg = await asyncio.wait_for(socket.recv(), timeout)
        messages.append(msg)
        if until(msg):
            return messages


def is_closed_kline(msg) -> bool:
    data = msg.get("data", msg)
    return data.get("e") in ("kline", "continuous_kline") and data["k"]["x"]


def test_combined_spot_streams_follow_the_replayed_candle(local_binance):
    async def scenario(client, bm):
        candle = (await client.get_klines(symbol="BTCUSDT", interval="1m", limit=1))[0]
        async with bm.multiplex_socket(list(SPOT_STREAMS)) as socket:
            await asyncio.sleep(0.05)
            await asyncio.to_thread(local_binance.advance, 1)
            messages = await collect(socket, is_closed_kline)
            new_kline = (await client.get_klines(symbol="BTCUSDT", interval="1m", limit=1))[0]
        return candle, messages, new_kline

    previous, messages, candle = run(with_client(local_binance, scenario))
    assert candle[0] == previous[0] + 60_000
    by_stream = {}
    for msg in messages:
        assert set(msg) == {"stream", "data"}
        by_stream.setdefault(msg["stream"], []).append(msg["data"])
    for stream, fixture in SPOT_STREAMS.items():
        assert stream in by_stream, stream
        assert_shape(by_stream[stream][-1], shared(fixture))
    prices = [Decimal(t["p"]) for t in by_stream["btcusdt@trade"]]
    o, h, low, c = (Decimal(x) for x in candle[1:5])
    assert prices == ([o, low, h, c] if c >= o else [o, h, low, c])
    closed = by_stream["btcusdt@kline_1m"][-1]["k"]
    assert closed["x"] is True
    assert [closed[k] for k in "ohlc"] == candle[1:5]
    # an x=false update per print, then the closed kline
    assert [k["k"]["x"] for k in by_stream["btcusdt@kline_1m"]] == [
        False,
        False,
        False,
        False,
        True,
    ]
    depth = by_stream["btcusdt@depth"]
    assert all(b["U"] == a["u"] + 1 for a, b in zip(depth, depth[1:], strict=False))


def test_raw_sockets_deliver_bare_events(local_binance):
    async def scenario(client, bm):
        async with (
            bm.kline_socket("ETHUSDT") as klines,
            bm.trade_socket("ETHUSDT") as trades,
            bm.symbol_ticker_socket("ETHUSDT") as ticker,
            bm.book_ticker_socket() as all_books,
        ):
            await asyncio.sleep(0.05)
            await asyncio.to_thread(local_binance.set_price, "ETHUSDT", "450.12")
            sockets = (klines, trades, ticker, all_books)
            return [await asyncio.wait_for(s.recv(), 3) for s in sockets]

    kline, trade, ticker, book = run(with_client(local_binance, scenario))
    assert_shape(book, shared("ws/spot/bookTicker.docs.json"))
    assert (book["s"], book["b"]) == ("ETHUSDT", "450.12000000")
    assert_shape(kline, shared("ws/spot/kline.real-2021-10-12.json"))
    assert_shape(trade, shared("ws/spot/trade.docs.json"))
    assert_shape(ticker, shared("ws/spot/24hrTicker.docs.json"))
    assert trade["p"] == "450.12000000"
    assert ticker["c"] == "450.12000000"


def test_futures_streams(local_binance):
    streams = ["btcusdt@markPrice", "btcusdt@ticker", "btcusdt@depth@100ms", "btcusdt@kline_1m"]

    async def scenario(client, bm):
        async with (
            bm.aggtrade_futures_socket("BTCUSDT") as agg,
            bm.symbol_ticker_futures_socket("BTCUSDT") as book,
            bm.kline_futures_socket("BTCUSDT") as continuous,
            bm.futures_depth_socket("BTCUSDT", depth="5") as partial,
            bm.futures_multiplex_socket(streams) as multi,
        ):
            await asyncio.sleep(0.05)
            await asyncio.to_thread(local_binance.advance, 1)
            first = [await asyncio.wait_for(s.recv(), 3) for s in (agg, book, continuous, partial)]
            return first, await collect(multi, is_closed_kline)

    (agg, book, continuous, partial), multi = run(with_client(local_binance, scenario))
    # python-binance opens these with stream?streams=..., so frames carry the envelope
    assert agg["stream"] == "btcusdt@aggTrade"
    assert book["stream"] == "btcusdt@bookTicker"
    assert_shape(agg["data"], shared("ws/futures_um/aggTrade.real-2021-07-22.json"))
    assert_shape(book["data"], shared("ws/futures_um/bookTicker.real-2021-07-22.json"))
    assert continuous["e"] == "continuous_kline"
    assert continuous["ps"] == "BTCUSDT"
    kline_body = shared("ws/futures_um/kline.real-2021-07-22.json")["k"]
    assert_shape(continuous["k"], {k: v for k, v in kline_body.items() if k != "s"})
    assert_shape(partial["data"], shared("ws/futures_um/depthUpdate.real-2021-07-22.json"))
    by_stream = {m["stream"]: m["data"] for m in multi}
    assert_shape(by_stream["btcusdt@markPrice"], shared("ws/futures_um/markPriceUpdate.json"))
    assert_shape(by_stream["btcusdt@ticker"], shared("ws/futures_um/24hrTicker.json"))
    assert_shape(
        by_stream["btcusdt@depth@100ms"], shared("ws/futures_um/depthUpdate.real-2021-07-22.json")
    )
    assert_shape(by_stream["btcusdt@kline_1m"], shared("ws/futures_um/kline.real-2021-07-22.json"))
    assert agg["data"]["p"].count(".") == 1
    assert len(agg["data"]["p"].split(".")[1]) == 2


def test_kline_5m_closes_only_at_bucket_end(local_binance):
    async def scenario(client, bm):
        async with bm.kline_socket("BTCUSDT", interval="5m") as socket:
            await asyncio.sleep(0.05)
            await asyncio.to_thread(local_binance.advance, 5)
            return await collect(socket, is_closed_kline)

    messages = run(with_client(local_binance, scenario))
    closed = messages[-1]["k"]
    assert closed["i"] == "5m"
    assert (closed["T"] + 1) % 300_000 == 0
    assert all(not m["k"]["x"] for m in messages[:-1])


def test_depth_cache_manager_tracks_the_book(local_binance):
    async def scenario(client, bm):
        async with DepthCacheManager(client, "BTCUSDT", bm=bm) as dcm:
            await asyncio.to_thread(local_binance.set_price, "BTCUSDT", "9300.00")
            cache = await recv_until(dcm, lambda dc: dc.get_bids()[0][0] == 9300.0)
            return cache.get_bids()[0], cache.get_asks()[0]

    best_bid, best_ask = run(with_client(local_binance, scenario))
    assert (best_bid[0], best_ask[0]) == (9300.0, 9300.01)
    assert len(local_binance.requests("GET", "/api/v3/depth")) == 1  # no gap, no resync


def test_control_messages(local_binance):
    async def scenario():
        async with websockets.connect(f"{local_binance.ws_url}/ws") as ws:
            replies = []
            for request in (
                {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "btcusdt@depth"], "id": 1},
                {"method": "UNSUBSCRIBE", "params": ["btcusdt@depth"], "id": 312},
                {"method": "LIST_SUBSCRIPTIONS", "id": 3},
                {"method": "SET_PROPERTY", "params": ["combined", True], "id": 5},
                {"method": "GET_PROPERTY", "params": ["combined"], "id": 2},
            ):
                await ws.send(json.dumps(request))
                replies.append(json.loads(await ws.recv()))
            await asyncio.to_thread(local_binance.set_price, "BTCUSDT", "9001.00")
            event = json.loads(await ws.recv())
            return replies, event

    replies, event = run(scenario())
    documented = [pair["response"] for pair in shared("ws/spot/control_messages.docs.json")]
    documented[2] = {"result": ["btcusdt@trade"], "id": 3}
    assert replies == documented
    assert event["stream"] == "btcusdt@trade"
    assert event["data"]["p"] == "9001.00000000"


async def drain(ws) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 2)


def test_too_many_incoming_messages_disconnects(local_binance):
    async def scenario():
        async with websockets.connect(f"{local_binance.ws_url}/ws/btcusdt@trade") as ws:
            for i in range(7):
                await ws.send(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}))
            with pytest.raises(websockets.ConnectionClosed):
                await drain(ws)
            return ws.close_code

    assert run(scenario()) == 1008


class TestPeriodicPushes:
    @pytest.fixture
    def local_binance_config(self):
        from tests.localbinance import ServerConfig

        return ServerConfig(stream_push_interval=0.1)

    def test_klines_and_tickers_are_resent_without_trades(self, local_binance):
        async def scenario(client, bm):
            async with bm.multiplex_socket(["btcusdt@kline_1m", "btcusdt@ticker"]) as socket:
                return [await asyncio.wait_for(socket.recv(), 2) for _ in range(4)]

        messages = run(with_client(local_binance, scenario))
        assert {m["stream"] for m in messages} == {"btcusdt@kline_1m", "btcusdt@ticker"}
        kline = next(m["data"]["k"] for m in messages if m["stream"] == "btcusdt@kline_1m")
        # between replay steps the open kline has not traded yet: flat at the last price
        assert (kline["x"], kline["v"], kline["n"]) == (False, "0.00000000", 0)
        assert kline["o"] == kline["c"] == f"{local_binance.price('BTCUSDT'):.8f}"
