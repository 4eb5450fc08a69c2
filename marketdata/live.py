"""Readers of the live market state the stream process keeps in the cache.

The stream process writes its status every few seconds; if it stops writing, everything it
watched counts as stale, so a dead stream process can never look like a quiet market.
"""

import time
from decimal import Decimal

from django.core.cache import cache

from marketdata.models import WatchedSymbol

STATUS_MAX_AGE_SECONDS = 15


def status_key(market: str) -> str:
    return f"marketdata:streams:{market}"


def ticker_key(market: str, symbol: str) -> str:
    return f"marketdata:ticker:{market}:{symbol.upper()}"


def stream_status(market: str) -> dict | None:
    status = cache.get(status_key(market))
    if status is None:
        return None
    age = time.time() - status.get("updated_at", 0)
    return {**status, "status_age": round(age, 1), "alive": age <= STATUS_MAX_AGE_SECONDS}


def _stale_in(status: dict | None, symbol: str) -> bool:
    if status is None or not status["alive"] or not status.get("connected"):
        return True
    entry = status.get("symbols", {}).get(symbol.upper())
    return entry is None or entry["stale"]


def is_stale(market: str, symbol: str) -> bool:
    """True unless a live stream process has fresh data for the symbol (bots must not enter)."""
    return _stale_in(stream_status(market), symbol)


def ticker(market: str, symbol: str) -> dict | None:
    return cache.get(ticker_key(market, symbol))


def last_price(market: str, symbol: str) -> Decimal | None:
    """The stream process's last price for the symbol, when it has one (fresh or not: callers
    that trade on it check `is_stale` first)."""
    price = (ticker(market, symbol) or {}).get("price")
    return Decimal(str(price)) if price not in (None, "") else None


def watched_tickers(market: str) -> list[dict]:
    """The last known ticker of every watched symbol of a market, with its stale flag."""
    status = stream_status(market)
    return [{**(ticker(market, w.symbol) or {}), "symbol": w.symbol, "market": market,
             "stale": _stale_in(status, w.symbol)}
            for w in WatchedSymbol.objects.active().filter(market=market)]
