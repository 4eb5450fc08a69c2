"""WebSocket connections: market streams (raw /ws/<stream>, combined /stream?streams=)
and the registry used to push events to every kind of socket.

Each connection owns a queue drained by one writer task, so events keep their order
even though the engine publishes synchronously from request handlers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from . import payloads
from .klines import INTERVAL_MS
from .market import BookUpdate, SymbolMarket, Tick
from .symbols import SymbolInfo

CLOSE = object()
# All-market streams the fake serves (array streams such as !ticker@arr are not served).
ALL_SYMBOL_STREAMS = ("!bookTicker",)
# Incoming-message limits per connection (web-socket-streams.md; futures docs).
MESSAGE_RATE = {"spot": 5, "futures": 10}


def dumps(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":"))


@dataclass(eq=False)
class Connection:
    """One accepted WebSocket and what it listens to."""

    ws: web.WebSocketResponse
    kind: str  # "spot" | "futures" market data, "wsapi", "futures_user"
    combined: bool = False
    subscriptions: list[str] = field(default_factory=list)
    listen_key: str = ""
    # wsapi: subscriptionId -> account
    user_subscriptions: dict = field(default_factory=dict)
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    incoming: deque = field(default_factory=deque)

    def send(self, payload: object) -> None:
        self.queue.put_nowait(dumps(payload))

    def close(self, code: int = 1000) -> None:
        self.queue.put_nowait((CLOSE, code))

    async def writer(self) -> None:
        try:
            while True:
                item = await self.queue.get()
                if isinstance(item, tuple):
                    await self.ws.close(code=item[1])
                    return
                if self.ws.closed:
                    return
                await self.ws.send_str(item)
        except (ConnectionError, RuntimeError):
            return  # the peer went away mid-send; the reader side cleans up

    def over_rate(self, limit: int) -> bool:
        """Track incoming messages; True once more than `limit` arrive within one second."""
        now = time.monotonic()
        self.incoming.append(now)
        while self.incoming and now - self.incoming[0] > 1.0:
            self.incoming.popleft()
        return len(self.incoming) > limit


class StreamHub:
    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self.silent = False  # fault: market sockets stay open but receive nothing
        self.enforce_message_rate = True

    def of_kind(self, *kinds: str) -> list[Connection]:
        return [c for c in self.connections if c.kind in kinds]

    def names_for(self, kind: str, symbol: str) -> set[str]:
        """Subscribed stream names that concern `symbol` on the given market."""
        lower = symbol.lower()
        prefixes = (f"{lower}@", f"{lower}_perpetual@")
        return {
            n
            for c in self.of_kind(kind)
            for n in c.subscriptions
            if n.startswith(prefixes) or n in ALL_SYMBOL_STREAMS
        }

    def publish(self, kind: str, name: str, payload: object) -> None:
        if self.silent:
            return
        for conn in self.of_kind(kind):
            if name in conn.subscriptions:
                conn.send({"stream": name, "data": payload} if conn.combined else payload)

    def broadcast(self, kinds: Iterable[str], raw: dict, stream: str) -> None:
        for conn in self.of_kind(*kinds):
            conn.send({"stream": stream, "data": raw} if conn.combined else raw)

    def close(self, kinds: Iterable[str], code: int = 1000) -> int:
        targets = self.of_kind(*kinds)
        for conn in targets:
            conn.close(code)
        return len(targets)

    async def run(self, conn: Connection, reader) -> None:
        """Serve one connection: writer task + `reader(conn, msg)` for incoming frames."""
        self.connections.add(conn)
        writer = asyncio.create_task(conn.writer())
        try:
            async for msg in conn.ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                limit = MESSAGE_RATE.get(conn.kind)
                if self.enforce_message_rate and limit and conn.over_rate(limit):
                    conn.close(1008)  # Binance drops connections that exceed the rate
                    break
                await reader(conn, msg.data)
        finally:
            self.connections.discard(conn)
            if not writer.done():
                conn.close()
                try:
                    await asyncio.wait_for(writer, timeout=1)
                except (TimeoutError, ConnectionError):
                    writer.cancel()


# --- market stream handler ---------------------------------------------------------------
def parse_stream_path(path: str, query: dict) -> tuple[str, bool, list[str]] | None:
    """Map a request path to (market kind, combined?, stream names).

    Spot: /ws/<s>, /stream?streams=a/b. USD-M (python-binance category paths):
    /market|public/ws/<s>, /market|public/stream?streams=a/b, optionally under /fstream.
    """
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] == "fstream":
        parts = parts[1:]
        kind = "futures"
    else:
        kind = "spot"
    if parts and parts[0] in ("market", "public"):
        parts = parts[1:]
        kind = "futures"
    if not parts:
        return None
    if parts[0] == "stream":
        names = [n for n in query.get("streams", "").split("/") if n]
        return kind, True, names
    if parts[0] == "ws":
        names = ["/".join(parts[1:])] if len(parts) > 1 else []
        return kind, False, names
    return None


class ControlHandler:
    """SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY."""

    async def __call__(self, conn: Connection, text: str) -> None:
        try:
            request = json.loads(text)
        except ValueError:
            conn.send({"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"})
            return
        method, req_id = request.get("method"), request.get("id")
        params = request.get("params") or []
        if method == "SUBSCRIBE":
            conn.subscriptions.extend(n for n in params if n not in conn.subscriptions)
            conn.send({"result": None, "id": req_id})
        elif method == "UNSUBSCRIBE":
            conn.subscriptions[:] = [n for n in conn.subscriptions if n not in params]
            conn.send({"result": None, "id": req_id})
        elif method == "LIST_SUBSCRIPTIONS":
            conn.send({"result": list(conn.subscriptions), "id": req_id})
        elif method == "SET_PROPERTY" and params[:1] == ["combined"]:
            conn.combined = bool(params[1])
            conn.send({"result": None, "id": req_id})
        elif method == "GET_PROPERTY" and params[:1] == ["combined"]:
            conn.send({"result": conn.combined, "id": req_id})
        else:
            msg = (
                f"Invalid request: unknown variant `{method}`, expected one of `SUBSCRIBE`, "
                "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
            )
            conn.send({"code": 2, "msg": msg, "id": req_id})


# --- turning market activity into stream events --------------------------------------------
class MarketPublisher:
    def __init__(self, hub: StreamHub, symbols: dict[str, dict[str, SymbolInfo]]) -> None:
        self.hub = hub
        self.symbols = symbols  # {"spot": {...}, "futures": {...}}

    def _targets(self, symbol: str):
        for kind, infos in self.symbols.items():
            if symbol in infos:
                names = self.hub.names_for(kind, symbol)
                if names:
                    yield kind, infos[symbol], names

    def on_tick(self, market: SymbolMarket, tick: Tick, book: BookUpdate | None) -> None:
        for kind, info, names in self._targets(market.symbol):
            for name in sorted(names):
                payload = self._tick_payload(info, market, tick, book, name)
                if payload is not None:
                    self.hub.publish(kind, name, payload)

    def on_heartbeat(self, market: SymbolMarket) -> None:
        """Re-send the current kline/ticker/mark price, as Binance does every 1-2 s."""
        time = market.now_ms
        for kind, info, names in self._targets(market.symbol):
            for name in sorted(names):
                payload = self._state_payload(info, market, name, time)
                if payload is not None:
                    self.hub.publish(kind, name, payload)

    def _state_payload(self, info, market, name: str, time: int):
        event = name.split("@", 1)[1] if "@" in name else ""
        if event == "ticker":
            return payloads.ticker_event(info, market, time)
        if event == "miniTicker":
            return payloads.mini_ticker_event(info, market, time)
        if event.startswith("markPrice"):
            return payloads.mark_price_event(info, market, time)
        interval = _kline_interval(name)
        if interval is None:
            return None
        candle = market.running_kline(INTERVAL_MS[interval])
        body = payloads.kline_body(info, candle, interval, False, *_trade_span(market, candle))
        return _wrap_kline(info, name, body, time)

    def on_candle_closed(self, market: SymbolMarket) -> None:
        """Send x=true klines for every subscribed interval whose bucket just ended."""
        closed = market.closed[-1]
        for kind, info, names in self._targets(market.symbol):
            for name in sorted(names):
                interval = _kline_interval(name)
                if interval is None or (closed.close_time + 1) % INTERVAL_MS[interval]:
                    continue
                candle = market.klines(INTERVAL_MS[interval], None, closed.open_time, 1)[-1]
                body = payloads.kline_body(
                    info, candle, interval, True, *_trade_span(market, candle)
                )
                self.hub.publish(kind, name, _wrap_kline(info, name, body, market.now_ms - 1))

    def _tick_payload(self, info, market, tick, book, name):
        event = name.split("@", 1)[1] if "@" in name else name.removeprefix("!")
        for prefix, build in TICK_EVENTS.items():
            if event == prefix or (prefix.endswith("*") and event.startswith(prefix[:-1])):
                return build(info, market, tick, book, event)
        interval = _kline_interval(name)
        if interval is None:
            return None
        candle = market.running_kline(INTERVAL_MS[interval])
        body = payloads.kline_body(info, candle, interval, False, *_trade_span(market, candle))
        return _wrap_kline(info, name, body, tick.time)


# stream event name -> builder(info, market, tick, book update, event); "*" = prefix match
TICK_EVENTS = {
    "trade": lambda info, m, t, book, e: payloads.trade_event(info, t),
    "aggTrade": lambda info, m, t, book, e: payloads.agg_trade_event(info, t),
    "bookTicker": lambda info, m, t, book, e: payloads.book_ticker_event(info, m, t.time),
    "ticker": lambda info, m, t, book, e: payloads.ticker_event(info, m, t.time),
    "miniTicker": lambda info, m, t, book, e: payloads.mini_ticker_event(info, m, t.time),
    "markPrice*": lambda info, m, t, book, e: payloads.mark_price_event(info, m, t.time),
    "depth*": lambda info, m, t, book, e: _depth_payload(info, m, book, e, t.time),
}


def _kline_interval(name: str) -> str | None:
    for marker in ("@kline_", "@continuousKline_"):
        if marker in name:
            interval = name.split(marker, 1)[1]
            return interval if interval in INTERVAL_MS else None
    return None


def _wrap_kline(info: SymbolInfo, name: str, body: dict, time: int) -> dict:
    if "@continuousKline_" in name:
        return payloads.continuous_kline_event(info, body, time)
    return payloads.kline_event(info, body, time)


def _trade_span(market: SymbolMarket, candle) -> tuple[int, int]:
    last = market.next_trade_id - 1
    return last - candle.trades + 1, last


def _depth_payload(info, market, book, event: str, time: int):
    levels = event.removeprefix("depth").split("@")[0]
    if levels:
        return payloads.partial_depth_event(info, market, int(levels), time)
    if book is None:
        return None
    return payloads.depth_update_event(info, book, time)


async def market_stream_handler(request: web.Request, hub: StreamHub) -> web.StreamResponse:
    parsed = parse_stream_path(request.path, dict(request.query))
    if parsed is None:
        raise web.HTTPNotFound()
    kind, combined, names = parsed
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    conn = Connection(ws=ws, kind=kind, combined=combined, subscriptions=names)
    await hub.run(conn, ControlHandler())
    return ws
