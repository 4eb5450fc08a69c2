"""Fixtures for the local Binance's own tests (no Django, no database)."""

from __future__ import annotations

import pytest
from binance.client import Client

from tests.localbinance.fixtures import (  # noqa: F401 - re-exported fixtures
    binance_urls,
    fast_socket_exit,
    local_binance,
    local_binance_config,
)


@pytest.fixture
def client(local_binance, binance_urls) -> Client:  # noqa: F811 - the imported fixtures
    """A sync python-binance Client talking to the fake."""
    return Client(local_binance.api_key, local_binance.api_secret)
