"""pytest fixtures for the local Binance (register with
`pytest_plugins = ["tests.localbinance.fixtures"]`).

* `local_binance` - a fresh server per test on 127.0.0.1:<free port>, BTCUSDT and ETHUSDT
  1m klines loaded, default account (API key/secret with trade + futures permission,
  spot USDT=10000 BTC=0.5 ETH=5, futures USDT=10000). Yields a BackgroundLocalBinance:
  .rest_url, .ws_url, .api_key, .api_secret and the thread-safe control methods.
* `binance_urls` - `local_binance` with python-binance's base URLs pointed at it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .exchange import ServerConfig
from .patching import binance_url_map, patch_python_binance
from .runner import BackgroundLocalBinance

__all__ = [
    "binance_url_map",
    "binance_urls",
    "fast_socket_exit",
    "local_binance",
    "local_binance_config",
    "patch_python_binance",
]


@pytest.fixture
def local_binance_config() -> ServerConfig:
    """Override in a test module to change klines, accounts or commissions."""
    return ServerConfig()


@pytest.fixture
def local_binance(local_binance_config: ServerConfig) -> Iterator[BackgroundLocalBinance]:
    server = BackgroundLocalBinance(local_binance_config).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def binance_urls(
    local_binance: BackgroundLocalBinance, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    return patch_python_binance(monkeypatch, local_binance)


@pytest.fixture
def fast_socket_exit(monkeypatch: pytest.MonkeyPatch) -> float:
    """Make python-binance sockets close quickly against a quiet fake.

    ReconnectingWebsocket's read loop only notices an exit request when `recv()` returns,
    which on a quiet stream takes its TIMEOUT (10 s). Live Binance streams are never
    quiet; replayed ones usually are. The value also bounds WebSocket API requests,
    which a loopback server answers in milliseconds.
    """
    from binance.ws.reconnecting_websocket import ReconnectingWebsocket

    monkeypatch.setattr(ReconnectingWebsocket, "TIMEOUT", 0.5)
    return 0.5
