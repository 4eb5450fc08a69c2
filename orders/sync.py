"""The account's holdings as Binance reports them.

Balances (spot and futures) are copied into the books of the one portfolio that trades on the
account: on an exchange portfolio nothing but Binance moves them. USD-M positions are recorded
beside the books (`Position.exchange_quantity`), never over them: the books are what our fills
add up to, and a difference means a trade no order of ours explains (a liquidation, a manual
close) or a missed fill that the next reconciliation fetches.
"""

import logging
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from orders import events
from orders.models import Balance, Position
from portfolios.models import Portfolio

logger = logging.getLogger(__name__)


def sole_portfolio(account_id: int) -> Portfolio | None:
    """Holdings belong to an account, books to a portfolio: copy them only when one active
    portfolio trades on the account (two would each claim the same money)."""
    portfolios = list(Portfolio.objects.filter(exchange_account_id=account_id, active=True)
                      .exclude(mode=Portfolio.Mode.PAPER))
    return portfolios[0] if len(portfolios) == 1 else None


@transaction.atomic
def balances_apply(*, portfolio: Portfolio, balances: dict[str, tuple[Decimal, Decimal]],
                   complete: bool = True) -> int:
    """Set the portfolio's balances to the exchange's (asset -> free, locked). With
    `complete`, assets the exchange no longer lists drop to zero. Returns rows changed."""
    changed = 0
    for asset, (free, locked) in balances.items():
        row, _ = Balance.objects.select_for_update().get_or_create(portfolio=portfolio,
                                                                   asset=asset)
        if (row.free, row.locked) != (free, locked):
            row.free, row.locked = free, locked
            row.save(update_fields=["free", "locked", "updated_at"])
            changed += 1
    if complete:
        gone = Balance.objects.filter(portfolio=portfolio).exclude(asset__in=list(balances))
        changed += gone.exclude(free=0, locked=0).update(free=0, locked=0)
    if changed:
        events.balances_changed(portfolio)
    return changed


@transaction.atomic
def futures_positions_apply(*, portfolio: Portfolio,
                            positions: dict[str, tuple[Decimal, Decimal]],
                            complete: bool = True) -> int:
    """Record Binance's futures positions (symbol -> signed amount, entry price) beside our
    books. The books stay what our fills add up to: a report racing a fill would otherwise
    count it twice. A lasting difference is logged, and shown on the positions page, as what
    it is: a trade no order of ours explains (a liquidation, a manual close) or a missed fill
    the next reconciliation will fetch. Returns how many positions differ."""
    now = timezone.now()
    rows = {p.symbol: p for p in Position.objects.select_for_update().filter(
        portfolio=portfolio, market="futures")}
    symbols = set(positions) | (set(rows) if complete else set())
    differing = 0
    for symbol in sorted(symbols):
        amount, entry = positions.get(symbol, (Decimal("0"), Decimal("0")))
        row = rows.get(symbol) or Position(portfolio=portfolio, market="futures", symbol=symbol)
        row.exchange_quantity, row.exchange_entry_price = amount, entry
        row.exchange_checked_at = now
        row.save()
        if row.differs_from_exchange:
            differing += 1
            logger.warning("futures position %s of %s: our fills say %s, Binance says %s",
                           symbol, portfolio, row.quantity, amount)
    return differing


def holdings_sync(*, portfolio: Portfolio, gateway) -> dict:
    """Fetch and apply the account's balances (and futures positions) over REST."""
    report = {"balances": balances_apply(portfolio=portfolio, balances=gateway.balances())}
    if getattr(gateway, "market", "spot") == "futures":
        report["positions_differing"] = futures_positions_apply(portfolio=portfolio,
                                                      positions=gateway.positions())
    return report
