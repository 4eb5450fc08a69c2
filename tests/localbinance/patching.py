"""Point python-binance 1.0.37 at a local Binance by patching its URL class attributes.

All base URLs are class-level format templates that constructors `.format()`; a
plain loopback URL passes through unchanged, so patching them before a client is built
redirects Client, AsyncClient, BinanceSocketManager and ThreadedWebsocketManager
(shared/docs/python-binance.md, section 1). Production, testnet and demo templates are
all patched so `testnet=True` clients land on the fake as well.
"""

from __future__ import annotations

CLIENT_URL_ATTRS = {
    "rest": ("API_URL", "API_TESTNET_URL", "API_DEMO_URL"),
    "sapi": ("MARGIN_API_URL",),
    "fapi": ("FUTURES_URL", "FUTURES_TESTNET_URL", "FUTURES_DEMO_URL"),
    "ws_api": ("WS_API_URL", "WS_API_TESTNET_URL", "WS_API_DEMO_URL"),
    "ws_fapi": ("WS_FUTURES_URL", "WS_FUTURES_TESTNET_URL", "WS_FUTURES_DEMO_URL"),
}
STREAM_URL_ATTRS = {
    "spot": ("STREAM_URL", "STREAM_TESTNET_URL", "STREAM_DEMO_URL"),
    "futures": ("FSTREAM_URL", "FSTREAM_TESTNET_URL", "FSTREAM_DEMO_URL"),
}


def binance_url_map(rest_url: str, ws_url: str) -> dict[str, str]:
    """Base URL for each python-binance template group (production, testnet and demo alike)."""
    return {
        "rest": f"{rest_url}/api",
        "sapi": f"{rest_url}/sapi",
        "fapi": f"{rest_url}/fapi",
        "ws_api": f"{ws_url}/ws-api/v3",
        "ws_fapi": f"{ws_url}/ws-fapi/v1",
        "spot": f"{ws_url}/",
        # A distinct prefix keeps spot and USD-M streams apart even for python-binance
        # calls without a category path; the server strips it.
        "futures": f"{ws_url}/fstream/",
    }


def patch_python_binance(monkeypatch, server) -> dict[str, str]:
    """Point python-binance (Client, AsyncClient, socket managers) at `server`.

    `monkeypatch` is a pytest MonkeyPatch (or anything with its setattr); `server`
    anything with rest_url/ws_url. Class attributes are patched, so build clients
    *after* calling this; monkeypatch restores the real URLs at teardown.
    """
    from binance.base_client import BaseClient
    from binance.ws.streams import BinanceSocketManager

    urls = binance_url_map(server.rest_url, server.ws_url)
    for group, names in CLIENT_URL_ATTRS.items():
        for name in names:
            monkeypatch.setattr(BaseClient, name, urls[group])
    for group, names in STREAM_URL_ATTRS.items():
        for name in names:
            monkeypatch.setattr(BinanceSocketManager, name, urls[group])
    return urls
