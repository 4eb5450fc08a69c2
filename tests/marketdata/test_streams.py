"""The stream supervisor against the local Binance: candles land, pushes go out, faults heal."""

import asyncio
import time
from functools import partial

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from marketdata import live
from marketdata.exchange.gateway import BinanceGateway
from marketdata.models import Kline, WatchedSymbol
from marketdata.stream_runner import build_supervisor, repair_after_reconnect
from marketdata.stream_sink import PlatformSink, Throttle
from tests.support.servers import running_in_thread as running
from tests.support.servers import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def watch_btc():
    WatchedSymbol.objects.update_or_create(market="spot", symbol="BTCUSDT",
                                           defaults={"intervals": "1m", "active": True})
    WatchedSymbol.objects.exclude(symbol="BTCUSDT").update(active=False)


@pytest.fixture
def supervisor(local_venue, watch_btc, settings):
    settings.STREAM_SILENCE_SECONDS = 2
    settings.STREAM_STALE_SECONDS = 1.5
    settings.STREAM_RESUBSCRIBE_SECONDS = 0.5
    return build_supervisor("spot", venue=local_venue,
                            sink=PlatformSink(push_interval=0.05, repair=None))


def connected(supervisor) -> bool:
    return supervisor.connection is not None


def stored() -> int:
    return Kline.objects.filter(symbol="BTCUSDT", interval="1m").count()


def test_closed_candles_land_in_the_database(supervisor, local_binance):
    with running(supervisor):
        wait_until(lambda: connected(supervisor), timeout=10, what="the stream to connect")
        local_binance.advance(3)
        wait_until(lambda: Kline.objects.filter(symbol="BTCUSDT", interval="1m").count() >= 3,
                   timeout=10, what="three closed candles")

    candle = Kline.objects.filter(symbol="BTCUSDT").first()
    assert candle.close_time > candle.open_time
    assert candle.high >= max(candle.open, candle.close)


def test_price_and_candle_updates_reach_the_symbol_group(supervisor, local_binance):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("symbol-BTCUSDT", channel)
    received = []

    async def receive_some():
        while len({m["event"]["type"] for m in received}) < 2:
            received.append(await asyncio.wait_for(layer.receive(channel), 10))

    with running(supervisor):
        wait_until(lambda: connected(supervisor), timeout=10, what="the stream to connect")
        local_binance.advance(1)
        async_to_sync(receive_some)()

    types = {message["event"]["type"] for message in received}
    assert {"candle.update", "price.update"} <= types | {"ticker.update"}


def test_a_dropped_connection_is_survived(supervisor, local_binance):
    with running(supervisor):
        wait_until(lambda: connected(supervisor), timeout=10, what="the stream to connect")
        local_binance.disconnect_streams()
        wait_until(lambda: supervisor.reconnects >= 1, timeout=15, what="a reconnect")
        wait_until(lambda: local_binance.connections("market") >= 1, timeout=15,
                   what="a new market connection")
        before = Kline.objects.count()
        local_binance.advance(2)
        wait_until(lambda: Kline.objects.count() >= before + 2, timeout=10,
                   what="candles after the reconnect")


def test_a_silent_stream_is_replaced_and_the_symbol_goes_stale_and_back(supervisor,
                                                                       local_binance):
    with running(supervisor):
        wait_until(lambda: connected(supervisor), timeout=10, what="the stream to connect")
        local_binance.advance(1)
        wait_until(lambda: not live.is_stale("spot", "BTCUSDT"), timeout=10,
                   what="fresh data")

        local_binance.silence_streams(True)
        wait_until(lambda: live.is_stale("spot", "BTCUSDT"), timeout=10, what="staleness")
        wait_until(lambda: supervisor.reconnects >= 1, timeout=10,
                   what="the silent socket to be replaced")

        local_binance.silence_streams(False)

        def market_moves_and_is_fresh():
            local_binance.advance(1)  # a live market keeps sending; so does this one
            return not live.is_stale("spot", "BTCUSDT")

        wait_until(market_moves_and_is_fresh, timeout=20, interval=0.5,
                   what="the symbol to be fresh again")


def test_without_a_stream_process_every_symbol_is_stale(settings):
    from django.core.cache import cache

    cache.delete(live.status_key("spot"))
    assert live.is_stale("spot", "BTCUSDT")


def test_candles_missed_while_silent_are_fetched_after_the_reconnect(local_venue, watch_btc,
                                                                     local_binance, settings):
    settings.STREAM_SILENCE_SECONDS = 1.5
    settings.STREAM_RESUBSCRIBE_SECONDS = 0.5
    supervisor = build_supervisor("spot", venue=local_venue,
                                  sink=PlatformSink(push_interval=0.05, repair=partial(
                                      repair_after_reconnect, venue=local_venue)))
    with running(supervisor):
        wait_until(lambda: connected(supervisor), timeout=10, what="the stream to connect")
        history = wait_until(stored, timeout=10, what="the history fetched on connecting")
        local_binance.advance(2)
        wait_until(lambda: stored() >= history + 2, timeout=10, what="streamed candles")

        before = stored()
        local_binance.silence_streams(True)
        local_binance.advance(4)  # these four closes never reach the socket
        local_binance.silence_streams(False)
        # The reconnect's REST repair stores them.
        wait_until(lambda: stored() >= before + 4, timeout=20, what="the missed candles")

    stored_opens = [int(k.open_time.timestamp() * 1000) for k in
                    Kline.objects.filter(symbol="BTCUSDT", interval="1m").order_by("open_time")]
    on_exchange = BinanceGateway(local_venue).call(
        "get_klines", symbol="BTCUSDT", interval="1m", startTime=stored_opens[0],
        endTime=stored_opens[-1])
    # Everything the exchange has in that range is stored (the source data has its own gaps).
    assert stored_opens == [row[0] for row in on_exchange]


def test_a_connection_is_rotated_before_binances_24_hour_cut(supervisor, local_binance):
    supervisor.settings.rotate_after = 1.0
    supervisor.settings.silence_timeout = 60

    with running(supervisor):
        wait_until(lambda: supervisor.reconnects >= 2, timeout=15,
                   what="two rotations")


def test_the_throttle_sends_the_first_update_at_once_and_merges_the_rest():
    sent = []

    async def scenario():
        async def send(key, payload):
            sent.append((round(time.monotonic() - started, 2), dict(payload)))

        throttle = Throttle(0.2, send)
        for price in ("1", "2", "3"):
            await throttle.offer(("BTCUSDT", "price.update"), {"price": price})
        await asyncio.sleep(0.3)

    started = time.monotonic()
    asyncio.run(scenario())

    assert [payload["price"] for _, payload in sent] == ["1", "3"]
    assert sent[0][0] < 0.05
    assert 0.15 <= sent[1][0] <= 0.3
