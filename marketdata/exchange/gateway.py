"""Every REST call to Binance goes through `BinanceGateway.call`.

It applies, in one place, what Binance asks of a client: spend request weight from the shared
budget, stop for every process when a 429/418 says so, resync the clock and resend once on -1021,
count failures for the circuit breaker, and turn exceptions into the three kinds of
`marketdata.exchange.errors`. It never resends an order whose outcome is unknown.
"""

import logging
import time
from typing import Any

from binance import Client
from django.core.cache import cache

from marketdata.exchange.clients import Venue, build_client
from marketdata.exchange.errors import (
    ClockSkew,
    DefiniteRejection,
    ExchangeError,
    RateLimited,
    classify,
)
from marketdata.exchange.limits import CircuitBreaker, RateLimiter

logger = logging.getLogger(__name__)

# Request weights from Binance's docs; the server's X-MBX-USED-WEIGHT header corrects any drift.
WEIGHTS = {
    "get_exchange_info": 20, "get_klines": 2, "get_ticker": 2, "get_orderbook_ticker": 2,
    "get_order_book": 5, "get_order": 4, "get_open_orders": 6, "get_all_orders": 20,
    "get_my_trades": 20, "get_account": 20, "get_account_api_permissions": 1,
    "futures_exchange_info": 1, "futures_klines": 5, "futures_get_order": 1,
    "futures_get_open_orders": 1, "futures_position_information": 5, "futures_account": 5,
    "futures_account_balance": 5, "futures_account_trades": 5,
}
ORDER_METHODS = {"create_order", "create_oco_order", "order_oco_buy", "order_oco_sell",
                 "futures_create_order", "futures_create_algo_order", "create_test_order"}
CLOCK_RESYNC_SECONDS = 15 * 60
FILTER_FAILURE = -1013
SYMBOLS_REFRESH_DEBOUNCE_SECONDS = 60


def request_symbols_refresh(market: str) -> None:
    """A -1013 may mean our copy of the filters is stale: refresh them, once a minute at most."""
    if cache.add(f"binance:symbols_refresh:{market}", 1, SYMBOLS_REFRESH_DEBOUNCE_SECONDS):
        from marketdata.tasks import symbols_sync_task  # the task module imports this one

        symbols_sync_task.delay(market)


def market_of(method: str) -> str:
    return "futures" if method.startswith("futures_") else "spot"


class ClockSync:
    """Keeps `timestamp_offset` (server time minus ours) per venue, shared through the cache."""

    def __init__(self, venue: Venue):
        self.key = f"binance:{venue.key}:clock_offset_ms"

    def apply(self, client: Client) -> None:
        offset = cache.get(self.key)
        client.timestamp_offset = offset if offset is not None else 0

    def due(self) -> bool:
        return cache.get(self.key) is None

    def resync(self, client: Client) -> int:
        """Measure the offset against the midpoint of the request's round trip."""
        sent = time.time() * 1000
        server_time = client.get_server_time()["serverTime"]
        received = time.time() * 1000
        offset = int(server_time - (sent + received) / 2)
        cache.set(self.key, offset, timeout=CLOCK_RESYNC_SECONDS)
        client.timestamp_offset = offset
        if abs(offset) > 500:
            logger.warning("clock differs from Binance by %d ms: check NTP on this host", offset)
        return offset


class BinanceGateway:
    def __init__(self, venue: Venue, *, api_key: str = "", api_secret: str = "",
                 client: Client | None = None):
        self.venue = venue
        self.client = client or build_client(venue, api_key=api_key, api_secret=api_secret)
        self.breaker = CircuitBreaker(venue.key)
        self.clock = ClockSync(venue)
        self._limiters: dict[str, RateLimiter] = {}

    def limiter(self, market: str) -> RateLimiter:
        if market not in self._limiters:
            self._limiters[market] = RateLimiter(self.venue.key, market)
        return self._limiters[market]

    def call(self, method: str, **params: Any) -> Any:
        """Call a python-binance Client method by name, with every rule above applied."""
        placing_order = method in ORDER_METHODS
        try:
            return self._send(method, params, placing_order=placing_order)
        except ClockSkew:
            # -1021 never reached the matching engine, so one resend is safe.
            logger.info("-1021 on %s: resyncing the clock and resending once", method)
            self._guarded(lambda: self.clock.resync(self.client), market_of(method),
                          placing_order=False)
            return self._send(method, params, placing_order=placing_order)

    def _send(self, method: str, params: dict, *, placing_order: bool) -> Any:
        market = market_of(method)
        self.breaker.before_call()
        self.limiter(market).acquire(WEIGHTS.get(method, 1), orders=1 if placing_order else 0)
        if self.clock.due():
            self._guarded(lambda: self.clock.resync(self.client), market, placing_order=False)
        else:
            self.clock.apply(self.client)
        call = getattr(self.client, method)
        result = self._guarded(lambda: call(**params), market, placing_order=placing_order)
        self.breaker.record_success()
        return result

    def _guarded(self, request, market: str, *, placing_order: bool) -> Any:
        """Run one request; whatever it raises comes out as an ExchangeError."""
        limiter = self.limiter(market)
        try:
            result = request()
        except Exception as exc:
            self._observe_headers(limiter)
            error = classify(exc, placing_order=placing_order)
            if error is None:
                raise
            self._record(error, limiter)
            raise error from exc
        self._observe_headers(limiter)
        return result

    def _observe_headers(self, limiter: RateLimiter) -> None:
        response = getattr(self.client, "response", None)
        if response is not None:
            limiter.observe(response.headers)

    def _record(self, error: ExchangeError, limiter: RateLimiter) -> None:
        if error.code == FILTER_FAILURE:
            request_symbols_refresh(limiter.market)
        if isinstance(error, RateLimited):
            limiter.pause(error.retry_after, banned=error.banned)
            logger.warning("Binance rate limit (%s): pausing all REST calls for %.1f s",
                           error.http_status, error.retry_after)
        if isinstance(error, DefiniteRejection):
            # The exchange answered, and answered sensibly: it is healthy.
            self.breaker.record_success()
        elif not isinstance(error, ClockSkew):
            self.breaker.record_failure()


def reset_venue_state(venue: Venue) -> None:
    """Forget pauses, the circuit state and the clock offset for a venue (operators, tests)."""
    prefix = f"binance:{venue.key}"
    keys = [f"{prefix}:{market}:{name}" for market in ("spot", "futures")
            for name in ("paused_until", "banned", "rate_limits")]
    keys += [f"{prefix}:circuit:{name}" for name in ("failures", "opened_at", "probe")]
    cache.delete_many([*keys, f"{prefix}:clock_offset_ms"])
