"""What a backtest is run with: money, costs, the symbol's filters, sizing and risk.

Plain frozen dataclasses; numbers a trader types (fees, cash, filters) are ``Decimal`` and
converted to float once, where the simulation starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from risk.protections import Protection
from risk.rules import Limits

ZERO = Decimal(0)
FeeAsset = Literal["received", "quote"]
Market = Literal["spot", "futures"]
Direction = Literal["long", "short", "both"]
MAX_LEVERAGE = 125  # Binance USD-M's highest
# Binance USD-M's maintenance margin rate for the smallest position tier of BTCUSDT (0.4%);
# larger tiers and other symbols ask more, a trader sets theirs.
DEFAULT_MAINTENANCE_MARGIN = Decimal("0.004")


@dataclass(frozen=True)
class SymbolFilters:
    """The symbol's Binance filters that shape an order: quantities are rounded down to
    ``step_size``; an order below ``min_qty`` or ``min_notional`` is not placed. Zero turns
    a filter off (``step_size`` 0: any quantity)."""

    symbol: str = "BTCUSDT"
    base_asset: str = "BTC"
    quote_asset: str = "USDT"
    step_size: Decimal = Decimal("0.00000001")
    min_qty: Decimal = ZERO
    min_notional: Decimal = ZERO
    tick_size: Decimal = ZERO

    @classmethod
    def from_rules(cls, rules: Any) -> SymbolFilters:
        """From ``marketdata.exchange.rules.SymbolRules`` (LOT_SIZE, MIN_NOTIONAL/NOTIONAL,
        PRICE_FILTER)."""
        lot = rules.lot_size
        notional = rules.notional or rules.min_notional
        price = rules.price_filter
        return cls(
            symbol=rules.symbol,
            base_asset=rules.base_asset,
            quote_asset=rules.quote_asset,
            step_size=lot.step_size if lot else Decimal("0.00000001"),
            min_qty=lot.min_qty if lot else ZERO,
            min_notional=notional.min_notional if notional else ZERO,
            tick_size=price.tick_size if price else ZERO,
        )


@dataclass(frozen=True)
class BacktestConfig:
    """Everything but the strategy and the candles.

    ``fee_asset``: "received" charges the fee in the asset an order delivers (Binance spot
    without BNB: a buy's fee is taken from the base asset bought, a sell's from the quote
    received); "quote" adds it to a buy's cost and takes it from a sell's proceeds, as
    futures (and most backtesters) do. ``slippage_bps`` worsens every taker fill;
    ``spread`` (a price amount) is crossed by half on each taker fill.

    ``sizing`` / ``sizing_config`` are a bot's (``bots.strategies.sizing``); the backtest's
    allocation is the cash free at the time, so allocation_fraction 1 is all-in.
    ``limits`` and ``protections`` are the pre-trade rules of ``risk.rules`` and
    ``risk.protections``, applied to every entry as the live bot applies them.

    ``market`` "futures" simulates a USD-M perpetual: one position, long or short as
    ``direction`` allows, ``leverage`` times the margin the sizing commits, isolated margin
    liquidated at ``maintenance_margin`` (a fraction of the position's value), fees in the
    quote asset. Spot is long-only, unleveraged.
    """

    cash: Decimal = Decimal(10_000)
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    fee_asset: FeeAsset = "received"
    slippage_bps: Decimal = ZERO
    spread: Decimal = ZERO
    filters: SymbolFilters = field(default_factory=SymbolFilters)
    sizing: str = "allocation_fraction"
    sizing_config: Mapping[str, Any] = field(default_factory=lambda: {"fraction": "1"})
    limits: Limits | None = None
    protections: tuple[Protection, ...] = ()
    interval: str = "1m"
    market: Market = "spot"
    leverage: int = 1
    direction: Direction = "long"
    maintenance_margin: Decimal = DEFAULT_MAINTENANCE_MARGIN

    def __post_init__(self) -> None:
        if self.cash <= 0:
            raise ValueError(f"starting cash must be positive, got {self.cash}")
        for name in ("maker_fee", "taker_fee"):
            if not ZERO <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 0 and below 1 (0.001 = 0.1%)")
        if self.slippage_bps < 0 or self.spread < 0:
            raise ValueError("slippage and spread cannot be negative")
        if self.fee_asset not in ("received", "quote"):
            raise ValueError("fee_asset must be 'received' or 'quote'")
        self._check_market()

    def _check_market(self) -> None:
        if self.market not in ("spot", "futures"):
            raise ValueError(f"market must be 'spot' or 'futures', not {self.market!r}")
        if self.direction not in ("long", "short", "both"):
            raise ValueError("direction must be 'long', 'short' or 'both'")
        if not (isinstance(self.leverage, int) and 1 <= self.leverage <= MAX_LEVERAGE):
            raise ValueError(f"leverage must be a whole number from 1 to {MAX_LEVERAGE}")
        if self.market == "spot" and (self.leverage != 1 or self.direction != "long"):
            raise ValueError("spot is long-only without leverage: choose the futures market "
                             "to short or to use leverage")
        if not ZERO <= self.maintenance_margin < Decimal("0.5"):
            raise ValueError("maintenance_margin must be at least 0 and below 0.5 "
                             "(0.004 = 0.4%)")
        if self.market == "futures" and self.maintenance_margin * self.leverage >= 1:
            raise ValueError(f"at {self.leverage}x a maintenance margin of "
                             f"{self.maintenance_margin} liquidates a position at once")

    @property
    def is_futures(self) -> bool:
        return self.market == "futures"

    @property
    def has_limits(self) -> bool:
        return self.limits is not None and self.limits != Limits()
