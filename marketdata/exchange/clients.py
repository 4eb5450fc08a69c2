"""The one place that builds configured python-binance clients.

A venue is where requests go: Binance live, Binance testnet, or a base URL speaking Binance's
protocol (our local Binance for tests and offline demos). python-binance has no base-URL argument;
its URLs are class attributes used as format templates, so a local venue gets a small subclass
whose attributes hold plain loopback URLs (a string without `{}` passes `.format()` unchanged).
Subclasses, not monkeypatching: several venues can live in one process.
"""

from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from binance import AsyncClient, BinanceSocketManager, Client

LIVE, TESTNET, LOCAL = "live", "testnet", "local"
REQUEST_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Venue:
    mode: str  # live | testnet | local
    base_url: str = ""  # only for local: e.g. http://127.0.0.1:9100

    def __post_init__(self):
        if self.mode not in (LIVE, TESTNET, LOCAL):
            raise ValueError(f"unknown venue mode {self.mode!r}")
        if self.mode == LOCAL and not self.base_url:
            raise ValueError("a local venue needs a base URL, e.g. http://127.0.0.1:9100")

    @property
    def key(self) -> str:
        """Identifies the venue for shared state (rate limits, time offset, circuit breaker)."""
        return f"{LOCAL}:{urlsplit(self.base_url).netloc}" if self.mode == LOCAL else self.mode

    @property
    def testnet(self) -> bool:
        return self.mode == TESTNET

    def ws_base_url(self) -> str:
        parts = urlsplit(self.base_url.rstrip("/"))
        scheme = "wss" if parts.scheme == "https" else "ws"
        return f"{scheme}://{parts.netloc}{parts.path}"


def _local_urls(venue: Venue) -> dict[str, str]:
    http, ws = venue.base_url.rstrip("/"), venue.ws_base_url()
    return {
        "API_URL": f"{http}/api",
        "MARGIN_API_URL": f"{http}/sapi",
        "FUTURES_URL": f"{http}/fapi",
        "FUTURES_DATA_URL": f"{http}/futures/data",
        "WS_API_URL": f"{ws}/ws-api/v3",
        "WS_FUTURES_URL": f"{ws}/ws-fapi/v1",
    }


@cache
def _client_class(base: type, venue: Venue) -> type:
    if venue.mode != LOCAL:
        return base
    return type(f"Local{base.__name__}", (base,), _local_urls(venue))


@cache
def _socket_manager_class(venue: Venue) -> type:
    if venue.mode != LOCAL:
        return BinanceSocketManager
    ws = venue.ws_base_url()
    # One host serves both markets locally: futures streams live under /fstream/ so that a
    # stream name alone never has to say which market it belongs to.
    return type("LocalBinanceSocketManager", (BinanceSocketManager,),
                {"STREAM_URL": f"{ws}/", "FSTREAM_URL": f"{ws}/fstream/"})


def build_client(venue: Venue, *, api_key: str = "", api_secret: str = "") -> Client:
    """A sync client; no network call on construction (the first request says if it works)."""
    client_class = _client_class(Client, venue)
    return client_class(api_key or None, api_secret or None, testnet=venue.testnet, ping=False,
                        requests_params={"timeout": REQUEST_TIMEOUT_SECONDS})


async def build_async_client(venue: Venue, *, api_key: str = "",
                             api_secret: str = "") -> AsyncClient:
    """An async client whose clock offset was measured against the venue (AsyncClient.create)."""
    client_class = _client_class(AsyncClient, venue)
    return await client_class.create(api_key or None, api_secret or None, testnet=venue.testnet,
                                     requests_params={"timeout": REQUEST_TIMEOUT_SECONDS})


def build_socket_manager(venue: Venue, client: AsyncClient, **kwargs) -> BinanceSocketManager:
    return _socket_manager_class(venue)(client, **kwargs)
