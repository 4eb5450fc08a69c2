"""Shape comparison against the shared Binance payload fixtures."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from tests.localbinance.data import data_dir


def shared(relative: str) -> Any:
    """A payload from shared/data/binance; combined-stream envelopes are unwrapped."""
    payload = json.loads((data_dir() / "binance" / relative).read_text())
    if isinstance(payload, dict) and set(payload) == {"stream", "data"}:
        return payload["data"]
    return payload


def _is_decimal(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return text.strip() != "" and not text.isalpha()


def assert_shape(actual: Any, expected: Any, *, optional=(), extra=(), path: str = "$") -> None:
    """Same keys and JSON types as `expected`, recursively.

    `optional`: keys of `expected` the fake may omit (documented as conditional);
    `extra`: keys the fake may add (both apply at every depth). Decimal strings must
    stay decimal strings.
    """
    nested = {"optional": optional, "extra": extra}
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected object, got {type(actual).__name__}"
        missing = set(expected) - set(actual) - set(optional)
        unexpected = set(actual) - set(expected) - set(extra)
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        assert not unexpected, f"{path}: unexpected keys {sorted(unexpected)}"
        for key in set(expected) & set(actual):
            assert_shape(actual[key], expected[key], path=f"{path}.{key}", **nested)
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected array, got {type(actual).__name__}"
        if _is_tuple(expected):  # e.g. a kline row: positions have their own types
            assert len(actual) == len(expected), f"{path}: expected {len(expected)} items"
            for i, (item, model) in enumerate(zip(actual, expected, strict=True)):
                assert_shape(item, model, path=f"{path}[{i}]", **nested)
            return
        for i, item in enumerate(actual if expected else []):
            assert_shape(item, _model(item, expected), path=f"{path}[{i}]", **nested)
    elif isinstance(expected, bool):
        assert isinstance(actual, bool), f"{path}: expected bool, got {actual!r}"
    elif isinstance(expected, int):
        assert type(actual) is int, f"{path}: expected int, got {actual!r}"  # bool is not int
    elif isinstance(expected, str):
        assert isinstance(actual, str), f"{path}: expected string, got {actual!r}"
        if _is_decimal(expected):
            assert _is_decimal(actual), f"{path}: expected a decimal string, got {actual!r}"
    elif expected is None:
        assert actual is None or isinstance(actual, str), f"{path}: expected null, got {actual!r}"


DISCRIMINATORS = ("filterType", "rateLimitType", "e")


def _is_tuple(expected: list) -> bool:
    scalars = [e for e in expected if not isinstance(e, (dict, list))]
    return len(scalars) == len(expected) > 1 and len({type(e) for e in expected}) > 1


def _model(item: Any, expected: list) -> Any:
    """The example element to compare with: same filterType/rateLimitType/event if any."""
    if isinstance(item, dict):
        for key in DISCRIMINATORS:
            if key in item:
                same = [e for e in expected if isinstance(e, dict) and e.get(key) == item[key]]
                if same:
                    return same[0]
    return expected[0]


def run(coro):
    """Run a coroutine in a fresh event loop (no pytest-asyncio dependency)."""
    return asyncio.run(coro)


async def recv_until(socket, predicate, timeout: float = 3.0, limit: int = 200):
    """Read from a python-binance socket until `predicate(msg)` holds; returns the message."""
    for _ in range(limit):
        msg = await asyncio.wait_for(socket.recv(), timeout)
        if predicate(msg):
            return msg
    raise AssertionError("no matching message")
