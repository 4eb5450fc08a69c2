"""REST plumbing shared by the spot and futures handlers: parsed calls and the route table."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from . import errors
from .accounts import Account, ApiKey
from .decimals import DECIMAL_PATTERN, parse_decimal

CLIENT_ID_PATTERN = r"^[a-zA-Z0-9-_]{1,36}$"
FUTURES_CLIENT_ID_PATTERN = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"


class Security(enum.Enum):
    NONE = "NONE"
    USER_STREAM = "USER_STREAM"  # API key, no signature
    MARKET_DATA = "MARKET_DATA"
    TRADE = "TRADE"  # signed, needs trading permission
    USER_DATA = "USER_DATA"  # signed

    @property
    def signed(self) -> bool:
        return self in (Security.TRADE, Security.USER_DATA)


@dataclass
class Call:
    """One REST request, parameters merged from query string and form body."""

    method: str
    path: str
    query: str
    body: str
    pairs: list[tuple[str, str]]
    api_key_header: str | None
    api_key: ApiKey | None = None
    params: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.params = dict(self.pairs)

    @property
    def account(self) -> Account:
        assert self.api_key is not None, "endpoint must declare a security level"
        return self.api_key.account

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self.params.get(name)
        return default if value in (None, "") else value

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise errors.mandatory(name)
        return value

    def decimal(self, name: str, required: bool = False) -> Decimal | None:
        raw = self.require(name) if required else self.get(name)
        if raw is None:
            return None
        value = parse_decimal(raw)
        if value is None:
            raise errors.illegal_chars(name, DECIMAL_PATTERN)
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        raw = self.get(name)
        if raw is None:
            return default
        if not re.fullmatch(r"-?\d+", raw):
            raise errors.invalid_param(name)
        return int(raw)

    def enum(
        self, name: str, allowed: tuple[str, ...], error: errors.BinanceError, default=None
    ) -> str:
        value = self.get(name, default)
        if value is None:
            raise errors.mandatory(name)
        if value not in allowed:
            raise error
        return value

    def flag(self, name: str) -> bool:
        return (self.get(name) or "false").lower() == "true"

    def client_id(self, name: str, pattern: str = CLIENT_ID_PATTERN) -> str | None:
        value = self.get(name)
        if value is not None and not re.fullmatch(pattern, value):
            raise errors.illegal_chars(name, pattern)
        return value

    def limit(self, default: int, maximum: int) -> int:
        value = self.integer("limit", default)
        if value is None or value <= 0:
            raise errors.invalid_param("limit")
        return min(value, maximum)


Weight = int | Callable[[Call], int]


def by_symbol(with_symbol: int, without: int) -> Callable[[Call], int]:
    """Weight that depends on whether the request names one symbol (tickers, openOrders)."""
    return lambda call: with_symbol if call.get("symbol") else without


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Callable
    security: Security
    weight: Weight = 1
    market: str = "spot"  # which rate-limit family: spot, futures, sapi
    order: bool = False  # counts against the ORDERS limits

    def weight_of(self, call: Call) -> int:
        return self.weight(call) if callable(self.weight) else self.weight


class Routes:
    def __init__(self) -> None:
        self.table: dict[tuple[str, str], Endpoint] = {}

    def add(self, method: str, path: str, handler: Callable, security: Security, **kwargs) -> None:
        self.table[(method, path)] = Endpoint(method, path, handler, security, **kwargs)

    def find(self, method: str, path: str) -> Endpoint | None:
        return self.table.get((method, path))
