"""Symbol metadata taken from the real exchangeInfo captures in shared/data.

Wraps one exchangeInfo `symbols[]` entry with typed accessors for filters, precision
and number rendering (spot: fixed 8 decimals; futures: the symbol's precision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .decimals import D, fixed, plain


@dataclass
class SymbolInfo:
    raw: dict
    market: str  # "spot" or "futures"
    filters: dict[str, dict] = field(init=False)

    def __post_init__(self) -> None:
        self.filters = {f["filterType"]: f for f in self.raw["filters"]}

    @property
    def symbol(self) -> str:
        return self.raw["symbol"]

    @property
    def base(self) -> str:
        return self.raw["baseAsset"]

    @property
    def quote(self) -> str:
        return self.raw.get("marginAsset") or self.raw["quoteAsset"]

    @property
    def status(self) -> str:
        return self.raw["status"]

    @status.setter
    def status(self, value: str) -> None:
        self.raw["status"] = value

    @property
    def order_types(self) -> list[str]:
        return self.raw["orderTypes"]

    def filter_value(self, filter_type: str, key: str, default: str = "0") -> Decimal:
        return D(str(self.filters.get(filter_type, {}).get(key, default)))

    @property
    def tick_size(self) -> Decimal:
        return self.filter_value("PRICE_FILTER", "tickSize", "0.01")

    @property
    def step_size(self) -> Decimal:
        return self.filter_value("LOT_SIZE", "stepSize", "0.00000001")

    @property
    def min_qty(self) -> Decimal:
        return self.filter_value("LOT_SIZE", "minQty", "0.00000001")

    # --- precision and rendering --------------------------------------------------------
    @property
    def base_precision(self) -> int:
        return int(self.raw.get("baseAssetPrecision", 8))

    @property
    def quote_precision(self) -> int:
        return int(self.raw.get("quoteAssetPrecision", self.raw.get("quotePrecision", 8)))

    @property
    def price_precision(self) -> int:
        """Futures pricePrecision; spot prices carry the quote asset precision."""
        return int(self.raw.get("pricePrecision", self.quote_precision))

    @property
    def qty_precision(self) -> int:
        return int(self.raw.get("quantityPrecision", self.base_precision))

    def px(self, value: Decimal) -> str:
        """Render a price as this market does."""
        if self.market == "spot":
            return fixed(value, 8)
        return fixed(value, self.price_precision)

    def qty(self, value: Decimal) -> str:
        if self.market == "spot":
            return fixed(value, 8)
        return fixed(value, self.qty_precision)

    def amount(self, value: Decimal) -> str:
        """Quote amounts, commissions, balances (8 decimals on both markets)."""
        return fixed(value, 8)

    def stream_number(self, value: Decimal, kind: str) -> str:
        """Market-stream numbers: spot pads to 8 decimals, futures uses its precision."""
        if self.market == "spot":
            return fixed(value, 8)
        if kind == "price":
            return fixed(value, self.price_precision)
        if kind == "qty":
            return fixed(value, self.qty_precision)
        return plain(value)
