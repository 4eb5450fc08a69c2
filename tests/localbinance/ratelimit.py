"""Request-weight and order-count accounting (X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-*).

Binance counts in fixed windows aligned to the clock (the current minute, the current
10 seconds, the current UTC day). Weight is per IP - the fake has one client IP - and
order counts are per account.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import errors

SPOT_ORDER_WINDOWS = (("10S", 10_000, 50, "10 SECOND"), ("1D", 86_400_000, 160_000, "1 DAY"))
FUTURES_ORDER_WINDOWS = (("10S", 10_000, 300, "10 SECOND"), ("1M", 60_000, 1200, "1 MINUTE"))
WEIGHT_LIMITS = {"spot": 6000, "futures": 2400, "sapi": 12000}


@dataclass
class Window:
    size_ms: int
    start: int = -1
    used: int = 0

    def add(self, now: int, amount: int) -> int:
        start = now - now % self.size_ms
        if start != self.start:
            self.start, self.used = start, 0
        self.used += amount
        return self.used

    def current(self, now: int) -> int:
        return self.used if now - now % self.size_ms == self.start else 0

    def retry_after(self, now: int) -> int:
        return max(1, (self.start + self.size_ms - now + 999) // 1000)


@dataclass
class RateLimits:
    enforce: bool = True
    limits: dict[str, int] = field(default_factory=lambda: dict(WEIGHT_LIMITS))
    weights: dict[str, Window] = field(
        default_factory=lambda: {m: Window(60_000) for m in WEIGHT_LIMITS}
    )
    orders: dict[tuple[str, str, str], Window] = field(default_factory=dict)

    def add_weight(self, market: str, weight: int, now: int) -> dict[str, str]:
        window = self.weights[market]
        used = window.add(now, weight)
        if self.enforce and used > self.limits[market]:
            raise errors.too_much_weight(self.limits[market], "1 MINUTE", window.retry_after(now))
        return self.weight_headers(market, now)

    def weight_headers(self, market: str, now: int) -> dict[str, str]:
        used = str(self.weights[market].current(now))
        if market == "sapi":
            return {"X-SAPI-USED-IP-WEIGHT-1M": used}
        return {"X-MBX-USED-WEIGHT-1M": used}

    def _windows(self, market: str):
        return SPOT_ORDER_WINDOWS if market == "spot" else FUTURES_ORDER_WINDOWS

    def add_order(self, market: str, account_name: str, now: int) -> dict[str, str]:
        headers = {}
        for suffix, size, limit, label in self._windows(market):
            window = self.orders.setdefault((market, account_name, suffix), Window(size))
            used = window.add(now, 1)
            if self.enforce and used > limit:
                raise errors.too_many_orders(limit, label, window.retry_after(now))
            headers[f"X-MBX-ORDER-COUNT-{suffix}"] = str(used)
        return headers

    def order_counts(self, account, now: int) -> list[dict]:
        """GET /api/v3/rateLimit/order."""
        rows = []
        for suffix, size, limit, label in SPOT_ORDER_WINDOWS:
            window = self.orders.get(("spot", account.name, suffix), Window(size))
            interval, num = label.split(" ")[1], int(label.split(" ")[0])
            rows.append(
                {
                    "rateLimitType": "ORDERS",
                    "interval": interval,
                    "intervalNum": num,
                    "limit": limit,
                    "count": window.current(now),
                }
            )
        return rows
