"""Symbol rules for the order path, parsed once per process and dropped when symbols change.

Every order needs its symbol's rules; parsing them from the stored exchangeInfo on each call
cost milliseconds. A sync bumps a version in the shared cache, so every process sees a status
change (BREAK, HALT…) on its next order, not an interval later.
"""

from django.core.cache import cache

from marketdata.exchange.filters import SymbolRules
from marketdata.models import Symbol

VERSION_KEY = "marketdata:symbols:version"
_parsed: dict[tuple[str, str], tuple[int, SymbolRules]] = {}


def symbols_changed() -> None:
    cache.add(VERSION_KEY, 0, timeout=None)
    cache.incr(VERSION_KEY)


def rules_for(market: str, symbol: str) -> SymbolRules | None:
    version = cache.get(VERSION_KEY, 0)
    known = _parsed.get((market, symbol))
    if known is not None and known[0] == version:
        return known[1]
    row = Symbol.objects.filter(market=market, name=symbol).only("exchange_info").first()
    if row is None:
        return None
    rules = row.rules()
    _parsed[(market, symbol)] = (version, rules)
    return rules
