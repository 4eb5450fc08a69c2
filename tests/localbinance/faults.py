"""Fault injection: rules a test switches on to make the fake misbehave like Binance.

A rule is scoped by HTTP method and path (exact, or a glob such as "/api/v3/*") and
lasts for `count` matching requests and/or `duration` seconds. Phase "before" answers
instead of executing the request; phase "after" executes it first and then replaces
the answer - the "unknown outcome" cases (-1007, 5xx, dropped connection) where the
order exists although the client saw a failure.
"""

from __future__ import annotations

import fnmatch
import itertools
import time
from dataclasses import dataclass, field

KINDS = {
    # kind: default phase
    "rate_limit": "before",  # 429 -1003 + Retry-After
    "ban": "before",  # 418 -1003 + Retry-After
    "timestamp": "before",  # -1021 (clock skew seen by the server)
    "timeout": "after",  # 503 -1007, execution status unknown
    "server_error": "after",  # 5xx with a non-JSON gateway body
    "drop": "after",  # close the socket without any response
    "delay": "after",  # respond `seconds` late
    "error": "before",  # any {"code","msg"} with any status
    "order_not_found": "create",  # new orders answer -2013 to their first `queries` lookups
}


@dataclass
class FaultRule:
    id: int
    kind: str
    method: str | None = None
    path: str | None = None
    count: int | None = 1
    until: float | None = None
    phase: str = "before"
    options: dict = field(default_factory=dict)
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or fnmatch.fnmatchcase(path, self.path)

    def live(self, now: float) -> bool:
        if self.until is not None and now >= self.until:
            return False
        return self.count is None or self.hits < self.count

    def describe(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "method": self.method,
            "path": self.path,
            "count": self.count,
            "phase": self.phase,
            "hits": self.hits,
            "options": self.options,
            "remaining_seconds": None
            if self.until is None
            else max(0.0, self.until - time.monotonic()),
        }


class FaultInjector:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(
        self,
        kind: str,
        *,
        method: str | None = None,
        path: str | None = None,
        count: int | None = 1,
        duration: float | None = None,
        phase: str | None = None,
        **options,
    ) -> FaultRule:
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(KINDS)}")
        if duration is not None and count == 1:
            count = None  # "for N seconds" means every request in that window
        rule = FaultRule(
            id=next(self._ids),
            kind=kind,
            method=method.upper() if method else None,
            path=path,
            count=count,
            until=time.monotonic() + duration if duration is not None else None,
            phase=phase or KINDS[kind],
            options=options,
        )
        self.rules.append(rule)
        return rule

    def remove(self, rule_id: int) -> None:
        self.rules = [r for r in self.rules if r.id != rule_id]

    def clear(self) -> None:
        self.rules.clear()

    def take(self, phase: str, method: str, path: str) -> FaultRule | None:
        """Consume one activation of the first live rule for this phase and request."""
        now = time.monotonic()
        self.rules = [r for r in self.rules if r.live(now)]
        for rule in self.rules:
            if rule.phase == phase and rule.matches(method, path):
                rule.hits += 1
                return rule
        return None
