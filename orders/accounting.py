"""Average-cost position accounting, pure Python (backtests and the books share it).

Spot: a fee in the base asset shrinks what a BUY delivers; a fee in the quote asset adds to a
BUY's cost or comes off a SELL's proceeds. A fee in a third asset (BNB) moves neither amount;
when the caller knows its value in the quote asset (`FillAmounts.commission_quote`) it counts
like a quote fee, otherwise it is only reported. Cost leaves the position in proportion to the
quantity sold, so selling everything takes exactly all of the cost.

USD-M futures: the quantity is signed (short below zero) and so is the cost, the entry
notional, so `quantity * last - cost` is the unrealised PnL on either side and
`cost / quantity` the entry price. A fill against the position realises PnL on the part it
closes; a fill larger than the position flips it, the rest opening at the fill's price. Fees
(paid from the margin balance, never from the position) come off realised PnL as they are paid.
"""

from dataclasses import dataclass, replace
from decimal import Decimal

ZERO = Decimal("0")


@dataclass(frozen=True)
class PositionState:
    quantity: Decimal = ZERO
    cost: Decimal = ZERO
    realised_pnl: Decimal = ZERO
    fees_paid: Decimal = ZERO  # in the quote asset


@dataclass(frozen=True)
class FillAmounts:
    side: str  # BUY | SELL
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str
    commission_quote: Decimal | None = None  # a third-asset fee's value in the quote asset


def fee_in_quote(fill: FillAmounts, *, base_asset: str, quote_asset: str) -> Decimal:
    if fill.commission_asset == quote_asset:
        return fill.commission
    if fill.commission_asset == base_asset:
        return fill.commission * fill.price
    return fill.commission_quote or ZERO


def apply_fill(state: PositionState, fill: FillAmounts, *, base_asset: str,
               quote_asset: str) -> PositionState:
    base_fee = fill.commission if fill.commission_asset == base_asset else ZERO
    fee_value = fee_in_quote(fill, base_asset=base_asset, quote_asset=quote_asset)
    quote_fee = ZERO if base_fee else fee_value  # a quote or third-asset fee, in quote
    fees = state.fees_paid + fee_value
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


def apply_futures_fill(state: PositionState, fill: FillAmounts, *,
                       quote_asset: str) -> PositionState:
    """One USD-M fill on a one-way (BOTH) position; see the module docstring."""
    signed = fill.quantity if fill.side == "BUY" else -fill.quantity
    fee = fee_in_quote(fill, base_asset="", quote_asset=quote_asset)
    held = state.quantity
    realised = state.realised_pnl - fee
    if held == 0 or (held > 0) == (signed > 0):
        return PositionState(quantity=held + signed, cost=state.cost + signed * fill.price,
                             realised_pnl=realised, fees_paid=state.fees_paid + fee)
    closed = min(abs(signed), abs(held))
    taken = state.cost * closed / abs(held)  # signed like the position
    direction = 1 if held > 0 else -1
    realised += direction * closed * fill.price - taken
    rest = held + signed  # what remains, or the flipped side's opening size
    cost = state.cost - taken if abs(signed) <= abs(held) else rest * fill.price
    return PositionState(quantity=rest, cost=cost, realised_pnl=realised,
                         fees_paid=state.fees_paid + fee)
