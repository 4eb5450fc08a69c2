"""The simulated account of one backtest: cash, the position, fills, trades and the events the
equity curve is rebuilt from. Float64 arithmetic; the same bookkeeping as
``orders.accounting`` (average cost, a spot buy's fee taken from the base asset bought).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

import numpy as np

from backtests.engine.config import BacktestConfig
from backtests.engine.results import Trade

# A quantity within this fraction of a step is that step (float division noise, not money).
STEP_NOISE = 1e-9
# ...and, for quantities of many steps, within this fraction of itself: 0.33453878 / 1e-8 is
# 33453877.999999996, 4e-9 steps short, and an absolute tolerance would leave a step behind.
RELATIVE_NOISE = 1e-12


@dataclass(frozen=True)
class Costs:
    """The config's costs and filters as floats, read once per run."""

    maker_fee: float
    taker_fee: float
    fee_in_quote: bool
    slippage: float  # fraction of the price
    half_spread: float
    step: float
    min_qty: float
    min_notional: float
    tick: float

    @classmethod
    def of(cls, config: BacktestConfig) -> Costs:
        filters = config.filters
        return cls(
            maker_fee=float(config.maker_fee), taker_fee=float(config.taker_fee),
            fee_in_quote=config.fee_asset == "quote",
            slippage=float(config.slippage_bps) / 10_000, half_spread=float(config.spread) / 2,
            step=float(filters.step_size), min_qty=float(filters.min_qty),
            min_notional=float(filters.min_notional), tick=float(filters.tick_size),
        )

    def taker_price(self, side: str, price: float) -> float:
        """What a market order pays: the price moved against it by slippage and half the
        spread, on the tick (rounded against the trader: a stop's level is rarely on it)."""
        if side == "buy":
            worse = price * (1 + self.slippage) + self.half_spread
            return math.ceil(worse / self.tick - STEP_NOISE) * self.tick if self.tick else worse
        worse = price * (1 - self.slippage) - self.half_spread
        return math.floor(worse / self.tick + STEP_NOISE) * self.tick if self.tick else worse

    def round_down(self, quantity: float) -> float:
        """Down to the lot step, as Binance requires (a float quotient a hair under a whole
        number of steps counts as that number)."""
        if not self.step:
            return quantity
        steps = quantity / self.step
        return math.floor(steps + STEP_NOISE + abs(steps) * RELATIVE_NOISE) * self.step

    def too_small(self, quantity: float, price: float) -> str:
        """Why an order of ``quantity`` at ``price`` cannot be placed, or ""."""
        if quantity <= 0:
            return "it is less than one quantity step"
        if quantity < self.min_qty * (1 - STEP_NOISE):
            return f"{quantity:g} is below the minimum quantity {self.min_qty:g}"
        if quantity * price < self.min_notional * (1 - STEP_NOISE):
            return (f"{quantity * price:.2f} is below the minimum notional "
                    f"{self.min_notional:g}")
        return ""


@dataclass
class Account:
    """Cash and one long position; ``events`` records (bar, cash, held, flat) after every
    fill so the equity at each close can be rebuilt in one vectorised pass."""

    costs: Costs
    cash: float
    held: float = 0.0
    cost: float = 0.0  # quote paid for what is held, as in orders.accounting
    fees_paid: float = 0.0
    trades: list[Trade] = field(default_factory=list)
    event_bars: list[int] = field(default_factory=list)
    event_cash: list[float] = field(default_factory=list)
    event_held: list[float] = field(default_factory=list)
    event_flat: list[bool] = field(default_factory=list)
    _proceeds: float = 0.0  # this trade's sells, net of fees
    _sold: float = 0.0
    _sold_value: float = 0.0

    # --- reading ---------------------------------------------------------------------------

    def sellable(self) -> float:
        return self.costs.round_down(self.held)

    def is_flat(self) -> bool:
        """Flat when what is held is dust: below a step, the minimum quantity, or the
        minimum notional at what it cost (so a position is not "flat" just because a crash
        took it under the minimum: its exit is refused and tried again, as live)."""
        quantity = self.sellable()
        return quantity <= 0 or bool(self.costs.too_small(quantity, self.average_price))

    @property
    def average_price(self) -> float:
        return self.cost / self.held if self.held > 0 else 0.0

    @property
    def open_trade(self) -> Trade | None:
        if self.trades and not self.trades[-1].exit_reason:
            return self.trades[-1]
        return None

    def state_before(self, bar: int, starting_cash: float) -> tuple[float, float]:
        """(cash, held) after every fill before ``bar``."""
        index = bisect.bisect_left(self.event_bars, bar) - 1
        if index < 0:
            return starting_cash, 0.0
        return self.event_cash[index], self.event_held[index]

    def free_before(self, bar: int, starting_cash: float) -> float:
        """The cash free to open a position with after every fill before ``bar``."""
        return self.state_before(bar, starting_cash)[0]

    # --- fills -----------------------------------------------------------------------------

    def buy(self, *, bar: int, price: float, quantity: float, maker: bool,
            signal_bar: int) -> Trade:
        fee_rate = self.costs.maker_fee if maker else self.costs.taker_fee
        notional = quantity * price
        fee = notional * fee_rate
        if self.costs.fee_in_quote:
            self.cash -= notional + fee
            self.held += quantity
            self.cost += notional + fee
        else:  # Binance spot: the fee comes out of the base asset bought
            self.cash -= notional
            self.held += quantity - quantity * fee_rate
            self.cost += notional
        self.fees_paid += fee
        trade = self.open_trade or self._open(bar, signal_bar)
        trade.quantity += quantity
        trade.cost += notional + (fee if self.costs.fee_in_quote else 0.0)
        trade.entry_fee += fee
        trade.entry_price = (trade.entry_price * (trade.quantity - quantity)
                             + notional) / trade.quantity
        self._record(bar, self.is_flat())
        return trade

    def sell(self, *, bar: int, price: float, quantity: float, maker: bool,
             reason: str) -> None:
        fee_rate = self.costs.maker_fee if maker else self.costs.taker_fee
        notional = quantity * price
        fee = notional * fee_rate
        taken = self.cost if quantity >= self.held else self.cost * quantity / self.held
        self.cash += notional - fee
        self.held -= quantity
        self.cost -= taken
        self.fees_paid += fee
        self._proceeds += notional - fee
        self._sold += quantity
        self._sold_value += notional
        trade, flat = self.open_trade, self.is_flat()
        if trade is not None:
            trade.exit_fee += fee
            if flat:
                self._close(trade, bar, reason)
        self._record(bar, flat)

    def mark_open_trade(self, bar: int, price: float) -> None:
        """A position still open at the end: valued at the last close, reported as such."""
        trade = self.open_trade
        if trade is None:
            return
        self._proceeds += self.held * price
        self._sold_value += self.held * price
        self._sold += self.held
        self._close(trade, bar, "open_at_end")

    def _open(self, bar: int, signal_bar: int) -> Trade:
        trade = Trade(entry_bar=bar, entry_price=0.0, quantity=0.0, entry_fee=0.0,
                      signal_bar=signal_bar)
        self.trades.append(trade)
        self._proceeds = self._sold = self._sold_value = 0.0
        return trade

    def _close(self, trade: Trade, bar: int, reason: str) -> None:
        trade.exit_bar, trade.exit_reason = bar, reason
        trade.exit_price = self._sold_value / self._sold if self._sold else None
        trade.pnl = self._proceeds - trade.cost
        trade.return_pct = trade.pnl / trade.cost * 100 if trade.cost else 0.0

    def _record(self, bar: int, flat: bool) -> None:
        if self.event_bars and self.event_bars[-1] == bar:  # several fills in one bar
            self.event_cash[-1], self.event_held[-1], self.event_flat[-1] = (
                self.cash, self.held, flat)
            return
        self.event_bars.append(bar)
        self.event_cash.append(self.cash)
        self.event_held.append(self.held)
        self.event_flat.append(flat)

    # --- the curve -------------------------------------------------------------------------

    def curve_arrays(self, close: np.ndarray, starting_cash: float):
        """Equity at each close and whether a position was held, from the fill events."""
        bars = np.asarray(self.event_bars, dtype=np.int64)
        cash = np.array([starting_cash, *self.event_cash], dtype="float64")
        held = np.array([0.0, *self.event_held], dtype="float64")
        flat = np.array([True, *self.event_flat], dtype=bool)
        which = np.searchsorted(bars, np.arange(len(close)), side="right")
        equity = cash[which] + held[which] * close
        return equity, ~flat[which]
