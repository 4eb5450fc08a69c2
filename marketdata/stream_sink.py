"""What the platform does with stream data: store closed candles, push to pages, keep status.

Pushes go to the Channels group `symbol-<SYMBOL>`, throttled per symbol and kind: the first
update goes out at once, later ones within `push_interval` are merged and the newest is sent when
the interval ends. A browser therefore never gets more than a few updates a second, while a
quiet symbol's update is not delayed at all.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django.core.cache import cache

from marketdata import live
from marketdata.models import Kline
from marketdata.streams import Subscription
from tradingsite.events import event_message

logger = logging.getLogger(__name__)

# Called with (market, symbol, interval, kline) after a closed candle is stored: bots hook in here.
candle_closed_listeners: list[Callable[[str, str, str, Kline], Awaitable[None]]] = []
# Called with (market, symbol, price, quantity, time) for every trade print: paper trading
# hooks in here (orders.apps), so market data does not need to know about orders.
trade_listeners: list[Callable[[str, str, Decimal, Decimal, datetime], Awaitable[None]]] = []


def symbol_group(symbol: str) -> str:
    return f"symbol-{symbol.upper()}"


class Throttle:
    """Leading-edge send, then at most one merged send per `interval` for each key."""

    def __init__(self, interval: float, send: Callable[[tuple, dict], Awaitable[None]]):
        self.interval, self.send = interval, send
        self.last_sent: dict[tuple, float] = {}
        self.pending: dict[tuple, dict] = {}

    async def offer(self, key: tuple, payload: dict) -> None:
        if key in self.pending:
            self.pending[key].update(payload)
            return
        wait = self.last_sent.get(key, float("-inf")) + self.interval - time.monotonic()
        if wait <= 0:
            self.last_sent[key] = time.monotonic()
            await self.send(key, payload)
            return
        self.pending[key] = dict(payload)
        asyncio.get_running_loop().call_later(wait, self._flush_soon, key)

    def _flush_soon(self, key: tuple) -> None:
        asyncio.ensure_future(self._flush(key))

    async def _flush(self, key: tuple) -> None:
        payload = self.pending.pop(key, None)
        if payload is not None:
            self.last_sent[key] = time.monotonic()
            await self.send(key, payload)


def candle_from_stream(k: dict) -> dict:
    """A kline stream's `k` object as the pages' chart wants it (seconds, decimal strings)."""
    return {"time": k["t"] // 1000, "open": k["o"], "high": k["h"], "low": k["l"],
            "close": k["c"], "volume": k["v"], "closed": k["x"]}


def kline_from_stream(market: str, k: dict) -> Kline:
    def at(ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)

    return Kline(market=market, symbol=k["s"], interval=k["i"], open_time=at(k["t"]),
                 close_time=at(k["T"]), open=Decimal(k["o"]), high=Decimal(k["h"]),
                 low=Decimal(k["l"]), close=Decimal(k["c"]), volume=Decimal(k["v"]),
                 quote_volume=Decimal(k["q"]), trades=k["n"], taker_buy_base=Decimal(k["V"]),
                 taker_buy_quote=Decimal(k["Q"]))


@database_sync_to_async
def store_closed_kline(kline: Kline) -> None:
    # A REST backfill may have stored it first; the stored candle is the same closed candle.
    Kline.objects.bulk_create([kline], ignore_conflicts=True)


# The latest prices go to the cache at most this often per symbol (paper fills read them).
TICKER_CACHE_INTERVAL = 0.2


class PlatformSink:
    def __init__(self, *, push_interval: float = 0.2,
                 repair: Callable[[str, Subscription], None] | None = None):
        self.layer = get_channel_layer()
        self.throttle = Throttle(push_interval, self._push)
        self.repair = repair
        self.latest: dict[str, dict] = {}
        self.cached_at: dict[str, float] = {}

    async def _push(self, key: tuple, payload: dict) -> None:
        symbol, event_type = key[0], key[1]
        message = event_message(event_type, payload)
        try:
            await self.layer.group_send(symbol_group(symbol), message)
        except ChannelFull:
            logger.debug("channel full for %s; update dropped", symbol)

    async def _remember(self, market: str, symbol: str, **fields) -> None:
        self.latest.setdefault(symbol, {"symbol": symbol}).update(fields)
        now = time.monotonic()
        if now - self.cached_at.get(symbol, 0.0) >= TICKER_CACHE_INTERVAL:
            self.cached_at[symbol] = now
            await cache.aset(live.ticker_key(market, symbol), self.latest[symbol], timeout=None)

    async def on_kline(self, market: str, event: dict) -> None:
        k = event["k"]
        candle = candle_from_stream(k)
        await self._remember(market, k["s"], price=k["c"], event_time=event["E"])
        await self.throttle.offer((k["s"], "candle.update", k["i"]),
                                  {"symbol": k["s"], "interval": k["i"], **candle})
        if k["x"]:
            kline = kline_from_stream(market, k)
            await store_closed_kline(kline)
            for listener in candle_closed_listeners:
                await listener(market, k["s"], k["i"], kline)

    async def on_trade(self, market: str, event: dict) -> None:
        await self._remember(market, event["s"], price=event["p"], event_time=event["E"])
        when = datetime.fromtimestamp(event["T"] / 1000, tz=UTC)
        for listener in trade_listeners:
            await listener(market, event["s"], Decimal(event["p"]), Decimal(event["q"]), when)
        await self.throttle.offer((event["s"], "price.update"),
                                  {"symbol": event["s"], "price": event["p"],
                                   "event_time": event["E"]})

    async def on_book_ticker(self, market: str, event: dict) -> None:
        await self._remember(market, event["s"], bid=event["b"], ask=event["a"])
        await self.throttle.offer((event["s"], "price.update"),
                                  {"symbol": event["s"], "bid": event["b"], "ask": event["a"]})

    async def on_ticker(self, market: str, event: dict) -> None:
        fields = {"price": event["c"], "change_pct": event["P"], "volume": event["v"],
                  "quote_volume": event["q"], "high": event["h"], "low": event["l"]}
        await self._remember(market, event["s"], **fields)
        await self.throttle.offer((event["s"], "ticker.update"), {"symbol": event["s"], **fields})

    async def on_stale(self, market: str, symbol: str, stale: bool) -> None:
        logger.log(logging.WARNING if stale else logging.INFO, "%s %s is %s", market, symbol,
                   "stale" if stale else "fresh again")
        await self._push((symbol, "market.status"), {"symbol": symbol, "stale": stale})

    async def on_connected(self, market: str, subscription: Subscription) -> None:
        if self.repair is not None:
            # In the background: the stream must be read while REST fills what was missed.
            asyncio.create_task(asyncio.to_thread(self._repair_safely, market, subscription))

    def _repair_safely(self, market: str, subscription: Subscription) -> None:
        try:
            self.repair(market, subscription)
        except Exception:
            logger.exception("%s: repairing candle gaps after a reconnect failed", market)

    async def on_status(self, market: str, status: dict) -> None:
        await cache.aset(live.status_key(market), {**status, "updated_at": time.time()},
                         timeout=None)
        await cache.aset_many({live.ticker_key(market, s): data
                               for s, data in self.latest.items()}, timeout=None)
