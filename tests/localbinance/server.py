"""The aiohttp application: REST pipeline, WebSocket routing and the control API.

REST pipeline for every request: record it, apply "before" faults, charge request
weight (429 past the limit), authenticate (API key, signature, timestamp, permission),
run the handler, apply "after" faults, answer JSON with the X-MBX-* headers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from decimal import Decimal

from aiohttp import web

from . import errors, futures, spot
from .accounts import ApiKey
from .admin import handle_admin
from .auth import check_signature, check_timestamp, resolve_key
from .decimals import D
from .exchange import AccountConfig, Exchange, ServerConfig
from .faults import FaultInjector, FaultRule
from .recorder import RecordedRequest, RequestLog
from .rest import Call, Endpoint, Routes, Security
from .streams import StreamHub, market_stream_handler, parse_stream_path
from .userdata import WsApi, futures_user_handler, ws_api_handler

log = logging.getLogger(__name__)
CONNECTION_GROUPS = {"market": ("spot", "futures"), "user": ("wsapi", "futures_user")}
KEY_FLAGS = ("can_trade", "enable_futures", "enable_reading", "enable_withdrawals", "ip_restrict")
NOT_FOUND_HTML = "<html><body><h2>404 Not found</h2></body></html>"
GATEWAY_HTML = (
    "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
)


def _json(body: object, status: int = 200, headers: dict | None = None) -> web.Response:
    text = json.dumps(body, separators=(",", ":"))
    return web.Response(
        text=text, status=status, headers=headers or {}, content_type="application/json"
    )


class LocalBinance:
    """A fake Binance (spot + USD-M) serving HTTP and WebSocket on one port."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.exchange = Exchange(self.config)
        self.faults = FaultInjector()
        self.log = RequestLog()
        self.rate_limits = self.exchange.rate_limits
        self.routes = Routes()
        spot.register(self.routes)
        futures.register(self.routes)
        self.ws_api = WsApi(self.exchange.keys, self.exchange.now, self._record_ws)
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner: web.AppRunner | None = None
        self._pusher: asyncio.Task | None = None
        self.host = "127.0.0.1"
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        self.host = host
        self.port = site._server.sockets[0].getsockname()[1]  # the port actually bound (port=0)
        if self.config.stream_push_interval > 0:
            self._pusher = asyncio.create_task(self._push_periodically())

    async def _push_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.config.stream_push_interval)
            self.exchange.heartbeat()

    async def stop(self) -> None:
        if self._pusher is not None:
            self._pusher.cancel()
        self.hub.close(("spot", "futures", "wsapi", "futures_user"), code=1001)
        await asyncio.sleep(0)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def hub(self) -> StreamHub:
        return self.exchange.hub

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # --- dispatch ----------------------------------------------------------------------------
    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/_fake"):
            return await handle_admin(self, request)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        return await self._rest(request)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        entry = self.log.add(
            RecordedRequest(
                "GET", request.path, dict(request.query), self.exchange.now(), status=101
            )
        )
        fault = self.faults.take("before", "GET", request.path)
        if fault is not None and fault.kind != "delay":
            return await self._fault_response(fault, entry, request, {})
        path = request.path.removeprefix("/fstream")
        if path == "/ws-api/v3":
            return await ws_api_handler(request, self.hub, self.ws_api)
        if path.startswith("/private"):
            return await futures_user_handler(
                request, self.hub, self.exchange.events, request.query.get("listenKey", "")
            )
        tail = path.removeprefix("/ws/")
        if path.startswith("/ws/") and tail in self.exchange.events.listen_keys.keys:
            return await futures_user_handler(request, self.hub, self.exchange.events, tail)
        if parse_stream_path(request.path, dict(request.query)) is None:
            return web.Response(text=NOT_FOUND_HTML, status=404, content_type="text/html")
        return await market_stream_handler(request, self.hub)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        body = await request.text() if request.can_read_body else ""
        query = request.rel_url.raw_query_string
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True) + urllib.parse.parse_qsl(
            body, keep_blank_values=True
        )
        key_header = request.headers.get("X-MBX-APIKEY")
        entry = self.log.add(
            RecordedRequest(
                request.method, request.path, dict(pairs), self.exchange.now(), key_header
            )
        )
        call = Call(request.method, request.path, query, body, pairs, key_header)
        headers: dict[str, str] = {}
        fault = self.faults.take("before", request.method, request.path)
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(float(fault.options.get("seconds", 1)))
            entry.fault = fault.kind
        elif fault is not None:
            return await self._fault_response(fault, entry, request, headers)
        status, payload = self._execute(call, headers)
        after = self.faults.take("after", request.method, request.path)
        if after is not None:
            if after.kind != "delay":
                return await self._fault_response(after, entry, request, headers)
            await asyncio.sleep(float(after.options.get("seconds", 1)))
            entry.fault = after.kind
        entry.status = status
        if payload is None:
            return web.Response(text=NOT_FOUND_HTML, status=404, content_type="text/html")
        return _json(payload, status, headers)

    def _execute(self, call: Call, headers: dict[str, str]) -> tuple[int, object | None]:
        endpoint = self.routes.find(call.method, call.path)
        if endpoint is None:
            return 404, None
        try:
            headers.update(
                self.rate_limits.add_weight(
                    endpoint.market, endpoint.weight_of(call), self.exchange.now()
                )
            )
            self._authenticate(endpoint, call)
            order_headers = self._count_order(endpoint, call)
            result = self._run_handler(endpoint, call)
            headers.update(order_headers)
            return 200, result
        except errors.BinanceError as exc:
            headers.update(exc.headers or {})
            headers.update(self.rate_limits.weight_headers(endpoint.market, self.exchange.now()))
            return exc.status, exc.payload()
        except Exception as exc:  # a bug in the fake: make it loud, never a plausible answer
            log.exception("localbinance failed on %s %s", call.method, call.path)
            return 500, {"localbinance_internal_error": f"{type(exc).__name__}: {exc}"}

    def _count_order(self, endpoint: Endpoint, call: Call) -> dict[str, str]:
        if not endpoint.order:
            return {}
        return self.rate_limits.add_order(endpoint.market, call.account.name, self.exchange.now())

    def _run_handler(self, endpoint: Endpoint, call: Call):
        # order_not_found rules apply to the orders created by this request, if any
        lag = self.faults.take("create", call.method, call.path) if endpoint.order else None
        engine = self.exchange.futures if endpoint.market == "futures" else self.exchange.spot
        engine.hide_new_orders = int(lag.options.get("queries", 1)) if lag else 0
        try:
            return endpoint.handler(self.exchange, call)
        finally:
            engine.hide_new_orders = 0

    def _authenticate(self, endpoint: Endpoint, call: Call) -> None:
        if endpoint.security == Security.NONE:
            return
        key = resolve_key(self.exchange.keys, call.api_key_header)
        call.api_key = key
        if endpoint.security.signed:
            check_signature(key.secret, call.query, call.body, call.pairs)
            check_timestamp(call.params, self.exchange.now())
        if endpoint.security == Security.TRADE and not key.can_trade:
            raise errors.rejected_key()
        if (
            endpoint.market == "futures"
            and endpoint.security != Security.NONE
            and not key.enable_futures
        ):
            raise errors.rejected_key()

    # --- faults ---------------------------------------------------------------------------------
    async def _fault_response(
        self, rule: FaultRule, entry: RecordedRequest, request: web.Request, headers: dict[str, str]
    ) -> web.StreamResponse:
        entry.fault = rule.kind
        opts = rule.options
        if rule.kind == "drop":
            entry.status = None
            if request.transport is not None:
                request.transport.abort()  # the client sees the connection die, no response
            return web.Response(status=500)
        if rule.kind == "server_error":
            status = int(opts.get("status", 502))
            entry.status = status
            text = opts.get("body", GATEWAY_HTML)
            return web.Response(
                text=text,
                status=status,
                headers=headers,
                content_type=opts.get("content_type", "text/html"),
            )
        exc = self._fault_error(rule)
        entry.status = exc.status
        return _json(exc.payload(), exc.status, {**headers, **(exc.headers or {})})

    def _fault_error(self, rule: FaultRule) -> errors.BinanceError:
        opts = rule.options
        retry_after = int(opts.get("retry_after", 1))
        if rule.kind == "rate_limit":
            return errors.too_much_weight(self.rate_limits.limits["spot"], "1 MINUTE", retry_after)
        if rule.kind == "ban":
            return errors.ip_banned(self.exchange.now() + retry_after * 1000, retry_after)
        if rule.kind == "timestamp":
            return errors.invalid_timestamp(ahead=bool(opts.get("ahead", False)))
        if rule.kind == "timeout":
            return errors.timeout_unknown()
        return errors.BinanceError(
            int(opts.get("code", -1000)),
            opts.get("msg", "An unknown error occurred while processing the request."),
            int(opts.get("status", 400)),
        )

    def _record_ws(self, method: str, params: dict) -> None:
        safe = {k: str(v) for k, v in params.items()}
        self.log.add(
            RecordedRequest(
                "WS",
                "/ws-api/v3",
                safe,
                self.exchange.now(),
                safe.get("apiKey"),
                200,
                ws_method=method,
            )
        )

    # --- control API (call on the server loop; the fixture proxies these thread-safely) ---------
    def advance(self, n: int = 1) -> int:
        return self.exchange.advance(n)

    def set_price(self, symbol: str, price: str | Decimal) -> None:
        self.exchange.set_price(symbol, D(price))

    def emit_trade(self, symbol: str, price: str | Decimal, qty: str | Decimal) -> None:
        self.exchange.emit_trade(symbol, D(price), D(qty))

    def price(self, symbol: str) -> Decimal:
        return self.exchange.market(symbol).price

    def inject(self, kind: str, **kwargs) -> int:
        """Add a fault rule (see faults.KINDS); returns its id."""
        return self.faults.add(kind, **kwargs).id

    def clear_faults(self) -> None:
        self.faults.clear()

    def requests(
        self, method: str | None = None, path: str | None = None, **params
    ) -> list[RecordedRequest]:
        return self.log.find(method, path, **params)

    def set_clock_skew(self, ms: int) -> None:
        """Shift the server clock: /time reports it and timestamps are validated against it."""
        self.exchange.clock_skew_ms = ms

    def disconnect_streams(self, market: bool = True, user: bool = False, code: int = 1000) -> int:
        kinds = (("spot", "futures") if market else ()) + (
            ("wsapi", "futures_user") if user else ()
        )
        return self.hub.close(kinds, code)

    def silence_streams(self, silent: bool = True) -> None:
        self.hub.silent = silent

    def server_shutdown(self) -> None:
        """Send the `serverShutdown` event to every market stream (spot docs format)."""
        event = {"e": "serverShutdown", "E": self.exchange.now()}
        self.hub.broadcast(("spot", "futures"), event, "!serverShutdown")
        for conn in self.hub.of_kind("wsapi"):
            conn.send({"event": event})

    def expire_listen_key(self, key: str | None = None, close: bool = False) -> list[str]:
        return self.exchange.events.expire_listen_keys(key, close)

    def terminate_user_streams(self) -> int:
        return self.exchange.events.terminate_spot_subscriptions()

    def set_balance(self, asset: str, free: str | Decimal, account: str = "default") -> None:
        self.exchange.accounts[account].spot.set_free(asset, D(free))

    def deposit(self, asset: str, amount: str | Decimal, account: str = "default") -> None:
        acct = self.exchange.accounts[account]
        acct.spot.credit(asset, D(amount))
        acct.spot.take_changes()
        self.exchange.events.spot_balance_update(acct, asset, D(amount))
        self.exchange.events.spot_balances(acct, [asset])

    def set_futures_balance(
        self, asset: str, amount: str | Decimal, account: str = "default"
    ) -> None:
        self.exchange.accounts[account].futures.balances[asset] = D(amount)

    def balances(self, account: str = "default") -> dict[str, tuple[Decimal, Decimal]]:
        return {
            a: (b.free, b.locked) for a, b in self.exchange.accounts[account].spot.balances.items()
        }

    def set_symbol_status(self, symbol: str, status: str, market: str = "spot") -> None:
        self.exchange.symbols[market][symbol].status = status

    def add_api_key(
        self, api_key: str, api_secret: str, account: str = "default", **options
    ) -> ApiKey:
        """Register a key for `account` (created when new, with `balances`/`futures_balances`).

        Permission flags: can_trade, enable_futures, enable_reading, enable_withdrawals,
        ip_restrict (see GET /sapi/v1/account/apiRestrictions).
        """
        flags = {k: options.pop(k) for k in KEY_FLAGS if k in options}
        wallets = {k: options.pop(k) for k in ("balances", "futures_balances") if k in options}
        if options:
            raise TypeError(f"unknown add_api_key options: {sorted(options)}")
        acct = self.exchange.accounts.get(account)
        if acct is None:
            cfg = AccountConfig(name=account, api_key=api_key, api_secret=api_secret, **wallets)
            acct = self.exchange.add_account(cfg)
        self.exchange.keys[api_key] = ApiKey(api_key, api_secret, acct, **flags)
        return self.exchange.keys[api_key]

    def connection_count(self, kind: str | None = None) -> int:
        kinds = CONNECTION_GROUPS.get(kind, (kind,)) if kind else None
        return sum(1 for c in self.hub.connections if kinds is None or c.kind in kinds)

    def user_events(self, account: str = "default") -> list[dict]:
        return [e for name, e in self.exchange.events.history if name == account]
