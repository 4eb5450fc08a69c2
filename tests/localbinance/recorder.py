"""A log of every request the fake received, for assertions such as "exactly one
POST /api/v3/order carried clientOrderId X"."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RecordedRequest:
    method: str  # HTTP verb, or "WS" for WebSocket API frames
    path: str
    params: dict[str, str]
    time: int  # wall clock ms
    api_key: str | None = None
    status: int | None = None  # HTTP status sent (None: connection dropped)
    fault: str | None = None  # kind of the fault rule applied, if any
    ws_method: str | None = None  # WebSocket API method


@dataclass
class RequestLog:
    entries: list[RecordedRequest] = field(default_factory=list)

    def add(self, entry: RecordedRequest) -> RecordedRequest:
        self.entries.append(entry)
        return entry

    def find(
        self, method: str | None = None, path: str | None = None, **params: str
    ) -> list[RecordedRequest]:
        """Requests matching method/path and carrying every given parameter value."""
        return [
            e
            for e in self.entries
            if (method is None or e.method == method.upper())
            and (path is None or e.path == path)
            and all(e.params.get(k) == str(v) for k, v in params.items())
        ]

    def clear(self) -> None:
        self.entries.clear()
