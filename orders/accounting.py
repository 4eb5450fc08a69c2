"""Average-cost position accounting, pure Python (backtests and the books share it).

Fees: a fee in the base asset shrinks what a BUY delivers; a fee in the quote asset adds to a
BUY's cost or comes off a SELL's proceeds; a fee in a third asset (BNB) changes neither and is
only reported (its quote value is the caller's to record). Cost leaves the position in
proportion to the quantity sold, so selling everything takes exactly all of the cost.
"""

from dataclasses import dataclass, replace
from decimal import Decimal

ZERO = Decimal("0")


@dataclass(frozen=True)
class PositionState:
    quantity: Decimal = ZERO
    cost: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO  # in the quote asset, where the fee was paid in base or quote


@dataclass(frozen=True)
class FillAmounts:
    side: str  # BUY | SELL
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str


def fee_in_quote(fill: FillAmounts, *, base_asset: str, quote_asset: str) -> Decimal:
    if fill.commission_asset == quote_asset:
        return fill.commission
    if fill.commission_asset == base_asset:
        return fill.commission * fill.price
    return ZERO


def apply_fill(state: PositionState, fill: FillAmounts, *, base_asset: str,
               quote_asset: str) -> PositionState:
    base_fee = fill.commission if fill.commission_asset == base_asset else ZERO
    quote_fee = fill.commission if fill.commission_asset == quote_asset else ZERO
    fees = state.fees_paid + fee_in_quote(fill, base_asset=base_asset, quote_asset=quote_asset)
    if fill.side == "BUY":
        return replace(state, quantity=state.quantity + fill.quantity - base_fee,
                       cost=state.cost + fill.quote_quantity + quote_fee, fees_paid=fees)
    sold = fill.quantity + base_fee
    if state.quantity <= 0:  # nothing held (spot sells only what it holds): book proceeds only
        return replace(state, realised_pnl=state.realised_pnl + fill.quote_quantity - quote_fee,
                       quantity=state.quantity - sold, fees_paid=fees)
    taken = state.cost if sold >= state.quantity else state.cost * sold / state.quantity
    proceeds = fill.quote_quantity - quote_fee
    return PositionState(quantity=state.quantity - sold, cost=state.cost - taken,
                         realised_pnl=state.realised_pnl + proceeds - taken, fees_paid=fees)
