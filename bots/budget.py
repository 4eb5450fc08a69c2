"""What a portfolio's budget has left: the money its open buy orders and held positions
already commit, against the total budget, the per-symbol cap and the symbol's allocation.

Callers check and place inside one transaction that holds the portfolio's row
(`risk.services.lock_portfolio`), so two bots ticking at once cannot both spend the same
headroom.
"""

from dataclasses import dataclass
from decimal import Decimal

from orders.models import Order, Position
from portfolios.models import Portfolio, SymbolAllocation
from risk.services import open_notional

ZERO = Decimal("0")


@dataclass(frozen=True)
class Headroom:
    amount: Decimal  # what may still be committed for this symbol, in the quote asset
    limit: str  # which limit binds, in words


def committed(portfolio: Portfolio, symbol: str | None = None) -> Decimal:
    """Quote committed by open BUY orders and by the cost of long positions (of one symbol,
    or of all)."""
    orders = Order.objects.filter(portfolio=portfolio, side=Order.Side.BUY).open()
    positions = Position.objects.filter(portfolio=portfolio, quantity__gt=0)
    if symbol is not None:
        orders, positions = orders.filter(symbol=symbol), positions.filter(symbol=symbol)
    held = sum((p.cost for p in positions), ZERO)
    return held + sum((open_notional(o) for o in orders), ZERO)


def headroom(portfolio: Portfolio, symbol: str) -> Headroom:
    """The tightest of: the total budget, the per-symbol cap, the symbol's allocation."""
    if portfolio.total_budget <= 0:
        return Headroom(ZERO, "the portfolio has no budget set")
    limits = [Headroom(portfolio.total_budget - committed(portfolio), "the portfolio's budget")]
    symbol_used = committed(portfolio, symbol)
    if portfolio.max_budget_per_symbol > 0:
        limits.append(Headroom(portfolio.max_budget_per_symbol - symbol_used,
                               "the portfolio's cap per symbol"))
    allocation = SymbolAllocation.objects.filter(portfolio=portfolio, symbol=symbol).first()
    if allocation is not None:
        limits.append(Headroom(allocation.allocated_budget - symbol_used,
                               f"{symbol}'s allocation"))
    tightest = min(limits, key=lambda h: h.amount)
    return Headroom(max(tightest.amount, ZERO), tightest.limit)


def allocation_for(portfolio: Portfolio, symbol: str) -> Decimal:
    """The money a bot on this symbol may use in all: its allocation, else the per-symbol
    cap, else the total budget."""
    allocation = SymbolAllocation.objects.filter(portfolio=portfolio, symbol=symbol).first()
    if allocation is not None:
        return allocation.allocated_budget
    return portfolio.max_budget_per_symbol or portfolio.total_budget
