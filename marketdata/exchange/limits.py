"""Request-weight budget, 429/418 pauses and the circuit breaker, shared by every process.

Binance counts weight per IP, not per key or process, so the state lives in Django's cache:
Redis in the served profile (all workers see one budget), local memory in the embedded profile
(one process). The server's own `X-MBX-USED-WEIGHT-1M` header is the authority; our local count
only covers requests in flight between two headers.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from django.core.cache import cache

from marketdata.exchange.errors import CircuitOpen, RateLimited

INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
INTERVAL_LETTER = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}
# Until exchangeInfo has been read (documented figures; exchangeInfo.rateLimits overrides them).
DEFAULT_RATE_LIMITS = {
    "spot": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    ],
    "futures": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    ],
}
# Keep a margin: other tools on the same IP, and requests in flight, use weight we do not see.
SAFETY_FRACTION = 0.9
# A caller waits out short pauses itself; a longer one (a 418 ban) is raised so a task can
# retry later instead of holding a worker.
MAX_BLOCKING_WAIT = 5.0


@dataclass(frozen=True)
class Window:
    """One of Binance's counters: a limit per `seconds`, reported back in `header`."""

    kind: str  # REQUEST_WEIGHT | ORDERS
    seconds: int
    limit: int
    header: str

    @classmethod
    def from_rate_limit(cls, rule: Mapping) -> "Window":
        n, interval = int(rule["intervalNum"]), rule["interval"]
        name = "USED-WEIGHT" if rule["rateLimitType"] == "REQUEST_WEIGHT" else "ORDER-COUNT"
        return cls(kind=rule["rateLimitType"], seconds=n * INTERVAL_SECONDS[interval],
                   limit=int(rule["limit"]), header=f"X-MBX-{name}-{n}{INTERVAL_LETTER[interval]}")


def windows_from(rate_limits: list[Mapping]) -> list[Window]:
    kinds = ("REQUEST_WEIGHT", "ORDERS")
    return [Window.from_rate_limit(rule) for rule in rate_limits
            if rule.get("rateLimitType") in kinds and rule.get("interval") in INTERVAL_SECONDS]


class RateLimiter:
    def __init__(self, venue_key: str, market: str, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        self.prefix, self.market = f"binance:{venue_key}:{market}", market
        rules = cache.get(f"{self.prefix}:rate_limits") or DEFAULT_RATE_LIMITS[market]
        self.windows = windows_from(rules)
        self.clock, self.sleep = clock, sleep

    def adopt_rate_limits(self, rate_limits: list[Mapping]) -> None:
        """Use exchangeInfo's `rateLimits` from now on, in every process."""
        cache.set(f"{self.prefix}:rate_limits", list(rate_limits), timeout=None)
        self.windows = windows_from(rate_limits)

    # --- pauses (429 / 418) -----------------------------------------------------------------
    def pause(self, seconds: float, *, banned: bool = False) -> None:
        until = self.clock() + seconds
        current = cache.get(f"{self.prefix}:paused_until") or 0
        if until > current:
            cache.set(f"{self.prefix}:paused_until", until, timeout=int(seconds) + 5)
            cache.set(f"{self.prefix}:banned", banned, timeout=int(seconds) + 5)

    def paused_for(self) -> float:
        return max((cache.get(f"{self.prefix}:paused_until") or 0) - self.clock(), 0.0)

    def _wait(self, seconds: float, reason: str, *, banned: bool = False) -> None:
        if seconds > MAX_BLOCKING_WAIT:
            raise RateLimited(reason, retry_after=seconds, banned=banned)
        self.sleep(seconds)

    # --- budgets ----------------------------------------------------------------------------
    def _key(self, window: Window, now: float) -> str:
        return f"{self.prefix}:{window.header}:{int(now // window.seconds)}"

    def used(self, header: str) -> int:
        window = next(w for w in self.windows if w.header == header)
        return cache.get(self._key(window, self.clock())) or 0

    def acquire(self, weight: int, *, orders: int = 0) -> None:
        """Wait (briefly) until the request fits every budget and no pause is on."""
        paused = self.paused_for()
        if paused:
            banned = bool(cache.get(f"{self.prefix}:banned"))
            self._wait(paused, f"Binance asked us to pause for {paused:.1f} s", banned=banned)
        for window in self.windows:
            cost = weight if window.kind == "REQUEST_WEIGHT" else orders
            if cost:
                self._spend(window, cost)

    def _spend(self, window: Window, cost: int) -> None:
        now = self.clock()
        key = self._key(window, now)
        cache.add(key, 0, timeout=window.seconds + 60)
        used = cache.incr(key, cost)
        if used > window.limit * SAFETY_FRACTION:
            wait = window.seconds - now % window.seconds
            self._wait(wait, f"{window.header} budget used ({used}/{window.limit})")

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adopt the server's counts where it knows of more use than we do."""
        lowered = {name.lower(): value for name, value in headers.items()}
        now = self.clock()
        for window in self.windows:
            reported = lowered.get(window.header.lower())
            if reported is None:
                continue
            key = self._key(window, now)
            cache.add(key, 0, timeout=window.seconds + 60)
            local = cache.get(key) or 0
            if int(reported) > local:
                cache.incr(key, int(reported) - local)


class CircuitBreaker:
    """Opens after `threshold` consecutive failures; after `reset_after` seconds one probe is
    let through, and its success closes the circuit again."""

    def __init__(self, venue_key: str, *, threshold: int = 5, reset_after: float = 30.0,
                 clock: Callable[[], float] = time.time):
        self.prefix = f"binance:{venue_key}:circuit"
        self.threshold, self.reset_after, self.clock = threshold, reset_after, clock

    def state(self) -> str:
        opened_at = cache.get(f"{self.prefix}:opened_at")
        if opened_at is None:
            return "closed"
        return "half-open" if self.clock() - opened_at >= self.reset_after else "open"

    def before_call(self) -> None:
        state = self.state()
        if state == "open":
            raise CircuitOpen("circuit open after repeated exchange failures; waiting to probe")
        # Half-open: exactly one caller gets to probe; the others are refused until it reports.
        if state == "half-open" and not cache.add(f"{self.prefix}:probe", 1,
                                                 timeout=int(self.reset_after)):
            raise CircuitOpen("circuit half-open: a probe request is under way")

    def record_success(self) -> None:
        cache.delete_many([f"{self.prefix}:failures", f"{self.prefix}:opened_at",
                           f"{self.prefix}:probe"])

    def record_failure(self) -> None:
        cache.add(f"{self.prefix}:failures", 0, timeout=3600)
        failures = cache.incr(f"{self.prefix}:failures")
        if failures >= self.threshold:
            cache.set(f"{self.prefix}:opened_at", self.clock(), timeout=3600)
            cache.delete(f"{self.prefix}:probe")
