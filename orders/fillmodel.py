"""Paper-trading fill model, pure Python: the paper gateway and the backtester share it.

Three events drive an order: `on_submit` (the order reaches the simulated book), `on_trade`
(a public trade print) and `on_market` (a book-ticker or depth update). Each returns an
`Outcome` whose fills are new in that event only; the caller applies it with `advance`.

Conventions:
- A taker fill (market orders, marketable limits, triggered stops) pays `slippage_bps` on the
  touch or depth level it takes from; a limit order's taker price never passes its limit.
  Slipped prices are rounded to 8 decimals against the trader (BUY up, SELL down).
- A maker fill (a resting order crossed by a trade or by the book) is at the order's own limit
  price, with no slippage, as on Binance.
- Without depth the touch is taken to have unlimited size; with depth a MARKET order that
  exhausts the levels fills the rest at the last level's price, a limit order only what sits
  at or inside its limit.
- Commissions are rounded to 8 decimals with ROUND_HALF_UP; quantities are rounded down.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum

ZERO = Decimal("0")
EIGHT_DP = Decimal("0.00000001")
BPS = Decimal("10000")
# Binance's BNB discount on the standard spot commission (25% at the time of writing).
BNB_DISCOUNT = Decimal("0.25")

WOULD_TAKE = "Order would immediately match and take."
WOULD_TRIGGER = "Stop price would trigger immediately."
ZERO_QUANTITY = "Quote quantity buys less than one quantity step."

Level = tuple[Decimal, Decimal]  # (price, quantity)
Liquidity = tuple[Decimal, Decimal | None]  # None: unlimited size at that price


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    LIMIT_MAKER = "LIMIT_MAKER"
    STOP_LOSS = "STOP_LOSS"
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class Status(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


STOP_MARKET_TYPES = frozenset({OrderType.STOP_LOSS, OrderType.TAKE_PROFIT})
STOP_LIMIT_TYPES = frozenset({OrderType.STOP_LOSS_LIMIT, OrderType.TAKE_PROFIT_LIMIT})
STOP_TYPES = STOP_MARKET_TYPES | STOP_LIMIT_TYPES
PRICED_TYPES = STOP_LIMIT_TYPES | {OrderType.LIMIT, OrderType.LIMIT_MAKER}


def _require_aware(when: datetime) -> None:
    if when.utcoffset() != timedelta(0):
        raise ValueError(f"times must be aware UTC datetimes, got {when!r}")


def _missing_or_extra(value: Decimal | None) -> str:
    return "missing" if value is None else "not allowed"


@dataclass(frozen=True)
class MarketState:
    """Top of book plus optional depth: asks ascending, bids descending, as Binance sends them."""

    symbol: str
    bid: Decimal
    ask: Decimal
    last: Decimal
    time: datetime
    bid_depth: tuple[Level, ...] = ()
    ask_depth: tuple[Level, ...] = ()

    def __post_init__(self) -> None:
        _require_aware(self.time)
        if [p for p, _ in self.ask_depth] != sorted(p for p, _ in self.ask_depth):
            raise ValueError("ask_depth must be in ascending price order")
        if [p for p, _ in self.bid_depth] != sorted((p for p, _ in self.bid_depth), reverse=True):
            raise ValueError("bid_depth must be in descending price order")


@dataclass(frozen=True)
class Trade:
    """One public trade print."""

    price: Decimal
    qty: Decimal
    time: datetime

    def __post_init__(self) -> None:
        _require_aware(self.time)


@dataclass(frozen=True)
class PaperOrder:
    client_order_id: str
    side: Side
    type: OrderType
    quantity: Decimal | None = None
    quote_quantity: Decimal | None = None  # MARKET only, instead of quantity
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    executed_qty: Decimal = ZERO
    triggered: bool = False

    def __post_init__(self) -> None:
        # Plain strings ("BUY") are accepted and normalised; unknown values raise ValueError.
        object.__setattr__(self, "side", Side(self.side))
        object.__setattr__(self, "type", OrderType(self.type))
        object.__setattr__(self, "time_in_force", TimeInForce(self.time_in_force))
        if (self.quantity is None) == (self.quote_quantity is None):
            raise ValueError("give exactly one of quantity and quote_quantity")
        if (self.quantity or self.quote_quantity) <= 0:
            raise ValueError("the order quantity must be positive")
        if self.quote_quantity is not None and self.type != OrderType.MARKET:
            raise ValueError("quote_quantity is for MARKET orders only")
        if (self.price is None) == (self.type in PRICED_TYPES):
            raise ValueError(f"{self.type}: price is {_missing_or_extra(self.price)}")
        if (self.stop_price is None) == (self.type in STOP_TYPES):
            raise ValueError(f"{self.type}: stop_price is {_missing_or_extra(self.stop_price)}")

    @property
    def remaining(self) -> Decimal:
        return (self.quantity or ZERO) - self.executed_qty


@dataclass(frozen=True)
class FeeSchedule:
    maker: Decimal
    taker: Decimal
    base_asset: str
    quote_asset: str
    pay_in_bnb: bool = False
    bnb_price_in_quote: Decimal | None = None
    bnb_discount: Decimal = BNB_DISCOUNT

    def __post_init__(self) -> None:
        if self.pay_in_bnb and not self.bnb_price_in_quote:
            raise ValueError("pay_in_bnb needs a positive bnb_price_in_quote")


@dataclass(frozen=True)
class PaperFill:
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str
    is_maker: bool
    time: datetime


@dataclass(frozen=True)
class Outcome:
    fills: tuple[PaperFill, ...]
    status: Status
    reason: str = ""
    triggered: bool = False
    rests: bool = False

    @property
    def filled_qty(self) -> Decimal:
        return sum((fill.quantity for fill in self.fills), ZERO)


def advance(order: PaperOrder, outcome: Outcome) -> PaperOrder:
    """The order as it stands after `outcome`, ready for the next event."""
    return replace(order, executed_qty=order.executed_qty + outcome.filled_qty,
                   triggered=outcome.triggered)


# --- events ---------------------------------------------------------------------------------


def on_submit(order: PaperOrder, market: MarketState, fees: FeeSchedule, *,
              slippage_bps: Decimal = ZERO, quantity_step: Decimal | None = None) -> Outcome:
    """The order reaches the book: market orders fill, marketable limits take, the rest rest.

    `quantity_step` (LOT_SIZE stepSize) rounds down the quantity a quote_quantity order buys;
    without it that quantity is rounded down to 8 decimals.
    """
    if order.type in STOP_TYPES and not order.triggered:
        # Binance refuses a stop whose trigger condition already holds at submission.
        if _stop_triggers(order, market.last):
            return Outcome((), Status.REJECTED, WOULD_TRIGGER)
        return _status(order, (), triggered=False)
    if order.quote_quantity is not None:
        quantity = _quote_to_quantity(order, market, slippage_bps, quantity_step)
        if quantity <= 0:
            return Outcome((), Status.REJECTED, ZERO_QUANTITY)
        order = replace(order, quantity=quantity, quote_quantity=None)
    return _take_from_book(order, market, fees, slippage_bps, triggered=order.triggered)


def on_trade(order: PaperOrder, trade: Trade, fees: FeeSchedule, *,
             slippage_bps: Decimal = ZERO) -> Outcome:
    """A public trade print: it may trigger a stop and may fill a resting limit as maker."""
    _require_resting(order)
    if order.type in STOP_TYPES and not order.triggered:
        if not _stop_triggers(order, trade.price):
            return _status(order, (), triggered=False)
        if order.type in STOP_MARKET_TYPES:
            price = _slip(order.side, trade.price, slippage_bps)
            fill = _fill(order.side, price, order.remaining, fees, is_maker=False, time=trade.time)
            return _status(order, (fill,), triggered=True)
        # The stop-limit enters the book now; the print is all the liquidity it can see.
        if not _crosses(order.side, order.price, trade.price):
            return _status(order, (), triggered=True)
        levels = ((trade.price, trade.qty),)
        fills = _walk(order, levels, fees, slippage_bps, time=trade.time)
        return _status(order, fills, triggered=True)
    if not _crosses(order.side, order.price, trade.price):
        return _status(order, (), triggered=order.triggered)
    quantity = min(order.remaining, trade.qty)
    if quantity <= 0:
        return _status(order, (), triggered=order.triggered)
    fill = _fill(order.side, order.price, quantity, fees, is_maker=True, time=trade.time)
    return _status(order, (fill,), triggered=order.triggered)


def on_market(order: PaperOrder, market: MarketState, fees: FeeSchedule, *,
              slippage_bps: Decimal = ZERO) -> Outcome:
    """A book update: it may trigger a stop (on `last`) and may cross a resting limit."""
    _require_resting(order)
    if order.type in STOP_TYPES and not order.triggered:
        if not _stop_triggers(order, market.last):
            return _status(order, (), triggered=False)
        # Triggered: the stop becomes a MARKET or LIMIT order that meets the book as a taker.
        return _take_from_book(order, market, fees, slippage_bps, triggered=True)
    touch = market.ask if order.side == Side.BUY else market.bid
    if not _crosses(order.side, order.price, touch):
        return _status(order, (), triggered=order.triggered)
    # The book moved through a resting order, so the resting order is the maker, at its price.
    depth = market.ask_depth if order.side == Side.BUY else market.bid_depth
    available = sum((q for p, q in depth if _crosses(order.side, order.price, p)), ZERO)
    quantity = min(order.remaining, available) if depth else order.remaining
    if quantity <= 0:
        return _status(order, (), triggered=order.triggered)
    fill = _fill(order.side, order.price, quantity, fees, is_maker=True, time=market.time)
    return _status(order, (fill,), triggered=order.triggered)


# --- the pieces -----------------------------------------------------------------------------


def _stop_triggers(order: PaperOrder, last: Decimal) -> bool:
    stop_loss = order.type in {OrderType.STOP_LOSS, OrderType.STOP_LOSS_LIMIT}
    buy = order.side == Side.BUY
    # STOP_LOSS buys on the way up and sells on the way down; TAKE_PROFIT the reverse.
    if stop_loss == buy:
        return last >= order.stop_price
    return last <= order.stop_price


def _crosses(side: Side, limit: Decimal, price: Decimal) -> bool:
    return price <= limit if side == Side.BUY else price >= limit


def _require_resting(order: PaperOrder) -> None:
    if order.type == OrderType.MARKET or (order.type in STOP_MARKET_TYPES and order.triggered):
        raise ValueError("market orders fill when submitted or triggered and never rest")


def _is_market(order: PaperOrder) -> bool:
    return order.type == OrderType.MARKET or order.type in STOP_MARKET_TYPES


def _slip(side: Side, price: Decimal, slippage_bps: Decimal) -> Decimal:
    if side == Side.BUY:
        return (price * (1 + slippage_bps / BPS)).quantize(EIGHT_DP, ROUND_CEILING)
    return (price * (1 - slippage_bps / BPS)).quantize(EIGHT_DP, ROUND_FLOOR)


def _book_levels(order: PaperOrder, market: MarketState) -> tuple[Liquidity, ...]:
    """What the order can take from: depth if given, else the touch with unlimited size."""
    buy = order.side == Side.BUY
    depth = market.ask_depth if buy else market.bid_depth
    if not depth:
        return ((market.ask if buy else market.bid, None),)
    if _is_market(order):
        # Past the last known level a market order fills the rest at that level's price.
        return (*depth[:-1], (depth[-1][0], None))
    return tuple(level for level in depth if _crosses(order.side, order.price, level[0]))


def _quote_to_quantity(order: PaperOrder, market: MarketState, slippage_bps: Decimal,
                       step: Decimal | None) -> Decimal:
    quantity, budget = ZERO, order.quote_quantity
    for level_price, size in _book_levels(order, market):
        price = _slip(order.side, level_price, slippage_bps)
        if size is not None and price * size <= budget:
            quantity, budget = quantity + size, budget - price * size
            continue
        with localcontext() as ctx:
            ctx.rounding = ROUND_DOWN  # never a hair more than the quote pays for
            quantity += budget / price
        break
    if step is None:
        return quantity.quantize(EIGHT_DP, ROUND_DOWN)
    return (quantity // step) * step


def _take_from_book(order: PaperOrder, market: MarketState, fees: FeeSchedule,
                    slippage_bps: Decimal, *, triggered: bool) -> Outcome:
    if not _is_market(order):
        touch = market.ask if order.side == Side.BUY else market.bid
        marketable = _crosses(order.side, order.price, touch)
        if marketable and order.type == OrderType.LIMIT_MAKER:
            return Outcome((), Status.REJECTED, WOULD_TAKE, triggered=triggered)
        if not marketable:
            return _status(order, (), triggered=triggered)
    levels = _book_levels(order, market)
    fills = _walk(order, levels, fees, slippage_bps, time=market.time)
    return _status(order, fills, triggered=triggered)


def _walk(order: PaperOrder, levels: Sequence[Liquidity], fees: FeeSchedule,
          slippage_bps: Decimal, *, time: datetime) -> tuple[PaperFill, ...]:
    """Take liquidity level by level as a taker; FOK gets everything or nothing."""
    fills, left = [], order.remaining
    for level_price, size in levels:
        if left <= 0:
            break
        price = _slip(order.side, level_price, slippage_bps)
        if not _is_market(order):
            # The better of the limit and the level: slippage never passes the limit.
            price = min(price, order.price) if order.side == Side.BUY else max(price, order.price)
        quantity = left if size is None else min(left, size)
        if quantity <= 0:
            continue
        fills.append(_fill(order.side, price, quantity, fees, is_maker=False, time=time))
        left -= quantity
    if order.time_in_force == TimeInForce.FOK and left > 0:
        return ()
    return tuple(fills)


def _fill(side: Side, price: Decimal, quantity: Decimal, fees: FeeSchedule, *, is_maker: bool,
          time: datetime) -> PaperFill:
    quote_quantity = price * quantity
    rate = fees.maker if is_maker else fees.taker
    if fees.pay_in_bnb:
        # The fee is valued in quote, converted at the given BNB price, then discounted.
        in_quote = rate * quote_quantity * (1 - fees.bnb_discount)
        commission, asset = in_quote / fees.bnb_price_in_quote, "BNB"
    elif side == Side.BUY:
        commission, asset = rate * quantity, fees.base_asset
    else:
        commission, asset = rate * quote_quantity, fees.quote_asset
    return PaperFill(price=price, quantity=quantity, quote_quantity=quote_quantity,
                     commission=commission.quantize(EIGHT_DP, ROUND_HALF_UP),
                     commission_asset=asset, is_maker=is_maker, time=time)


def _status(order: PaperOrder, fills: Sequence[PaperFill], *, triggered: bool) -> Outcome:
    fills = tuple(fills)
    executed = order.executed_qty + sum((fill.quantity for fill in fills), ZERO)
    if executed >= order.quantity:
        return Outcome(fills, Status.FILLED, triggered=triggered)
    waiting = order.type in STOP_TYPES and not triggered
    if order.time_in_force != TimeInForce.GTC and not waiting and not _is_market(order):
        return Outcome(fills, Status.EXPIRED, f"{order.time_in_force} remainder expired",
                       triggered=triggered)
    status = Status.PARTIALLY_FILLED if executed > 0 else Status.NEW
    return Outcome(fills, status, triggered=triggered, rests=True)
