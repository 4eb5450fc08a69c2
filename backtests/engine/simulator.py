"""The backtest loop: a strategy from ``bots.strategies`` over a candle frame, unchanged.

Timing, as the live bot trades: the strategy decides on each closed candle; market orders fill
at the next candle's open; protective exits (stop loss, trailing stop, take profit) fill
inside the candle that reached them, at the level (or the open, if the candle gapped past
it); a resting limit order fills when a candle's range crosses it.

Two loops give the same trades, fills and equity (a test holds them to it):

* ``run_bars`` calls ``strategy.on_bar`` on every candle: any strategy, including those that
  keep state or rest limit orders (dca, grid, users' own).
* ``run_signals`` is for strategies that keep the default ``on_bar`` (enter on
  ``enter_long``, exit on ``exit_long``, protective exits): it jumps from one signal to the
  next with numpy searches and asks the strategy's own ``protective_exit`` only on the
  candles whose high or low came near a level. A million candles take a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from backtests.engine.account import Account, Costs
from backtests.engine.config import BacktestConfig
from backtests.engine.margin import FuturesAccount
from backtests.engine.results import BacktestCancelled, Trade  # noqa: F401  (re-raised)
from backtests.engine.risk_gate import RiskGate
from bots.strategies import (
    Cancel,
    Context,
    Intent,
    OpenOrderView,
    PositionView,
    Strategy,
    as_decimal,
)
from bots.strategies.sizing import MIN_CONFIDENCE_SCALE, SizingError, size_intent

Progress = Callable[[float], None]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PROGRESS_EVERY = 50_000  # bars between progress reports
NEAR = 1e-9  # float searches look this much past a level; the strategy's Decimal check decides
SIGNAL_EXIT = "exit"
MAKER_EXITS = frozenset({"take_profit"})  # a resting limit sell; stops are market orders


@dataclass
class Resting:
    """A limit order on the simulated book since ``placed_bar``'s close."""

    tag: str
    side: str
    price: float
    quantity: float
    placed_bar: int
    signal_bar: int

    def view(self) -> OpenOrderView:
        return OpenOrderView(tag=self.tag, side=self.side, order_type="limit",
                             price=as_decimal(self.price), quantity=as_decimal(self.quantity))


@dataclass
class Pending:
    """A market order decided on ``signal_bar``'s close, filled at the next open."""

    side: str
    tag: str
    signal_bar: int
    amount: float = 0.0  # buys: quote to spend
    quantity: float = 0.0  # sells: base to sell


@dataclass
class Candles:
    """The prepared frame as arrays, read once."""

    prepared: pd.DataFrame
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    enter: np.ndarray
    exit: np.ndarray
    open_times: pd.DatetimeIndex
    close_times: pd.DatetimeIndex
    open_us: np.ndarray = field(repr=False, default=None)
    close_us: np.ndarray = field(repr=False, default=None)

    def __post_init__(self) -> None:
        # Indexing a DatetimeIndex costs ~10 us; a fill needs a time, so keep plain integers.
        self.open_us = self.open_times.as_unit("us").asi8
        self.close_us = self.close_times.as_unit("us").asi8

    def opened(self, bar: int) -> datetime:
        return EPOCH + timedelta(microseconds=int(self.open_us[bar]))

    def closed(self, bar: int) -> datetime:
        return EPOCH + timedelta(microseconds=int(self.close_us[bar]))

    @classmethod
    def of(cls, prepared: pd.DataFrame, step: pd.Timedelta) -> Candles:
        open_times = pd.DatetimeIndex(prepared["open_time"])
        return cls(
            prepared=prepared,
            open=prepared["open"].to_numpy(dtype="float64"),
            high=prepared["high"].to_numpy(dtype="float64"),
            low=prepared["low"].to_numpy(dtype="float64"),
            close=prepared["close"].to_numpy(dtype="float64"),
            enter=prepared["enter_long"].to_numpy(dtype=bool),
            exit=prepared["exit_long"].to_numpy(dtype=bool),
            open_times=open_times,
            close_times=open_times + step,
        )

    def __len__(self) -> int:
        return len(self.close)

    def row(self, bar: int) -> dict:
        return self.prepared.iloc[bar].to_dict()


@dataclass
class Simulation:
    strategy: Strategy
    config: BacktestConfig
    candles: Candles
    progress: Progress | None = None
    trade_from: int = 0
    costs: Costs = field(init=False)
    account: Account = field(init=False)
    gate: RiskGate = field(init=False)
    size_scales: np.ndarray | None = field(init=False, default=None, repr=False)
    refusals: list[tuple[int, str]] = field(default_factory=list)
    decisions: list[tuple[int, str, str]] = field(default_factory=list)  # (bar, side, tag)
    pending: list[Pending] = field(default_factory=list)
    resting: list[Resting] = field(default_factory=list)
    _highest: float = 0.0  # highest high since the position opened
    _lowest: float = 0.0  # lowest low since a short opened
    _reported: int = 0  # the bar progress was last reported at

    def __post_init__(self) -> None:
        self.costs = Costs.of(self.config)
        if self.config.is_futures:
            self.account = FuturesAccount(
                self.costs, float(self.config.cash), leverage=self.config.leverage,
                maintenance=float(self.config.maintenance_margin))
        else:
            self.account = Account(self.costs, float(self.config.cash))
        self.gate = RiskGate(self.config, self.account, self.candles.close,
                             self.candles.close_times)
        self.size_scales = _size_scales(self.strategy, self.candles.prepared)

    @property
    def first_decision(self) -> int:
        """The first bar with the strategy's warm-up behind it (as the live bot, which
        waits for ``warmup()`` candles), and not before ``trade_from``."""
        return max(self.strategy.warmup() - 1, self.trade_from, 0)

    # --- what both loops share -----------------------------------------------------------------

    def position_view(self, bar: int) -> PositionView:
        account = self.account
        if account.is_flat():
            return PositionView()
        trade = account.open_trade
        return PositionView(
            quantity=as_decimal(account.held), average_price=as_decimal(account.average_price),
            opened_at=self.candles.opened(trade.entry_bar) if trade else None,
            highest_price_since_entry=as_decimal(max(self._highest, account.average_price)))

    def buy_amount(self, intent: Intent | None, bar: int) -> float:
        """The quote an entry decided on ``bar``'s close may spend after sizing and the risk
        rules (0: refused, the reason recorded)."""
        close = self.candles.close[bar]
        try:
            amount = self._sized(intent, bar, close)
        except SizingError as error:
            return self._refuse(bar, f"sizing: {error}")
        if self.gate.active:
            now = self.candles.closed(bar)
            amount, why = self.gate.approve(bar=bar, now=now, notional=amount)
            if why:
                self.refusals.append((bar, why))
        return amount

    def _sized(self, intent: Intent | None, bar: int, close: float) -> float:
        if intent is not None and intent.quote_amount is not None:
            return float(intent.quote_amount)
        if intent is not None and intent.quantity is not None:
            price = intent.price if intent.order_type == "limit" else as_decimal(close)
            return float(intent.quantity * price)
        # Decimal(float) is exact and five times cheaper than as_decimal's str(): the amount
        # goes back to float anyway, and both loops size the same way.
        cash, price = Decimal(self.account.cash), Decimal(close)
        equity = Decimal(self.account.cash + self.account.held * close)
        stop_pct = self.strategy.params.get("stop_loss_pct") or Decimal(0)
        stop = price * (1 - stop_pct / 100) if stop_pct > 0 else None
        amount = float(size_intent(self.config.sizing, self.config.sizing_config,
                                   equity=equity, allocation=cash, entry_price=price,
                                   stop_price=stop))
        return amount * self.size_scale(bar)

    def size_scale(self, bar: int) -> float:
        """The strategy's confidence on ``bar`` as a share of the sized amount (1: none)."""
        return 1.0 if self.size_scales is None else float(self.size_scales[bar])

    def fill_buy(self, *, bar: int, amount: float, signal_bar: int, price: float | None = None,
                 maker: bool = False, quantity: float | None = None) -> Trade | None:
        """Buy for ``amount`` quote at the bar's open (a market order), or ``quantity`` at
        ``price`` (a limit)."""
        if price is None:
            price = self.costs.taker_price("buy", self.candles.open[bar])
        per_unit = self._cost_per_unit(price, maker)
        if quantity is None:
            quantity = amount / per_unit
        quantity = self.costs.round_down(quantity)
        if quantity * per_unit > self.account.cash:  # never more than the cash (spot)
            quantity = self.costs.round_down(max(self.account.cash, 0.0) / per_unit)
        why = self.costs.too_small(quantity, price)
        if why:
            self._refuse(signal_bar, f"not placed: {why}")
            return None
        if self.account.open_trade is None:  # a new position: its highest price starts here
            self._highest = 0.0
        self.gate.order_sent(signal_bar)
        return self.account.buy(bar=bar, price=price, quantity=quantity, maker=maker,
                                signal_bar=signal_bar)

    def _cost_per_unit(self, price: float, maker: bool) -> float:
        """Cash one unit takes: its price, plus the fee when fees are paid in quote."""
        if not self.costs.fee_in_quote:
            return price
        return price * (1 + (self.costs.maker_fee if maker else self.costs.taker_fee))

    def fill_sell(self, *, bar: int, price: float, reason: str, maker: bool = False,
                  quantity: float | None = None, decided_at: int | None = None) -> None:
        """Sell ``quantity`` (everything sellable when None) at ``price`` in ``bar``;
        ``decided_at`` is the bar whose close decided it (default: ``bar``)."""
        sellable = self.account.sellable()
        quantity = sellable if quantity is None else min(self.costs.round_down(quantity),
                                                          sellable)
        why = self.costs.too_small(quantity, price)
        if why:
            self._refuse(bar if decided_at is None else decided_at, f"sell not placed: {why}")
            return
        self.gate.order_sent(bar if decided_at is None else decided_at)
        trade = self.account.open_trade
        self.account.sell(bar=bar, price=price, quantity=quantity, maker=maker, reason=reason)
        if trade is not None and trade.exit_reason and self.gate.protections:
            self.gate.trade_closed(trade, closed_at=self.candles.opened(bar))

    def protective_fill(self, bar: int, intent: Intent) -> None:
        """A stop or take profit reached inside ``bar``: filled there, at its trigger."""
        maker = intent.tag in MAKER_EXITS
        price = float(intent.trigger_price)
        if not maker:
            price = self.costs.taker_price("sell", price)
        self.decisions.append((bar, "sell", intent.tag))
        self.fill_sell(bar=bar, price=price, reason=intent.tag, maker=maker)
        trade = self.account.trades[-1] if self.account.trades else None
        if trade is not None and trade.exit_bar == bar:
            trade.exit_note = intent.reason

    def _refuse(self, bar: int, why: str) -> float:
        self.refusals.append((bar, why))
        return 0.0

    def report_progress(self, bar: int) -> None:
        if self.progress is not None:
            self.progress(bar / max(len(self.candles), 1))

    def progress_at(self, bar: int) -> None:
        """For loops that jump: report when PROGRESS_EVERY bars have passed since the last."""
        if bar - self._reported >= PROGRESS_EVERY:
            self.report_progress(bar)
            self._reported = bar

    def finish(self) -> None:
        """Value a position still open at the last close, then give every trade its times
        (in one pass: a datetime per fill would cost more than the fill)."""
        last = len(self.candles) - 1
        if last < 0:
            return
        trades = self.account.trades
        self.account.mark_open_trade(last, self.candles.close[last])
        opens = self.candles.open_times
        entries = opens[[t.entry_bar for t in trades]].to_pydatetime()
        exits = opens[[t.exit_bar for t in trades]].to_pydatetime()
        for trade, entered, exited in zip(trades, entries, exits, strict=True):
            trade.entry_time = entered
            trade.exit_time = self.candles.closed(last) if trade.is_open else exited


# --- every bar: any strategy -----------------------------------------------------------------

def run_bars(sim: Simulation) -> None:
    """``on_bar`` on every candle from the first with the warm-up behind it."""
    candles, state = sim.candles, {}
    columns = list(candles.prepared.columns)
    values = [candles.prepared[c].tolist() for c in columns]
    for bar in range(len(candles)):
        if bar % PROGRESS_EVERY == 0:
            sim.report_progress(bar)
        _fill_pending(sim, bar)
        _fill_resting(sim, bar)
        if not sim.account.is_flat():
            sim._highest = max(sim._highest, candles.high[bar])
        if bar < sim.first_decision:
            continue
        context = Context(bar=dict(zip(columns, (v[bar] for v in values), strict=True)),
                          position=sim.position_view(bar),
                          open_orders=tuple(order.view() for order in sim.resting),
                          state=state, now=candles.closed(bar))
        for action in sim.strategy.on_bar(context):
            _carry_out(sim, action, bar)
    sim.finish()


def _fill_pending(sim: Simulation, bar: int) -> None:
    orders, sim.pending = sim.pending, []
    for order in orders:
        if order.side == "buy":
            sim.fill_buy(bar=bar, amount=order.amount, signal_bar=order.signal_bar)
        else:
            price = sim.costs.taker_price("sell", sim.candles.open[bar])
            reason = "signal" if order.tag == SIGNAL_EXIT else order.tag
            sim.fill_sell(bar=bar, price=price, reason=reason, quantity=order.quantity,
                          decided_at=order.signal_bar)


def _fill_resting(sim: Simulation, bar: int) -> None:
    """Limit orders the bar crossed: at the open as a taker on their first bar if the price
    was already through them, else at their own price as a maker."""
    candles, still = sim.candles, []
    for order in sim.resting:
        opening, first = candles.open[bar], bar == order.placed_bar + 1
        through = opening <= order.price if order.side == "buy" else opening >= order.price
        crossed = (candles.low[bar] <= order.price if order.side == "buy"
                   else candles.high[bar] >= order.price)
        if first and through:
            price = sim.costs.taker_price(order.side, opening)
            price = min(price, order.price) if order.side == "buy" else max(price, order.price)
            _fill_limit(sim, order, bar, price, maker=False)
        elif crossed:
            _fill_limit(sim, order, bar, order.price, maker=True)
        else:
            still.append(order)
    sim.resting = still


def _fill_limit(sim: Simulation, order: Resting, bar: int, price: float, maker: bool) -> None:
    if order.side == "buy":
        sim.fill_buy(bar=bar, amount=0.0, signal_bar=order.signal_bar, price=price, maker=maker,
                     quantity=order.quantity)
    else:
        sim.fill_sell(bar=bar, price=price, reason=order.tag, maker=maker,
                      quantity=order.quantity)


def _carry_out(sim: Simulation, action, bar: int) -> None:
    if isinstance(action, Cancel):
        sim.resting = [order for order in sim.resting if order.tag != action.tag]
        return
    if action.trigger_price is not None:
        sim.protective_fill(bar, action)  # records its own decision, as the signal loop does
        return
    sim.decisions.append((bar, action.side, action.tag))
    if action.side == "buy":
        _place_buy(sim, action, bar)
    else:
        _place_sell(sim, action, bar)


def _place_buy(sim: Simulation, intent: Intent, bar: int) -> None:
    amount = sim.buy_amount(intent, bar)
    if amount <= 0:
        return
    if intent.order_type == "market":
        sim.pending.append(Pending("buy", intent.tag, bar, amount=amount))
        return
    price = float(intent.price)
    quantity = float(intent.quantity) if intent.quantity is not None else amount / price
    if intent.quantity is not None and amount < float(intent.quantity) * price:
        quantity = amount / price  # the risk rules reduced it
    sim.resting.append(Resting(intent.tag, "buy", price, quantity, bar, bar))


def _place_sell(sim: Simulation, intent: Intent, bar: int) -> None:
    held = sim.account.sellable()
    quantity = float(intent.quantity) if intent.quantity is not None else held * float(
        intent.close_fraction or 1)
    quantity = min(quantity, held)
    if quantity <= 0:
        sim.refusals.append((bar, "nothing to sell: the position is flat"))
        return
    if intent.order_type == "market":
        sim.pending.append(Pending("sell", intent.tag, bar, quantity=quantity))
    else:
        sim.resting.append(Resting(intent.tag, "sell", float(intent.price), quantity, bar, bar))


def _size_scales(strategy: Strategy, prepared: pd.DataFrame) -> np.ndarray | None:
    """Each bar's ``Strategy.size_scale``, computed once (the rule a live bot applies)."""
    column = strategy.size_column
    if column is None or column not in prepared.columns:
        return None
    confidence = prepared[column].to_numpy(dtype="float64")
    # confidence_scale, vectorised: clamped to [MIN_CONFIDENCE_SCALE, 1], NaN counts as 1.
    return np.where(np.isnan(confidence), 1.0,
                    np.clip(confidence, MIN_CONFIDENCE_SCALE, 1.0))


# --- signal to signal: strategies with the default on_bar ------------------------------------

def uses_default_on_bar(strategy: Strategy) -> bool:
    kind = type(strategy)
    return kind.on_bar is Strategy.on_bar and kind.protective_exit is Strategy.protective_exit


def run_signals(sim: Simulation) -> None:
    """The default ``on_bar``, jumping between the bars where something happens."""
    candles = sim.candles
    first, last = sim.first_decision, len(candles) - 1
    entries = _next_index(candles.enter & ~candles.exit, first)
    exits = _next_index(candles.exit, first)
    stops = _Levels.of(sim.strategy)
    bar = first
    while bar <= last:
        sim.progress_at(bar)
        signal = _next(entries, bar)
        if signal is None:
            break
        sim.decisions.append((signal, "buy", "entry"))
        amount = sim.buy_amount(None, signal)
        if signal == last:
            break  # decided on the last candle: no candle left to fill in
        if amount <= 0 or sim.fill_buy(bar=signal + 1, amount=amount, signal_bar=signal) is None:
            bar = signal + 1
            continue
        bar = _hold(sim, signal + 1, exits, stops)
    sim.finish()


def _next_index(flags: np.ndarray, first: int) -> np.ndarray:
    """For every bar, the first bar at or after it (and not before ``first``) whose flag is
    set; -1 past the last one. One array lookup per question instead of a search."""
    bars = np.arange(len(flags))
    marked = np.where(flags & (bars >= first), bars, len(flags))
    following = np.minimum.accumulate(marked[::-1])[::-1]
    return np.where(following < len(flags), following, -1)


def _next(following: np.ndarray, bar: int) -> int | None:
    found = int(following[bar]) if bar < len(following) else -1
    return found if found >= 0 else None


def _hold(sim: Simulation, entry_bar: int, exits: np.ndarray, stops: _Levels) -> int:
    """Hold from ``entry_bar`` to the exit; the bar to look for the next entry from. An exit
    the filters refused (too small after a crash) leaves the position open: hold on."""
    candles, last, bar = sim.candles, len(sim.candles) - 1, entry_bar
    while True:
        exit_signal = _next(exits, bar)
        until = last if exit_signal is None else exit_signal
        hit = _protective_bar(sim, stops, bar, until) if stops.any else None
        if hit is not None:
            if sim.account.open_trade is None:
                return hit + 1
            bar = hit + 1
            continue
        if exit_signal is not None:
            sim.decisions.append((exit_signal, "sell", SIGNAL_EXIT))
        if exit_signal is None or exit_signal >= last:
            return last + 1  # still open at the end (or its exit had no candle to fill in)
        price = sim.costs.taker_price("sell", candles.open[exit_signal + 1])
        sim.fill_sell(bar=exit_signal + 1, price=price, reason="signal",
                      decided_at=exit_signal)
        if sim.account.open_trade is None:
            return exit_signal + 1
        bar = exit_signal + 1


@dataclass(frozen=True)
class _Levels:
    """The strategy's protective exits as fractions (0: off)."""

    stop_loss: float
    take_profit: float
    trailing: float

    @classmethod
    def of(cls, strategy: Strategy) -> _Levels:
        params = strategy.params
        return cls(float(params["stop_loss_pct"]) / 100, float(params["take_profit_pct"]) / 100,
                   float(params["trailing_stop_pct"]) / 100)

    @property
    def any(self) -> bool:
        return bool(self.stop_loss or self.take_profit or self.trailing)


def _protective_bar(sim: Simulation, levels: _Levels, start: int, until: int) -> int | None:
    """The first bar in start..until where the strategy's own ``protective_exit`` fires;
    filled there. numpy finds the candidates (a hair past each level, so float rounding
    cannot hide one), the strategy's Decimal check decides."""
    candles, average = sim.candles, sim.account.average_price
    low, high = candles.low[start:until + 1], candles.high[start:until + 1]
    entered = sim.account.open_trade.entry_bar  # the trailing stop counts every high since
    highest = np.maximum.accumulate(candles.high[entered:until + 1])[start - entered:]
    highest = np.maximum(highest, average)
    stop = np.zeros_like(low)
    if levels.stop_loss:
        stop = np.maximum(stop, average * (1 - levels.stop_loss))
    if levels.trailing:
        stop = np.maximum(stop, highest * (1 - levels.trailing))
    near = low <= stop * (1 + NEAR)
    if levels.take_profit:
        near |= high >= average * (1 + levels.take_profit) * (1 - NEAR)
    for offset in np.flatnonzero(near):
        bar = start + int(offset)
        sim._highest = float(highest[offset])
        intent = sim.strategy.protective_exit(Context(
            bar=candles.row(bar), position=sim.position_view(bar),
            now=candles.closed(bar)))
        if intent is not None:
            sim.protective_fill(bar, intent)
            return bar
    return None
