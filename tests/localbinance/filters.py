"""Symbol filter checks, evaluated exactly as Binance documents them (filters.md).

Spot: every failure is -1013 "Filter failure: <FILTER>"; filters run in the order the
symbol lists them, so the first broken one names the error. Precision beyond the asset
precision is -1111. USD-M futures reports the same rules with its own -4xxx codes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from . import errors
from .decimals import ZERO, is_multiple, places
from .symbols import SymbolInfo


@dataclass
class OrderShape:
    """The order attributes filters look at."""

    type: str
    side: str
    qty: Decimal | None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    iceberg_qty: Decimal | None = None
    quote_qty: Decimal | None = None
    reduce_only: bool = False

    @property
    def is_market(self) -> bool:
        return self.type in ("MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")


@dataclass
class MarketContext:
    avg_price: Decimal  # spot: 5-minute weighted average; futures: mark price
    last_price: Decimal
    open_orders: int  # open orders on the symbol, before this one
    open_algo_orders: int


# --- spot -------------------------------------------------------------------------------
def check_spot_precision(info: SymbolInfo, order: OrderShape) -> None:
    for name, value, limit in (
        ("quantity", order.qty, info.base_precision),
        ("price", order.price, info.quote_precision),
        ("stopPrice", order.stop_price, info.quote_precision),
        ("icebergQty", order.iceberg_qty, info.base_precision),
        ("quoteOrderQty", order.quote_qty, info.quote_precision),
    ):
        if value is not None and places(value) > limit:
            raise errors.bad_precision(name)


def check_spot(info: SymbolInfo, order: OrderShape, ctx: MarketContext) -> None:
    check_spot_precision(info, order)
    for spec in info.raw["filters"]:
        check = _SPOT_CHECKS.get(spec["filterType"])
        if check is not None and not check(spec, order, ctx):
            raise errors.filter_failure(spec["filterType"])


def _d(spec: dict, key: str) -> Decimal:
    return Decimal(str(spec.get(key, "0")))


def _price_ok(spec: dict, price: Decimal) -> bool:
    low, high, tick = _d(spec, "minPrice"), _d(spec, "maxPrice"), _d(spec, "tickSize")
    if low and price < low:
        return False
    if high and price > high:
        return False
    return is_multiple(price, low, tick)


def _price_filter(spec: dict, order: OrderShape, ctx: MarketContext) -> bool:
    prices = [p for p in (order.price, order.stop_price) if p is not None]
    return all(_price_ok(spec, p) for p in prices)


def _percent_price(spec: dict, order: OrderShape, ctx: MarketContext) -> bool:
    if order.price is None:
        return True
    up, down = _d(spec, "multiplierUp"), _d(spec, "multiplierDown")
    return ctx.avg_price * down <= order.price <= ctx.avg_price * up


def _percent_price_by_side(spec: dict, order: OrderShape, ctx: MarketContext) -> bool:
    if order.price is None:
        return True
    prefix = "bid" if order.side == "BUY" else "ask"
    up, down = _d(spec, f"{prefix}MultiplierUp"), _d(spec, f"{prefix}MultiplierDown")
    return ctx.avg_price * down <= order.price <= ctx.avg_price * up


def _qty_ok(spec: dict, qty: Decimal) -> bool:
    low, high, step = _d(spec, "minQty"), _d(spec, "maxQty"), _d(spec, "stepSize")
    if qty < low or qty <= 0 or (high and qty > high):
        return False
    return is_multiple(qty, low, step)


def _lot_size(spec: dict, order: OrderShape, ctx: MarketContext) -> bool:
    # quoteOrderQty market orders let the engine pick a valid quantity.
    if order.qty is None:
        return True
    return _qty_ok(spec, order.qty) and (
        order.iceberg_qty is None or _qty_ok(spec, order.iceberg_qty)
    )


def _market_lot_size(spec: dict, order: OrderShape, ctx: MarketContext) -> bool:
    if not order.is_market or order.qty is None:
        return True
    return _qty_ok(spec, order.qty)


def _notional(order: OrderShape, ctx: MarketContext) -> Decimal | None:
    if order.quote_qty is not None:
        return order.quote_qty
    if order.qty is None:
        return None
    price = ctx.avg_price if order.is_market or order.price is None else order.price
    return price * order.qty


def _min_notional(spec: dict, order: OrderShape, ctx: MarketContext) -> bool:
    if order.is_market and not spec.get("applyToMarket", True):
        return True
    value = _notional(order, ctx)
    return value is None or value >= _d(spec, "minNotional")


def _notional_filter(spec: dict, order: OrderShape, ctx: MarketContext) -> bool:
    value = _notional(order, ctx)
    if value is None:
        return True
    if (not order.is_market or spec.get("applyMinToMarket", True)) and value < _d(
        spec, "minNotional"
    ):
        return False
    high = _d(spec, "maxNotional")
    apply_max = not order.is_market or spec.get("applyMaxToMarket", True)
    return not (high and apply_max and value > high)


def _iceberg_parts(spec: dict, order: OrderShape, ctx: MarketContext) -> bool:
    if not order.iceberg_qty or order.qty is None:
        return True
    return math.ceil(order.qty / order.iceberg_qty) <= int(spec["limit"])


def _max_num_orders(spec: dict, order: OrderShape, ctx: MarketContext) -> bool:
    return ctx.open_orders + 1 <= int(spec.get("maxNumOrders", spec.get("limit", 0)))


def _max_num_algo_orders(spec: dict, order: OrderShape, ctx: MarketContext) -> bool:
    if order.stop_price is None:
        return True
    return ctx.open_algo_orders + 1 <= int(spec.get("maxNumAlgoOrders", spec.get("limit", 0)))


_SPOT_CHECKS: dict[str, Callable[[dict, OrderShape, MarketContext], bool]] = {
    "PRICE_FILTER": _price_filter,
    "PERCENT_PRICE": _percent_price,
    "PERCENT_PRICE_BY_SIDE": _percent_price_by_side,
    "LOT_SIZE": _lot_size,
    "MARKET_LOT_SIZE": _market_lot_size,
    "MIN_NOTIONAL": _min_notional,
    "NOTIONAL": _notional_filter,
    "ICEBERG_PARTS": _iceberg_parts,
    "MAX_NUM_ORDERS": _max_num_orders,
    "MAX_NUM_ALGO_ORDERS": _max_num_algo_orders,
}


# --- USD-M futures ----------------------------------------------------------------------
def check_futures(info: SymbolInfo, order: OrderShape, ctx: MarketContext) -> None:
    _futures_precision(info, order)
    for price in (order.price, order.stop_price):
        if price is not None:
            _futures_price(info.filters["PRICE_FILTER"], price)
    if order.qty is not None:
        lot = "MARKET_LOT_SIZE" if order.is_market else "LOT_SIZE"
        _futures_qty(info.filters.get(lot) or info.filters["LOT_SIZE"], order.qty)
    _futures_percent_price(info.filters.get("PERCENT_PRICE"), order, ctx)
    _futures_notional(info.filters.get("MIN_NOTIONAL"), order, ctx)
    limit = int(info.filters.get("MAX_NUM_ORDERS", {}).get("limit", 200))
    if ctx.open_orders + 1 > limit:
        raise errors.BinanceError(-2025, "Reach max open order limit.")


def _futures_precision(info: SymbolInfo, order: OrderShape) -> None:
    for value, limit in (
        (order.qty, info.qty_precision),
        (order.price, info.price_precision),
        (order.stop_price, info.price_precision),
    ):
        if value is not None and places(value) > limit:
            raise errors.futures(-1111)


def _futures_price(spec: dict, price: Decimal) -> None:
    low, high, tick = _d(spec, "minPrice"), _d(spec, "maxPrice"), _d(spec, "tickSize")
    if price < low:
        raise errors.futures(-4013)
    if high and price > high:
        raise errors.BinanceError(-4002, "Price greater than max price.")
    if not is_multiple(price, low, tick):
        raise errors.futures(-4014)


def _futures_qty(spec: dict, qty: Decimal) -> None:
    low, high, step = _d(spec, "minQty"), _d(spec, "maxQty"), _d(spec, "stepSize")
    if qty <= ZERO:
        raise errors.futures(-4003)
    if qty < low:
        raise errors.futures(-4004)
    if high and qty > high:
        raise errors.futures(-4005)
    if not is_multiple(qty, low, step):
        raise errors.futures(-4023)


def _futures_percent_price(spec: dict | None, order: OrderShape, ctx: MarketContext) -> None:
    if spec is None or order.price is None or order.is_market:
        return
    if order.price > ctx.avg_price * _d(spec, "multiplierUp"):
        raise errors.futures(-4016)
    if order.price < ctx.avg_price * _d(spec, "multiplierDown"):
        raise errors.futures(-4024)


def _futures_notional(spec: dict | None, order: OrderShape, ctx: MarketContext) -> None:
    # Reduce-only orders may close a position below the minimum (documented exemption).
    if spec is None or order.qty is None or order.reduce_only:
        return
    price = order.price if order.price is not None and not order.is_market else ctx.last_price
    minimum = _d(spec, "notional")
    if price * order.qty < minimum:
        raise errors.futures(-4164, f"{minimum.normalize():f}")
