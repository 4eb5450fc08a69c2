"""The local Binance: a protocol-faithful fake of Binance spot and USD-M futures.

A real aiohttp HTTP + WebSocket server that python-binance talks to unchanged once its
base URLs point at it (see fixtures.patch_python_binance). Market data replays kline
CSVs; orders match against that price path with Decimal arithmetic; faults (429/418,
-1021, -1007, 5xx, dropped connections, -2013 lag, stream disconnects, ...) can be
switched on per endpoint. Run by hand with `python -m tests.localbinance --help`.
"""

from .exchange import DEFAULT_API_KEY, DEFAULT_API_SECRET, AccountConfig, ServerConfig
from .runner import BackgroundLocalBinance
from .server import LocalBinance

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "AccountConfig",
    "BackgroundLocalBinance",
    "LocalBinance",
    "ServerConfig",
]
