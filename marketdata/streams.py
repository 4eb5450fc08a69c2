"""The market-stream supervisor: one long-lived task per market that keeps Binance's combined
streams flowing into the platform.

No Django here: what to subscribe comes from `subscription()`, and what happens with the data
(storing closed candles, pushing to pages, recording staleness, repairing gaps) is the sink's
job (`marketdata.stream_sink`). That keeps this loop testable and lets the same supervisor run in
its own process (`manage.py run_streams`) or in a thread of the embedded platform.

Binance's rules it keeps (reliability.md 1.7): reconnect with jittered backoff; a connection
lives at most 24 h, so rotate before the cut; never trust a silent socket; after any reconnect
the candles in between are missing, so ask the sink to close the gap over REST. Changes to the
symbol list are applied by reconnecting with the new combined-stream URL, debounced, so no
control messages are sent at all (Binance allows 5 per second).
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from binance import AsyncClient, BinanceSocketManager

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = {"1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600,
                    "2h": 7200, "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200,
                    "1d": 86400, "3d": 259200, "1w": 604800, "1M": 2592000}


SOCKET_READ_TIMEOUT = 1.0
READER_CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Subscription:
    """What one market's connection listens to: each symbol with its candle intervals."""

    market: str
    symbols: tuple[tuple[str, tuple[str, ...]], ...] = ()  # ((symbol, (interval, ...)), ...)

    @property
    def names(self) -> list[str]:
        return [symbol for symbol, _ in self.symbols]

    def market_streams(self) -> list[str]:
        streams = []
        for symbol, intervals in self.symbols:
            lower = symbol.lower()
            streams += [f"{lower}@kline_{interval}" for interval in intervals]
            streams += [f"{lower}@aggTrade", f"{lower}@ticker"]
        return streams

    def book_streams(self) -> list[str]:
        return [f"{symbol.lower()}@bookTicker" for symbol, _ in self.symbols]

    def stale_after(self, symbol: str) -> float:
        """Two of the symbol's shortest candle intervals without any data means stale."""
        intervals = dict(self.symbols).get(symbol) or ("1m",)
        return 2 * min(INTERVAL_SECONDS[i] for i in intervals)


class StreamSink(Protocol):
    """What the supervisor does with what it receives (implemented with Django, or by tests)."""

    async def on_kline(self, market: str, event: dict) -> None: ...
    async def on_trade(self, market: str, event: dict) -> None: ...
    async def on_book_ticker(self, market: str, event: dict) -> None: ...
    async def on_ticker(self, market: str, event: dict) -> None: ...
    async def on_stale(self, market: str, symbol: str, stale: bool) -> None: ...
    async def on_connected(self, market: str, subscription: Subscription) -> None: ...
    async def on_status(self, market: str, status: dict) -> None: ...


@dataclass
class SupervisorSettings:
    silence_timeout: float = 30.0  # no message at all for this long: reconnect
    rotate_after: float = 23.5 * 3600  # before Binance's 24 h cut
    resubscribe_every: float = 10.0  # how often the symbol list is re-read
    stale_seconds: float | None = None  # fixed staleness limit; default: two intervals
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    status_every: float = 2.0


class StreamBroken(Exception):
    pass


class Backoff:
    """Jittered exponential waits between reconnects; a connection that lived `healthy_after`
    seconds, or ended without an error, starts the count afresh."""

    def __init__(self, *, base: float = 1.0, maximum: float = 60.0,
                 healthy_after: float = 60.0):
        self.base, self.maximum, self.healthy_after = base, maximum, healthy_after
        self.failures = 0

    def delay(self, *, lived: float, failed: bool) -> float:
        self.failures = self.failures + 1 if failed and lived <= self.healthy_after else 0
        if not self.failures:
            return 0.0
        ceiling = min(self.maximum, self.base * 2 ** self.failures)
        return ceiling * (0.5 + random.random() / 2)


@dataclass
class _Connection:
    subscription: Subscription
    opened_at: float
    last_message_at: float


class StreamSupervisor:
    def __init__(self, *, market: str, subscription: Callable[[], Awaitable[Subscription]],
                 client_factory: Callable[[], Awaitable[AsyncClient]],
                 socket_manager_factory: Callable[[AsyncClient], BinanceSocketManager],
                 sink: StreamSink, settings: SupervisorSettings | None = None):
        self.market = market
        self.subscription = subscription
        self.client_factory = client_factory
        self.socket_manager_factory = socket_manager_factory
        self.sink = sink
        self.settings = settings or SupervisorSettings()
        self.connection: _Connection | None = None
        self.reconnects = 0
        # Kept across connections: a reconnect alone does not make a stale symbol fresh.
        self.last_seen: dict[str, float] = {}
        self.stale: set[str] = set()

    # --- the outer loop: connect, run, back off, again ---------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff(base=self.settings.backoff_base, maximum=self.settings.backoff_max)
        while not stop.is_set():
            subscription = await self.subscription()
            if not subscription.symbols:
                await sleep_unless(stop, self.settings.resubscribe_every)
                continue
            started, failed = time.monotonic(), False
            try:
                await self._run_connection(subscription, stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever broke, the supervisor reconnects
                logger.warning("%s market stream broke: %s", self.market, exc)
                failed = True
            self.reconnects += 1
            await sleep_unless(stop, backoff.delay(lived=time.monotonic() - started,
                                                   failed=failed))

    # --- one connection ----------------------------------------------------------------------
    async def _run_connection(self, subscription: Subscription, stop: asyncio.Event) -> None:
        client = await self.client_factory()
        try:
            manager = self.socket_manager_factory(client)
            sockets = self._sockets(manager, subscription)
            queue: asyncio.Queue = asyncio.Queue()
            readers = [asyncio.create_task(_pump(socket, queue)) for socket in sockets]
            try:
                await self._consume(subscription, queue, readers, stop)
            finally:
                for reader in readers:
                    reader.cancel()
                # Never let a library's slow close hold up the next connection.
                await asyncio.wait(readers, timeout=READER_CLOSE_TIMEOUT)
        finally:
            await client.close_connection()

    def _sockets(self, manager: BinanceSocketManager, subscription: Subscription) -> list:
        if self.market == "spot":
            sockets = [manager.multiplex_socket(subscription.market_streams()
                                                + subscription.book_streams())]
        else:  # USD-M serves bookTicker under /public and the rest under /market.
            sockets = [
                manager.futures_multiplex_socket(subscription.market_streams(), category="market"),
                manager.futures_multiplex_socket(subscription.book_streams(), category="public"),
            ]
        for socket in sockets:
            # python-binance's read loop only notices a close request when a read times out
            # (10 s by default): a short timeout makes reconnecting take a second, not ten.
            socket.TIMEOUT = SOCKET_READ_TIMEOUT
            # This supervisor reconnects (and repairs gaps) itself. python-binance's own
            # reconnect would race our close: its connect() overwrites the EXITING state and
            # the socket then never closes.
            socket.MAX_RECONNECTS = 0
        return sockets

    async def _consume(self, subscription, queue, readers, stop) -> None:
        now = time.monotonic()
        self.connection = conn = _Connection(subscription, opened_at=now, last_message_at=now)
        for symbol in subscription.names:
            self.last_seen.setdefault(symbol, now)
        await self.sink.on_connected(self.market, subscription)
        next_check = now + self.settings.resubscribe_every
        next_status = now
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(queue.get(), timeout=0.5)
            except TimeoutError:
                message = None
            if message is not None:
                await self._dispatch(conn, message)
            now = time.monotonic()
            await self._check_staleness(conn, now)
            if now >= next_status:
                await self.sink.on_status(self.market, self.status())
                next_status = now + self.settings.status_every
            if now - conn.last_message_at > self.settings.silence_timeout:
                raise StreamBroken(f"no message for {self.settings.silence_timeout:.0f} s")
            if now - conn.opened_at > self.settings.rotate_after:
                logger.info("%s market stream: rotating before Binance's 24 h cut", self.market)
                return
            if any(reader.done() for reader in readers):
                raise StreamBroken("a socket reader stopped")
            if now >= next_check:
                next_check = now + self.settings.resubscribe_every
                if await self.subscription() != subscription:
                    logger.info("%s market stream: symbol list changed, reconnecting",
                                self.market)
                    return

    async def _dispatch(self, conn: _Connection, message: dict) -> None:
        if message.get("e") == "error":
            # python-binance reports read errors and its own reconnects as messages; after one
            # we cannot know what was missed, so start a fresh connection (and repair gaps).
            raise StreamBroken(f"{message.get('type')}: {message.get('m')}")
        data = message.get("data", message)
        conn.last_message_at = time.monotonic()
        symbol = data.get("s")
        if symbol:
            self.last_seen[symbol] = conn.last_message_at
        handler = self._handler(data)
        if handler is not None:
            await handler(self.market, data)

    def _handler(self, data: dict):
        event_type = data.get("e")
        if event_type == "kline":
            return self.sink.on_kline
        if event_type in ("aggTrade", "trade"):
            return self.sink.on_trade
        if event_type == "24hrTicker":
            return self.sink.on_ticker
        if event_type == "bookTicker" or ("b" in data and "a" in data and "u" in data):
            return self.sink.on_book_ticker  # spot bookTicker frames carry no "e"
        return None

    async def _check_staleness(self, conn: _Connection, now: float) -> None:
        for symbol in conn.subscription.names:
            limit = self.settings.stale_seconds or conn.subscription.stale_after(symbol)
            stale = now - self.last_seen[symbol] > limit
            if stale != (symbol in self.stale):
                (self.stale.add if stale else self.stale.discard)(symbol)
                await self.sink.on_stale(self.market, symbol, stale)

    def status(self) -> dict[str, Any]:
        conn, now = self.connection, time.monotonic()
        if conn is None:
            return {"connected": False, "reconnects": self.reconnects, "symbols": {}}
        return {
            "connected": True,
            "reconnects": self.reconnects,
            "connected_for": round(now - conn.opened_at, 1),
            "last_message_age": round(now - conn.last_message_at, 1),
            "symbols": {s: {"age": round(now - self.last_seen[s], 1), "stale": s in self.stale}
                        for s in conn.subscription.names},
        }


async def _pump(socket, queue: asyncio.Queue) -> None:
    async with socket as stream:
        while True:
            await queue.put(await stream.recv())


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    if seconds <= 0:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
