from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from marketdata.exchange.clients import Venue
from marketdata.exchange.gateway import BinanceGateway
from marketdata.models import Symbol, SymbolStatusChange
from marketdata.symbol_rules import symbols_changed
from marketdata.venues import market_data_venue

EXCHANGE_INFO_METHOD = {"spot": "get_exchange_info", "futures": "futures_exchange_info"}
NOT_LISTED = "NOT_LISTED"


@dataclass
class SymbolSyncReport:
    market: str
    created: int = 0
    updated: int = 0
    status_changes: list[str] = field(default_factory=list)

    def __str__(self):
        changes = "; ".join(self.status_changes) or "no status changes"
        return (f"{self.market}: {self.created} new, {self.updated} updated symbols, "
                f"{changes}")


def symbols_sync(*, market: str, venue: Venue | None = None,
                 gateway: BinanceGateway | None = None) -> SymbolSyncReport:
    """Refresh every symbol of a market from exchangeInfo, recording status changes."""
    gateway = gateway or BinanceGateway(venue or market_data_venue())
    info = gateway.call(EXCHANGE_INFO_METHOD[market])
    gateway.limiter(market).adopt_rate_limits(info.get("rateLimits", []))
    return _store_symbols(market, info["symbols"])


@transaction.atomic
def _store_symbols(market: str, entries: list[dict]) -> SymbolSyncReport:
    report, now = SymbolSyncReport(market), timezone.now()
    existing = {s.name: s for s in Symbol.objects.select_for_update().filter(market=market)}
    changes, to_create, to_update = [], [], []
    for entry in entries:
        symbol = existing.pop(entry["symbol"], None)
        if symbol is None:
            symbol = Symbol(market=market, name=entry["symbol"], synced_at=now)
            symbol.take_exchange_info(entry)
            to_create.append(symbol)
            continue
        old_status = symbol.status
        symbol.take_exchange_info(entry)
        symbol.synced_at = now
        if symbol.status != old_status:
            changes.append(_status_change(symbol, old_status, now))
        to_update.append(symbol)
    for gone in existing.values():  # delisted: no longer in exchangeInfo at all
        if gone.status != NOT_LISTED:
            old_status, gone.status, gone.synced_at = gone.status, NOT_LISTED, now
            changes.append(_status_change(gone, old_status, now))
            to_update.append(gone)
    Symbol.objects.bulk_create(to_create, batch_size=500)
    fields = ["status", "base_asset", "quote_asset", "tick_size", "step_size", "min_qty",
              "min_notional", "exchange_info", "status_changed_at", "synced_at"]
    Symbol.objects.bulk_update(to_update, fields, batch_size=500)
    SymbolStatusChange.objects.bulk_create(changes)
    transaction.on_commit(symbols_changed)
    report.created, report.updated = len(to_create), len(to_update)
    report.status_changes = [str(change) for change in changes]
    return report


def _status_change(symbol: Symbol, old_status: str, now) -> SymbolStatusChange:
    symbol.status_changed_at = now
    return SymbolStatusChange(symbol=symbol, old_status=old_status, new_status=symbol.status,
                              changed_at=now)
