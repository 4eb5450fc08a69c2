"""Binance symbol rules: one ``exchangeInfo`` symbol entry parsed into plain dataclasses.

Pure: no Django, no network, ``Decimal`` throughout. Rounding and validating orders against
these rules lives in ``filters``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

BUY, SELL = "BUY", "SELL"
SIDES = (BUY, SELL)
TRADING = "TRADING"
Market = Literal["spot", "futures"]

# Order types that carry a limit price, and those that fill at market once live. Spot's
# STOP_LOSS/TAKE_PROFIT are market orders; futures' STOP/TAKE_PROFIT are limit orders.
_LIMIT_TYPES = {
    "spot": frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"}),
    "futures": frozenset({"LIMIT", "STOP", "TAKE_PROFIT"}),
}
_MARKET_TYPES = {
    "spot": frozenset({"MARKET", "STOP_LOSS", "TAKE_PROFIT"}),
    "futures": frozenset({"MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}),
}


@dataclass(frozen=True)
class PriceFilter:
    min_price: Decimal  # each bound is disabled when 0
    max_price: Decimal
    tick_size: Decimal


@dataclass(frozen=True)
class LotSize:
    min_qty: Decimal  # 0 disables (real MARKET_LOT_SIZE filters ship all zeros)
    max_qty: Decimal
    step_size: Decimal


@dataclass(frozen=True)
class MinNotional:
    """Spot's legacy MIN_NOTIONAL, or futures' MIN_NOTIONAL (``notional``, always applied)."""

    min_notional: Decimal
    apply_to_market: bool = True
    avg_price_mins: int | None = None


@dataclass(frozen=True)
class Notional:
    min_notional: Decimal
    apply_min_to_market: bool
    max_notional: Decimal  # 0 or absent: no maximum
    apply_max_to_market: bool
    avg_price_mins: int | None = None


@dataclass(frozen=True)
class PercentPrice:
    multiplier_up: Decimal
    multiplier_down: Decimal
    avg_price_mins: int | None = None
    multiplier_decimal: int | None = None  # futures only


@dataclass(frozen=True)
class PercentPriceBySide:
    bid_multiplier_up: Decimal
    bid_multiplier_down: Decimal
    ask_multiplier_up: Decimal
    ask_multiplier_down: Decimal
    avg_price_mins: int | None = None


@dataclass(frozen=True)
class TrailingDelta:
    min_trailing_above_delta: int
    max_trailing_above_delta: int
    min_trailing_below_delta: int
    max_trailing_below_delta: int


def _dec(value: Any) -> Decimal:
    return Decimal(str(value))


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _parse_lot(raw: Mapping[str, Any]) -> LotSize:
    return LotSize(_dec(raw["minQty"]), _dec(raw["maxQty"]), _dec(raw["stepSize"]))


def _parse_price_filter(raw: Mapping[str, Any]) -> PriceFilter:
    return PriceFilter(_dec(raw["minPrice"]), _dec(raw["maxPrice"]), _dec(raw["tickSize"]))


def _parse_min_notional(raw: Mapping[str, Any]) -> MinNotional:
    if "notional" in raw:  # futures spells it differently and applies it to every order
        return MinNotional(_dec(raw["notional"]))
    return MinNotional(
        _dec(raw["minNotional"]),
        bool(raw.get("applyToMarket", True)),
        _int(raw.get("avgPriceMins")),
    )


def _parse_notional(raw: Mapping[str, Any]) -> Notional:
    return Notional(
        min_notional=_dec(raw.get("minNotional", 0)),
        apply_min_to_market=bool(raw.get("applyMinToMarket", True)),
        max_notional=_dec(raw.get("maxNotional", 0)),
        apply_max_to_market=bool(raw.get("applyMaxToMarket", True)),
        avg_price_mins=_int(raw.get("avgPriceMins")),
    )


def _parse_percent_price(raw: Mapping[str, Any]) -> PercentPrice:
    return PercentPrice(
        _dec(raw["multiplierUp"]),
        _dec(raw["multiplierDown"]),
        _int(raw.get("avgPriceMins")),
        _int(raw.get("multiplierDecimal")),
    )


def _parse_percent_price_by_side(raw: Mapping[str, Any]) -> PercentPriceBySide:
    keys = ("bidMultiplierUp", "bidMultiplierDown", "askMultiplierUp", "askMultiplierDown")
    return PercentPriceBySide(*(_dec(raw[key]) for key in keys), _int(raw.get("avgPriceMins")))


def _parse_trailing_delta(raw: Mapping[str, Any]) -> TrailingDelta:
    keys = ("minTrailingAboveDelta", "maxTrailingAboveDelta")
    keys += ("minTrailingBelowDelta", "maxTrailingBelowDelta")
    return TrailingDelta(*(int(raw[key]) for key in keys))


def _count(spot_key: str):
    # Futures calls every count "limit"; spot names it after the filter.
    return lambda raw: int(raw.get(spot_key, raw.get("limit", 0)))


# filterType -> (SymbolRules attribute, parser). Unknown filter types stay in raw_filters.
_FILTER_PARSERS = {
    "PRICE_FILTER": ("price_filter", _parse_price_filter),
    "LOT_SIZE": ("lot_size", _parse_lot),
    "MARKET_LOT_SIZE": ("market_lot_size", _parse_lot),
    "MIN_NOTIONAL": ("min_notional", _parse_min_notional),
    "NOTIONAL": ("notional", _parse_notional),
    "PERCENT_PRICE": ("percent_price", _parse_percent_price),
    "PERCENT_PRICE_BY_SIDE": ("percent_price_by_side", _parse_percent_price_by_side),
    "MAX_NUM_ORDERS": ("max_num_orders", _count("maxNumOrders")),
    "MAX_NUM_ALGO_ORDERS": ("max_num_algo_orders", _count("maxNumAlgoOrders")),
    "MAX_NUM_ICEBERG_ORDERS": ("max_num_iceberg_orders", _count("maxNumIcebergOrders")),
    "ICEBERG_PARTS": ("iceberg_parts", _count("limit")),
    "MAX_POSITION": ("max_position", lambda raw: _dec(raw["maxPosition"])),
    "TRAILING_DELTA": ("trailing_delta", _parse_trailing_delta),
}


def _parse_filters(filters: list[Mapping[str, Any]]) -> dict[str, Any]:
    """SymbolRules keyword arguments for each filter we understand."""
    parsed: dict[str, Any] = {}
    for raw in filters:
        if raw.get("filterType") in _FILTER_PARSERS:
            attribute, parse = _FILTER_PARSERS[raw["filterType"]]
            parsed[attribute] = parse(raw)
    return parsed


@dataclass(frozen=True)
class SymbolRules:
    """One symbol's trading rules from ``exchangeInfo`` (spot or USD-M futures)."""

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    market: Market
    base_asset_precision: int | None = None  # spot: decimals allowed in a quantity
    quote_precision: int | None = None  # spot: decimals allowed in a price
    quote_asset_precision: int | None = None  # spot: decimals allowed in quoteOrderQty
    price_precision: int | None = None  # futures
    quantity_precision: int | None = None  # futures
    order_types: tuple[str, ...] = ()
    price_filter: PriceFilter | None = None
    lot_size: LotSize | None = None
    market_lot_size: LotSize | None = None
    min_notional: MinNotional | None = None
    notional: Notional | None = None
    percent_price: PercentPrice | None = None
    percent_price_by_side: PercentPriceBySide | None = None
    max_num_orders: int | None = None
    max_num_algo_orders: int | None = None
    max_num_iceberg_orders: int | None = None
    max_position: Decimal | None = None
    iceberg_parts: int | None = None
    trailing_delta: TrailingDelta | None = None
    raw_filters: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_exchange_info(cls, symbol: Mapping[str, Any]) -> SymbolRules:
        """Build from one entry of ``exchangeInfo["symbols"]``."""
        # Only futures entries carry contract fields such as contractType/pricePrecision.
        futures = "contractType" in symbol or "pricePrecision" in symbol
        filters = list(symbol.get("filters", []))
        return cls(
            symbol=symbol["symbol"],
            status=symbol["status"],
            base_asset=symbol["baseAsset"],
            quote_asset=symbol["quoteAsset"],
            market="futures" if futures else "spot",
            base_asset_precision=_int(symbol.get("baseAssetPrecision")),
            quote_precision=_int(symbol.get("quotePrecision")),
            quote_asset_precision=_int(symbol.get("quoteAssetPrecision")),
            price_precision=_int(symbol.get("pricePrecision")),
            quantity_precision=_int(symbol.get("quantityPrecision")),
            order_types=tuple(symbol.get("orderTypes", ())),
            raw_filters=tuple(MappingProxyType(dict(raw)) for raw in filters),
            **_parse_filters(filters),
        )

    @property
    def is_futures(self) -> bool:
        return self.market == "futures"

    @property
    def quantity_decimals(self) -> int | None:
        return self.quantity_precision if self.is_futures else self.base_asset_precision

    @property
    def price_decimals(self) -> int | None:
        if self.is_futures:
            return self.price_precision
        return (
            self.quote_precision if self.quote_precision is not None else self.quote_asset_precision
        )

    @property
    def quote_amount_decimals(self) -> int | None:
        if self.quote_asset_precision is not None:
            return self.quote_asset_precision
        return self.quote_precision

    def executes_at_market(self, order_type: str) -> bool:
        return order_type in _MARKET_TYPES[self.market]

    def takes_limit_price(self, order_type: str) -> bool:
        return order_type in _LIMIT_TYPES[self.market]
