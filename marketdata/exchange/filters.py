"""Binance symbol filters: round orders, and refuse what Binance would.

Pure: no Django, no network, ``Decimal`` throughout. An order that fails here must never be
sent; the error carries the exact text Binance would answer with (``FilterError.message``,
``.code``) and a sentence for people (``.detail``). The rules themselves, parsed from
``exchangeInfo``, are in ``rules``; their names stay importable from here.

Spot rules follow Binance's filters.md; USD-M futures use the same filter names with their
own error codes (-4004/-4005/-4023 quantity, -4013/-4014 price, -4164 notional, ...).

Things that depend on the market price (PERCENT_PRICE*, notional of orders that execute at
market) are checked only when a ``reference_price`` is given: the average price over the
filter's ``avgPriceMins`` for spot, the mark price for futures. Open-order counts
(MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS, MAX_POSITION) need account state and are only parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext
from math import lcm

from marketdata.exchange.rules import (
    _LIMIT_TYPES,
    _MARKET_TYPES,
    BUY,
    SELL,
    SIDES,
    TRADING,
    LotSize,
    Market,
    MinNotional,
    Notional,
    PercentPrice,
    PercentPriceBySide,
    PriceFilter,
    SymbolRules,
    TrailingDelta,
)

__all__ = [
    "BUY",
    "SELL",
    "SIDES",
    "TRADING",
    "FilterError",
    "LotSize",
    "Market",
    "MinNotional",
    "NormalisedOrder",
    "Notional",
    "Number",
    "OrderRejected",
    "PercentPrice",
    "PercentPriceBySide",
    "PrecisionError",
    "PriceFilter",
    "SymbolNotTrading",
    "SymbolRules",
    "TrailingDelta",
    "format_decimal",
    "normalise_order",
    "round_price",
    "round_quantity",
    "to_decimal",
    "validate_order",
]

Number = Decimal | int | str

_STOP_TYPES = {
    "spot": frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"}),
    "futures": frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"}),
}
_NEEDS_TIME_IN_FORCE = {
    "spot": frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"}),
    "futures": frozenset({"LIMIT", "STOP", "TAKE_PROFIT"}),
}
# Spot's matching engine names the order type it refuses (errors.md, -2010 messages).
_UNSUPPORTED_TYPE_MESSAGES = {
    "MARKET": "Market orders are not supported for this symbol.",
    "STOP_LOSS": "Stop loss orders are not supported for this symbol.",
    "STOP_LOSS_LIMIT": "Stop loss limit orders are not supported for this symbol.",
    "TAKE_PROFIT": "Take profit orders are not supported for this symbol.",
    "TAKE_PROFIT_LIMIT": "Take profit limit orders are not supported for this symbol.",
}
# TRAILING_DELTA: which bound pair applies, by (type family, side) (filters.md).
_TRAILS_ABOVE = {("STOP_LOSS", BUY), ("TAKE_PROFIT", SELL)}


# --- errors ------------------------------------------------------------------------------


class OrderRejected(ValueError):
    """Binance would reject this order outright: fix the input (or refresh the rules),
    never retry it as is. ``message`` and ``code`` are what Binance answers."""

    def __init__(self, message: str, *, code: int, detail: str = "") -> None:
        super().__init__(f"{message} ({detail})" if detail else message)
        self.message = message
        self.code = code
        self.detail = detail


class FilterError(OrderRejected):
    """A symbol filter failed, e.g. ``FilterError("LOT_SIZE", "Filter failure: LOT_SIZE")``."""

    def __init__(self, filter_name: str, message: str, *, detail: str = "", code: int = -1013):
        super().__init__(message, code=code, detail=detail)
        self.filter_name = filter_name


class PrecisionError(FilterError):
    """-1111: a value has more decimals than the asset allows."""

    def __init__(self, parameter: str, message: str, *, detail: str = "") -> None:
        super().__init__("BAD_PRECISION", message, detail=detail, code=-1111)
        self.parameter = parameter


class SymbolNotTrading(OrderRejected):
    """The symbol is in BREAK, HALT, END_OF_DAY, PENDING_TRADING, ...: no new orders."""

    def __init__(self, symbol: str, status: str) -> None:
        detail = f"{symbol} is in status {status}, not {TRADING}"
        super().__init__("Market is closed.", code=-2010, detail=detail)
        self.symbol = symbol
        self.status = status


# --- numbers -----------------------------------------------------------------------------


def to_decimal(value: Number | float) -> Decimal:
    """Exact ``Decimal`` for a Decimal, int or numeric string. Floats go through their
    shortest repr, so 0.1 becomes Decimal("0.1"), not 0.1000000000000000055511..."""
    if isinstance(value, bool):
        raise TypeError("a bool is not an amount")
    if isinstance(value, float):
        value = repr(value)
    try:
        number = value if isinstance(value, Decimal) else Decimal(value)
    except (ArithmeticError, TypeError, ValueError) as error:
        raise ValueError(f"not a decimal number: {value!r}") from error
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def format_decimal(value: Number) -> str:
    """Plain decimal text for Binance: no exponent, no trailing zeros, never "-0".

    ``str(Decimal("0.00000001"))`` is "1E-8", which Binance rejects (-1100/-1111).
    """
    text = f"{to_decimal(value):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _decimal_places(value: Decimal) -> int:
    return max(0, -int(value.normalize().as_tuple().exponent))


def _unit(decimals: int | None) -> Decimal | None:
    return None if decimals is None else Decimal(1).scaleb(-decimals)


def _common_step(*steps: Decimal | None) -> Decimal | None:
    """Smallest positive step that is a multiple of every given (non-zero) step."""
    steps_set = [step for step in steps if step]
    if not steps_set:
        return None
    scale = Decimal(1).scaleb(min(int(step.as_tuple().exponent) for step in steps_set))
    return lcm(*(int(step / scale) for step in steps_set)) * scale


def _steps_in(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    """How many steps fit in value, rounded as asked."""
    with localcontext() as context:
        context.prec = 60  # exact even for 1e12 prices over 1e-8 ticks (default is 28 digits)
        return (value / step).to_integral_value(rounding=rounding)


def _to_step(value: Decimal, step: Decimal | None, rounding: str) -> Decimal:
    return _steps_in(value, step, rounding) * step if step else value


def _off_grid(value: Decimal, step: Decimal) -> bool:
    return bool(step) and _steps_in(value, step, ROUND_FLOOR) * step != value


def _amount(name: str, value: Number) -> Decimal:
    number = to_decimal(value)
    if number < 0:
        raise ValueError(f"{name} must not be negative, got {format_decimal(number)}")
    return number


def _optional_amount(name: str, value: Number | None) -> Decimal | None:
    return None if value is None else _amount(name, value)


def _side(side: str) -> str:
    normalised = str(side).upper()
    if normalised not in SIDES:
        raise OrderRejected("Invalid side.", code=-1117, detail=f"side {side!r} is not BUY or SELL")
    return normalised


def round_quantity(rules: SymbolRules, qty: Number, *, market: bool = False) -> Decimal:
    """Round a quantity DOWN to what the symbol accepts.

    Down, because rounding up can spend more than the balance (-2010). Market orders also
    honour MARKET_LOT_SIZE's step when it is set (real ones often ship "0.00000000").
    """
    quantity = _amount("quantity", qty)
    steps = [rules.lot_size.step_size if rules.lot_size else None]
    if market and rules.market_lot_size:
        steps.append(rules.market_lot_size.step_size)
    step = _common_step(*steps, _unit(rules.quantity_decimals))
    return _to_step(quantity, step, ROUND_FLOOR)


def unsellable(rules: SymbolRules, held: Number, *, price: Number | None,
               futures: bool = False) -> str:
    """Why ``held`` cannot be sold at market (dust: below a step, the minimum quantity or,
    on spot, the minimum notional at ``price``), in words; "" when it can be."""
    held = abs(to_decimal(held))  # a short's quantity is negative
    quantity = round_quantity(rules, held, market=True)
    lots = [lot for lot in (rules.market_lot_size, rules.lot_size) if lot and lot.min_qty]
    minimum_qty = max((lot.min_qty for lot in lots), default=Decimal(0))
    if quantity <= 0 or quantity < minimum_qty:
        return (f"dust: {format_decimal(held)} is below the smallest quantity "
                f"{rules.symbol} accepts")
    if futures or not price:
        return ""  # futures exempts reduce-only exits from the minimum notional
    minimum = market_min_notional(rules)
    worth = quantity * abs(to_decimal(price))
    if minimum and worth < minimum:
        return (f"dust: {format_decimal(quantity)} {rules.symbol} is worth about "
                f"{format_decimal(worth.quantize(Decimal('0.01')))} {rules.quote_asset}, "
                f"below the {format_decimal(minimum)} minimum")
    return ""


def market_min_notional(rules: SymbolRules) -> Decimal:
    """The smallest notional a MARKET order may have (0: none)."""
    minimums = []
    if rules.min_notional and rules.min_notional.apply_to_market:
        minimums.append(rules.min_notional.min_notional)
    if rules.notional and rules.notional.apply_min_to_market:
        minimums.append(rules.notional.min_notional)
    return max(minimums, default=Decimal(0))


def _price_step(rules: SymbolRules) -> Decimal | None:
    tick = rules.price_filter.tick_size if rules.price_filter else None
    return _common_step(tick, _unit(rules.price_decimals))


def round_price(rules: SymbolRules, price: Number, *, side: str) -> Decimal:
    """Round a limit price to the tick size in the passive direction: a BUY rounds down and a
    SELL rounds up, so rounding never makes an order more aggressive than asked."""
    value = _amount("price", price)
    rounding = ROUND_FLOOR if _side(side) == BUY else ROUND_CEILING
    return _to_step(value, _price_step(rules), rounding)


def round_stop_price(rules: SymbolRules, stop_price: Number) -> Decimal:
    # A trigger has no passive side (earlier is safer for a stop-loss, later for a
    # take-profit), so it goes to the nearest tick.
    value = _amount("stop price", stop_price)
    return _to_step(value, _price_step(rules), ROUND_HALF_UP)


def _round_quote_amount(rules: SymbolRules, quote_amount: Number) -> Decimal:
    value = _amount("quote amount", quote_amount)
    return _to_step(value, _unit(rules.quote_amount_decimals), ROUND_FLOOR)


# --- validation --------------------------------------------------------------------------

# Futures answers filter failures with its own codes and texts (USD-M error-code docs).
_FUTURES_PRICE_LOW = (-4013, "Price less than min price.")
_FUTURES_PRICE_HIGH = (-4002, "Price greater than max price.")
_FUTURES_STOP_HIGH = (-4007, "Stop price greater than max price.")
_FUTURES_TICK = (-4014, "Price not increased by tick size.")
_FUTURES_QTY_LOW = (-4004, "Quantity less than min quantity.")
_FUTURES_QTY_HIGH = (-4005, "Quantity greater than max quantity.")
_FUTURES_STEP = (-4023, "Qty not increased by step size.")
_FUTURES_ABOVE_MARK = (-4016, "Price is higher than mark price multiplier cap.")
_FUTURES_BELOW_MARK = (-4024, "Price is lower than mark price multiplier floor.")
_FUTURES_PRECISION = "Precision is over the maximum defined for this asset."


@dataclass(frozen=True)
class _Order:
    side: str
    order_type: str
    quantity: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    reference_price: Decimal | None
    quote_amount: Decimal | None
    iceberg_qty: Decimal | None
    trailing_delta: int | None
    reduce_only: bool


def _fail(rules: SymbolRules, name: str, detail: str, futures: tuple[int, str] | None = None):
    if rules.is_futures and futures is not None:
        raise FilterError(name, futures[1], detail=detail, code=futures[0])
    raise FilterError(name, f"Filter failure: {name}", detail=detail)


def _check_status(rules: SymbolRules, order: _Order) -> None:
    if rules.status != TRADING:
        raise SymbolNotTrading(rules.symbol, rules.status)


def _check_order_type(rules: SymbolRules, order: _Order) -> None:
    kind = order.order_type
    known = _LIMIT_TYPES[rules.market] | _MARKET_TYPES[rules.market] | _STOP_TYPES[rules.market]
    if kind in known and (not rules.order_types or kind in rules.order_types):
        return
    detail = f"{rules.symbol} accepts {', '.join(rules.order_types) or 'no'} orders, not {kind}"
    if kind in _UNSUPPORTED_TYPE_MESSAGES and not rules.is_futures:
        raise OrderRejected(_UNSUPPORTED_TYPE_MESSAGES[kind], code=-2010, detail=detail)
    raise OrderRejected("Invalid orderType.", code=-1116, detail=detail)


def _require(parameter: str, value: object, why: str) -> None:
    if value is None:
        message = f"Mandatory parameter '{parameter}' was not sent, was empty/null, or malformed."
        raise OrderRejected(message, code=-1102, detail=why)


def _forbid(parameter: str, value: object, why: str) -> None:
    if value is not None and value is not False:
        raise OrderRejected(
            f"Parameter '{parameter}' sent when not required.", code=-1106, detail=why
        )


def _check_parameters(rules: SymbolRules, order: _Order) -> None:
    kind = order.order_type
    if rules.takes_limit_price(kind):
        _require("price", order.price, f"a {kind} order needs a limit price")
    else:
        _forbid("price", order.price, f"a {kind} order takes no limit price")
    if kind in _STOP_TYPES[rules.market] and order.trailing_delta is None:
        _require("stopPrice", order.stop_price, f"a {kind} order needs a stop price")
    elif kind not in _STOP_TYPES[rules.market]:
        _forbid("stopPrice", order.stop_price, f"a {kind} order takes no stop price")
    if kind == "MARKET" and not rules.is_futures and order.quantity is None:
        if order.quote_amount is None:
            message = "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
            raise OrderRejected(message, code=-1102, detail="a MARKET order needs an amount")
        return
    _require("quantity", order.quantity, f"a {kind} order needs a quantity")
    _forbid("quoteOrderQty", order.quote_amount, "only a spot MARKET order without a quantity")
    if not rules.is_futures:
        _forbid("reduceOnly", order.reduce_only or None, "reduce-only is a futures option")


def _check_precision(rules: SymbolRules, order: _Order) -> None:
    base, quote = rules.base_asset, rules.quote_asset
    checks = (
        ("quantity", order.quantity, rules.quantity_decimals, base),
        ("icebergQty", order.iceberg_qty, rules.quantity_decimals, base),
        ("price", order.price, rules.price_decimals, quote),
        ("stopPrice", order.stop_price, rules.price_decimals, quote),
        ("quoteOrderQty", order.quote_amount, rules.quote_amount_decimals, quote),
    )
    for parameter, value, decimals, asset in checks:
        if value is None or decimals is None or _decimal_places(value) <= decimals:
            continue
        message = (
            _FUTURES_PRECISION
            if rules.is_futures
            else f"Parameter '{parameter}' has too much precision."
        )
        detail = (
            f"{parameter} {format_decimal(value)} has {_decimal_places(value)} decimal places; "
            f"{rules.symbol} allows {decimals} for {asset}"
        )
        raise PrecisionError(parameter, message, detail=detail)


def _check_price_value(rules: SymbolRules, limits: PriceFilter, label: str, value: Decimal):
    shown, quote = format_decimal(value), rules.quote_asset
    if limits.min_price and value < limits.min_price:
        detail = f"{label} {shown} is below the minimum {format_decimal(limits.min_price)} {quote}"
        _fail(rules, "PRICE_FILTER", detail, _FUTURES_PRICE_LOW)
    if limits.max_price and value > limits.max_price:
        detail = f"{label} {shown} is above the maximum {format_decimal(limits.max_price)} {quote}"
        stop = label == "stop price"
        _fail(rules, "PRICE_FILTER", detail, _FUTURES_STOP_HIGH if stop else _FUTURES_PRICE_HIGH)
    if _off_grid(value, limits.tick_size):
        tick = format_decimal(limits.tick_size)
        detail = f"{label} {shown} is not a multiple of the tick size {tick} {quote}"
        _fail(rules, "PRICE_FILTER", detail, _FUTURES_TICK)


def _check_price_filter(rules: SymbolRules, order: _Order) -> None:
    if rules.price_filter is None:
        return
    for label, value in (("price", order.price), ("stop price", order.stop_price)):
        if value is not None:
            _check_price_value(rules, rules.price_filter, label, value)


def _band_detail(label: str, price: Decimal, reference: Decimal, multiplier: Decimal) -> str:
    bound = reference * multiplier
    direction = "above" if price > bound else "below"
    return (
        f"{label} {format_decimal(price)} is {direction} {format_decimal(bound)}, "
        f"{format_decimal(multiplier)} x the reference price {format_decimal(reference)}"
    )


def _check_percent_price(rules: SymbolRules, order: _Order) -> None:
    band, price, reference = rules.percent_price, order.price, order.reference_price
    if band is None or price is None or reference is None:
        return
    # Futures only caps a BUY from above and floors a SELL from below, against the mark price.
    if price > reference * band.multiplier_up and (order.side == BUY or not rules.is_futures):
        detail = _band_detail("price", price, reference, band.multiplier_up)
        _fail(rules, "PERCENT_PRICE", detail, _FUTURES_ABOVE_MARK)
    if price < reference * band.multiplier_down and (order.side == SELL or not rules.is_futures):
        detail = _band_detail("price", price, reference, band.multiplier_down)
        _fail(rules, "PERCENT_PRICE", detail, _FUTURES_BELOW_MARK)


def _check_percent_price_by_side(rules: SymbolRules, order: _Order) -> None:
    band, price, reference = rules.percent_price_by_side, order.price, order.reference_price
    if band is None or price is None or reference is None:
        return
    if order.side == BUY:
        up, down = band.bid_multiplier_up, band.bid_multiplier_down
    else:
        up, down = band.ask_multiplier_up, band.ask_multiplier_down
    multiplier = up if price > reference * up else down if price < reference * down else None
    if multiplier is not None:
        detail = _band_detail(f"{order.side} price", price, reference, multiplier)
        _fail(rules, "PERCENT_PRICE_BY_SIDE", detail)


def _check_lot(rules: SymbolRules, name: str, lot: LotSize, label: str, value: Decimal) -> None:
    shown, base = format_decimal(value), rules.base_asset
    if lot.min_qty and value < lot.min_qty:
        detail = f"{label} {shown} is below the minimum {format_decimal(lot.min_qty)} {base}"
        _fail(rules, name, detail, _FUTURES_QTY_LOW)
    if lot.max_qty and value > lot.max_qty:
        detail = f"{label} {shown} is above the maximum {format_decimal(lot.max_qty)} {base}"
        _fail(rules, name, detail, _FUTURES_QTY_HIGH)
    if _off_grid(value, lot.step_size):
        step = format_decimal(lot.step_size)
        detail = f"{label} {shown} is not a multiple of the step size {step} {base}"
        _fail(rules, name, detail, _FUTURES_STEP)


def _check_lot_size(rules: SymbolRules, order: _Order) -> None:
    # Every order, market ones included; a quoteOrderQty order lets the engine pick one.
    if rules.lot_size and order.quantity is not None:
        _check_lot(rules, "LOT_SIZE", rules.lot_size, "quantity", order.quantity)
    if rules.lot_size and order.iceberg_qty is not None:
        _check_lot(rules, "LOT_SIZE", rules.lot_size, "iceberg quantity", order.iceberg_qty)


def _check_market_lot_size(rules: SymbolRules, order: _Order) -> None:
    market = rules.executes_at_market(order.order_type)
    if market and rules.market_lot_size and order.quantity is not None:
        lot = rules.market_lot_size
        _check_lot(rules, "MARKET_LOT_SIZE", lot, "market order quantity", order.quantity)


def _notional(order: _Order) -> tuple[Decimal, str] | None:
    """The order's value in the quote asset and how it was worked out, when knowable."""
    if order.quote_amount is not None:
        return order.quote_amount, "quoteOrderQty"
    # A limit order is valued at its price, a stop-market at its trigger, a market order at
    # the reference (average or mark) price, as Binance does.
    price = next(
        (p for p in (order.price, order.stop_price, order.reference_price) if p is not None), None
    )
    if price is None or order.quantity is None:
        return None
    return price * order.quantity, f"{format_decimal(order.quantity)} x {format_decimal(price)}"


def _notional_detail(rules: SymbolRules, found: tuple[Decimal, str], bound: Decimal) -> str:
    (value, basis), quote = found, rules.quote_asset
    comparison = "below the minimum" if value < bound else "above the maximum"
    return (
        f"notional {format_decimal(value)} {quote} ({basis}) is {comparison} "
        f"{format_decimal(bound)} {quote}"
    )


def _check_min_notional(rules: SymbolRules, order: _Order) -> None:
    rule = rules.min_notional
    if rule is None or not rule.min_notional:
        return
    if order.reduce_only and rules.is_futures:
        return  # futures exempts reduce-only exits (-4164 "unless you choose reduce only")
    if rules.executes_at_market(order.order_type) and not rule.apply_to_market:
        return
    found = _notional(order)
    if found is None or found[0] >= rule.min_notional:
        return
    detail = _notional_detail(rules, found, rule.min_notional)
    if rules.is_futures:
        minimum = format_decimal(rule.min_notional)
        message = (
            f"Order's notional must be no smaller than {minimum} (unless you choose reduce only)"
        )
        raise FilterError("MIN_NOTIONAL", message, detail=detail, code=-4164)
    _fail(rules, "MIN_NOTIONAL", detail)


def _check_notional(rules: SymbolRules, order: _Order) -> None:
    rule, found = rules.notional, _notional(order)
    if rule is None or found is None:
        return
    market, value = rules.executes_at_market(order.order_type), found[0]
    too_small = rule.min_notional and value < rule.min_notional
    too_large = rule.max_notional and value > rule.max_notional
    if too_small and (rule.apply_min_to_market or not market):
        _fail(rules, "NOTIONAL", _notional_detail(rules, found, rule.min_notional))
    if too_large and (rule.apply_max_to_market or not market):
        _fail(rules, "NOTIONAL", _notional_detail(rules, found, rule.max_notional))


def _check_iceberg_parts(rules: SymbolRules, order: _Order) -> None:
    if rules.iceberg_parts is None or order.iceberg_qty is None or order.quantity is None:
        return
    visible = order.iceberg_qty
    # filters.md counts the parts as CEIL(qty / icebergQty).
    parts = _steps_in(order.quantity, visible, ROUND_CEILING) if visible else None
    if parts is not None and parts <= rules.iceberg_parts:
        return
    total = f"{format_decimal(order.quantity)} {rules.base_asset}"
    detail = (
        f"a visible part of {format_decimal(visible)} splits {total} into "
        f"{parts or 'infinitely many'} parts; the limit is {rules.iceberg_parts}"
    )
    _fail(rules, "ICEBERG_PARTS", detail)


def _check_trailing_delta(rules: SymbolRules, order: _Order) -> None:
    bounds, delta = rules.trailing_delta, order.trailing_delta
    family = next((f for f in ("STOP_LOSS", "TAKE_PROFIT") if order.order_type.startswith(f)), None)
    if bounds is None or delta is None or family is None or rules.is_futures:
        return
    if (family, order.side) in _TRAILS_ABOVE:
        low, high = bounds.min_trailing_above_delta, bounds.max_trailing_above_delta
    else:
        low, high = bounds.min_trailing_below_delta, bounds.max_trailing_below_delta
    if not low <= delta <= high:
        kind = f"{order.order_type} {order.side}"
        detail = f"trailing delta {delta} BIPS is outside {low}..{high} for a {kind} order"
        _fail(rules, "TRAILING_DELTA", detail)


_REQUEST_CHECKS = (_check_status, _check_order_type, _check_parameters, _check_precision)
_FILTER_CHECKS = {
    "PRICE_FILTER": _check_price_filter,
    "PERCENT_PRICE": _check_percent_price,
    "PERCENT_PRICE_BY_SIDE": _check_percent_price_by_side,
    "LOT_SIZE": _check_lot_size,
    "MARKET_LOT_SIZE": _check_market_lot_size,
    "MIN_NOTIONAL": _check_min_notional,
    "NOTIONAL": _check_notional,
    "ICEBERG_PARTS": _check_iceberg_parts,
    "TRAILING_DELTA": _check_trailing_delta,
}


def _checks_in_order(rules: SymbolRules):
    """The request checks, then the filters in the order the symbol lists them: Binance
    names the first filter that breaks, so two broken filters report the earlier one."""
    listed = [raw.get("filterType") for raw in rules.raw_filters]
    names = dict.fromkeys([name for name in listed if name in _FILTER_CHECKS] + [*_FILTER_CHECKS])
    return [*_REQUEST_CHECKS, *(_FILTER_CHECKS[name] for name in names)]


def validate_order(
    rules: SymbolRules,
    *,
    side: str,
    order_type: str,
    quantity: Number | None,
    price: Number | None = None,
    stop_price: Number | None = None,
    reference_price: Number | None = None,
    quote_amount: Number | None = None,
    iceberg_qty: Number | None = None,
    trailing_delta: int | None = None,
    reduce_only: bool = False,
) -> None:
    """Raise what Binance would answer for this order, or return None if it would pass.

    Raises SymbolNotTrading, OrderRejected (missing/extra parameters, unsupported type),
    PrecisionError (-1111) or FilterError (-1013 spot, -4xxx futures). ``reference_price``
    is the average (spot) or mark (futures) price used for PERCENT_PRICE* and for the
    notional of orders that execute at market; those checks are skipped without it.
    """
    amounts = {
        "quantity": quantity,
        "price": price,
        "stop_price": stop_price,
        "reference_price": reference_price,
        "quote_amount": quote_amount,
        "iceberg_qty": iceberg_qty,
    }
    order = _Order(
        side=_side(side),
        order_type=str(order_type).upper(),
        trailing_delta=None if trailing_delta is None else int(trailing_delta),
        reduce_only=bool(reduce_only),
        **{name: _optional_amount(name, value) for name, value in amounts.items()},
    )
    for check in _checks_in_order(rules):
        check(rules, order)


# --- normalisation -----------------------------------------------------------------------


@dataclass(frozen=True)
class NormalisedOrder:
    """An order rounded to the symbol's rules and validated: safe to send."""

    symbol: str
    side: str
    order_type: str
    quantity: Decimal | None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    quote_amount: Decimal | None = None
    iceberg_qty: Decimal | None = None
    trailing_delta: int | None = None
    reduce_only: bool = False
    time_in_force: str | None = None

    def as_params(self) -> dict[str, str]:
        """Keyword arguments for python-binance ``create_order``/``futures_create_order``,
        every value a plain string."""
        params = {"symbol": self.symbol, "side": self.side, "type": self.order_type}
        amounts = {
            "quantity": self.quantity,
            "quoteOrderQty": self.quote_amount,
            "price": self.price,
            "stopPrice": self.stop_price,
            "icebergQty": self.iceberg_qty,
        }
        params.update({key: format_decimal(v) for key, v in amounts.items() if v is not None})
        if self.trailing_delta is not None:
            params["trailingDelta"] = str(self.trailing_delta)
        if self.time_in_force:
            params["timeInForce"] = self.time_in_force
        if self.reduce_only:
            params["reduceOnly"] = "true"
        return params


def _maybe(value: Number | None, convert: Callable[[Number], Decimal]) -> Decimal | None:
    return None if value is None else convert(value)


def normalise_order(
    rules: SymbolRules,
    *,
    side: str,
    order_type: str,
    quantity: Number | None,
    price: Number | None = None,
    stop_price: Number | None = None,
    reference_price: Number | None = None,
    quote_amount: Number | None = None,
    iceberg_qty: Number | None = None,
    trailing_delta: int | None = None,
    reduce_only: bool = False,
    time_in_force: str | None = None,
) -> NormalisedOrder:
    """Round an order to the symbol's rules, then validate it (raises like validate_order).

    Quantities round down, limit prices passively (BUY down, SELL up), stop prices to the
    nearest tick, quote amounts down. Limit types get timeInForce GTC unless one is given.
    """
    side, kind = _side(side), str(order_type).upper()
    at_market = rules.executes_at_market(kind)
    default_time_in_force = "GTC" if kind in _NEEDS_TIME_IN_FORCE[rules.market] else None
    order = NormalisedOrder(
        symbol=rules.symbol,
        side=side,
        order_type=kind,
        quantity=_maybe(quantity, lambda value: round_quantity(rules, value, market=at_market)),
        price=_maybe(price, lambda value: round_price(rules, value, side=side)),
        stop_price=_maybe(stop_price, lambda value: round_stop_price(rules, value)),
        quote_amount=_maybe(quote_amount, lambda value: _round_quote_amount(rules, value)),
        iceberg_qty=_maybe(iceberg_qty, lambda value: round_quantity(rules, value)),
        trailing_delta=trailing_delta,
        reduce_only=reduce_only,
        time_in_force=time_in_force or default_time_in_force,
    )
    validate_order(
        rules,
        side=side,
        order_type=kind,
        quantity=order.quantity,
        price=order.price,
        stop_price=order.stop_price,
        reference_price=reference_price,
        quote_amount=order.quote_amount,
        iceberg_qty=order.iceberg_qty,
        trailing_delta=trailing_delta,
        reduce_only=reduce_only,
    )
    return order
