"""Access to the shared protocol fixtures (shared/data) the fake serves from.

The shared directory lives next to the repository (<repo>/../shared); SHARED_DATA_DIR
overrides it so CI can mount the data elsewhere.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
from functools import cache
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]

SPOT_EXCHANGE_INFO = "binance/spot/rest/exchangeInfo.real-2021-10-12.subset.json"
SPOT_EXCHANGE_INFO_FULL = "binance/spot/rest/exchangeInfo.real-2021-10-12.full.json.gz"
FUTURES_EXCHANGE_INFOS = (
    "binance/futures_um/rest/exchangeInfo.real-2022-02-19.subset.json",
    "binance/futures_um/rest/exchangeInfo.real-2021-07-22.subset.json",
)
FUTURES_EXCHANGE_INFO_FULL = "binance/futures_um/rest/exchangeInfo.real-2021-07-22.full.json.gz"

DEFAULT_KLINES = ("BTCUSDT-1m-octobot-spot.csv", "ETHUSDT-1m-octobot-spot.csv")

# Current spot limits (rest-api.md / rateLimit_order.docs.json): the 2021 capture still
# advertises 1200 weight per minute, but Binance has enforced 6000 since 2023.
SPOT_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


def shared_dir() -> Path:
    """<repo>/../shared (the layout of /work), or $SHARED_DATA_DIR when set."""
    override = os.environ.get("SHARED_DATA_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[3] / "shared"


def data_dir() -> Path:
    return shared_dir() / "data"


def klines_dir() -> Path:
    return data_dir() / "klines"


def load_json(relative: str):
    """Load a JSON (or .json.gz) file under shared/data; returns a fresh copy each call."""
    return copy.deepcopy(_load_cached(str(data_dir() / relative)))


@cache
def _load_cached(path: str):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


def spot_symbol_info(symbol: str) -> dict | None:
    """The real exchangeInfo entry for a spot symbol (subset first, full capture second)."""
    for name in (SPOT_EXCHANGE_INFO, SPOT_EXCHANGE_INFO_FULL):
        for entry in _load_cached(str(data_dir() / name))["symbols"]:
            if entry["symbol"] == symbol:
                return copy.deepcopy(entry)
    return None


def futures_symbol_info(symbol: str) -> dict | None:
    """The real USD-M exchangeInfo entry for a perpetual symbol, newest capture first."""
    for name in (*FUTURES_EXCHANGE_INFOS, FUTURES_EXCHANGE_INFO_FULL):
        for entry in _load_cached(str(data_dir() / name))["symbols"]:
            if entry["symbol"] == symbol and entry.get("contractType") == "PERPETUAL":
                return copy.deepcopy(entry)
    return None


def futures_exchange_header() -> dict:
    """Top-level futures exchangeInfo keys (rateLimits, assets, ...) without symbols."""
    info = load_json(FUTURES_EXCHANGE_INFOS[0])
    info.pop("symbols")
    return info


def spot_exchange_header() -> dict:
    info = load_json(SPOT_EXCHANGE_INFO)
    info.pop("symbols")
    info["rateLimits"] = copy.deepcopy(SPOT_RATE_LIMITS)
    return info
