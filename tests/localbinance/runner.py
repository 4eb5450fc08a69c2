"""Run LocalBinance on its own event loop in a background thread.

Tests talk to the server over HTTP/WebSocket like any client, and drive it through
thread-safe proxies of the control API: each call is scheduled onto the server loop
and waits for its result, so test code never touches server state concurrently.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from .exchange import DEFAULT_API_KEY, DEFAULT_API_SECRET, ServerConfig
from .patching import patch_python_binance
from .recorder import RecordedRequest
from .server import LocalBinance

CALL_TIMEOUT = 10


class BackgroundLocalBinance:
    """LocalBinance in a daemon thread; `start()` returns once the port is bound."""

    def __init__(
        self, config: ServerConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or ServerConfig()
        self._host, self._port = host, port
        self.loop = asyncio.new_event_loop()
        self.server: LocalBinance | None = None
        self._thread = threading.Thread(target=self._run, name="localbinance", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> BackgroundLocalBinance:
        self._thread.start()
        self._ready.wait(timeout=CALL_TIMEOUT)
        if self._error is not None:
            raise RuntimeError("LocalBinance failed to start") from self._error
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.server = LocalBinance(self.config)
            self.loop.run_until_complete(self.server.start(self._host, self._port))
        except BaseException as exc:  # surfaced to start() in the calling thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def stop(self) -> None:
        if self.server is None or not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(CALL_TIMEOUT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(CALL_TIMEOUT)

    def __enter__(self) -> BackgroundLocalBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn(*args, **kwargs)` on the server loop and return its result."""

        async def invoke() -> Any:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(invoke(), self.loop).result(CALL_TIMEOUT)

    # --- connection details ----------------------------------------------------------------
    @property
    def rest_url(self) -> str:
        return self.server.rest_url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def api_key(self) -> str:
        return self.config.accounts[0].api_key if self.config.accounts else DEFAULT_API_KEY

    @property
    def api_secret(self) -> str:
        return self.config.accounts[0].api_secret if self.config.accounts else DEFAULT_API_SECRET

    def patch_python_binance(self, monkeypatch) -> dict[str, str]:
        """Point python-binance's base URLs at this server (undone by monkeypatch)."""
        return patch_python_binance(monkeypatch, self)

    # --- thread-safe control API (see LocalBinance for semantics) ----------------------------
    def advance(self, n: int = 1) -> int:
        return self.call(self.server.advance, n)

    def set_price(self, symbol: str, price: str | Decimal) -> None:
        self.call(self.server.set_price, symbol, price)

    def emit_trade(self, symbol: str, price: str | Decimal, qty: str | Decimal) -> None:
        self.call(self.server.emit_trade, symbol, price, qty)

    def price(self, symbol: str) -> Decimal:
        return self.call(self.server.price, symbol)

    def inject(self, kind: str, **kwargs: Any) -> int:
        return self.call(self.server.inject, kind, **kwargs)

    def clear_faults(self) -> None:
        self.call(self.server.clear_faults)

    def requests(
        self, method: str | None = None, path: str | None = None, **params: Any
    ) -> list[RecordedRequest]:
        return self.call(self.server.requests, method, path, **params)

    def clear_requests(self) -> None:
        self.call(self.server.log.clear)

    def set_clock_skew(self, ms: int) -> None:
        self.call(self.server.set_clock_skew, ms)

    def disconnect_streams(self, market: bool = True, user: bool = False, code: int = 1000) -> int:
        return self.call(self.server.disconnect_streams, market, user, code)

    def silence_streams(self, silent: bool = True) -> None:
        self.call(self.server.silence_streams, silent)

    def server_shutdown(self) -> None:
        self.call(self.server.server_shutdown)

    def expire_listen_key(self, key: str | None = None, close: bool = False) -> list[str]:
        return self.call(self.server.expire_listen_key, key, close)

    def terminate_user_streams(self) -> int:
        return self.call(self.server.terminate_user_streams)

    def set_balance(self, asset: str, free: str | Decimal, account: str = "default") -> None:
        self.call(self.server.set_balance, asset, free, account)

    def deposit(self, asset: str, amount: str | Decimal, account: str = "default") -> None:
        self.call(self.server.deposit, asset, amount, account)

    def set_futures_balance(
        self, asset: str, amount: str | Decimal, account: str = "default"
    ) -> None:
        self.call(self.server.set_futures_balance, asset, amount, account)

    def balances(self, account: str = "default") -> dict[str, tuple[Decimal, Decimal]]:
        return self.call(self.server.balances, account)

    def set_symbol_status(self, symbol: str, status: str, market: str = "spot") -> None:
        self.call(self.server.set_symbol_status, symbol, status, market)

    def add_api_key(
        self, api_key: str, api_secret: str, account: str = "default", **permissions: Any
    ) -> None:
        self.call(self.server.add_api_key, api_key, api_secret, account, **permissions)

    def user_events(self, account: str = "default") -> list[dict]:
        return self.call(self.server.user_events, account)

    def connections(self, kind: str | None = None) -> int:
        """Open WebSockets: kind "spot"/"futures" (market), "wsapi"/"futures_user" (user),
        the groups "market" and "user", or None for all."""
        return self.call(self.server.connection_count, kind)
