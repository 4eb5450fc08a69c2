"""The futures loop: a strategy's long and short signals on a USD-M perpetual, leveraged.

As the spot signal loop, it jumps from one signal to the next (the strategy keeps the default
``on_bar``): a long opens on ``enter_long`` and closes on ``exit_long``; a short opens on
``enter_short`` and closes on ``exit_short`` (``Strategy.short_signals``: the strategy's own
columns, or the long's mirror). Entries fill at the next open as takers; the strategy's own
``protective_exit`` decides stops and take profits inside a candle (mirrored for shorts);
liquidation is checked inside every candle held, and comes first when the candle's adverse
move reached it before the stop. Closing orders are reduce-only, which Binance accepts below
the minimum notional, so an exit is never refused. Funding, when a series is given, is paid
at each funding time the position is open over (see ``funding_per_bar``).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

from backtests.engine.margin import FuturesAccount
from backtests.engine.simulator import (
    NEAR,
    SIGNAL_EXIT,
    Simulation,
    _Levels,
    _next,
    _next_index,
    uses_default_on_bar,
)
from bots.strategies import Context, Intent, PositionView, as_decimal
from bots.strategies.sizing import SizingError, size_intent

ENTRY_TAGS = {"long": "entry", "short": "short_entry"}
EXIT_TAGS = {"long": SIGNAL_EXIT, "short": "short_exit"}
OPENING_SIDE = {"long": "buy", "short": "sell"}
CLOSING_SIDE = {"long": "sell", "short": "buy"}


def futures_refusal(strategy) -> str:
    """Why ``strategy`` cannot be backtested on futures ("" when it can): the futures loop
    trades signals, so a strategy that places its own orders runs on spot only."""
    if uses_default_on_bar(strategy):
        return ""
    return (f"{strategy.name} manages its own orders (it overrides on_bar): futures backtests "
            f"run strategies that trade on their signals; backtest it on spot")


def funding_per_bar(funding: pd.Series | None, open_times: pd.DatetimeIndex,
                    step: pd.Timedelta) -> np.ndarray | None:
    """The funding rate settled in each candle (0 in most), from a series of rates indexed by
    their funding times; a time between two opens counts in the candle it falls in."""
    if funding is None or funding.empty:
        return None
    times = pd.DatetimeIndex(funding.index)
    times = times.tz_localize("UTC") if times.tz is None else times.tz_convert("UTC")
    bars = open_times.searchsorted(times, side="right") - 1
    inside = (bars >= 0) & (times < open_times[-1] + step)
    rates = np.zeros(len(open_times))
    np.add.at(rates, bars[inside], funding.to_numpy(dtype="float64")[inside])
    return rates


def run_futures(sim: Simulation, funding: np.ndarray | None = None) -> None:
    """Entries in the directions the config allows, each held to its exit."""
    candles, direction = sim.candles, sim.config.direction
    first, last = sim.first_decision, len(candles) - 1
    enter_short, exit_short = (series.to_numpy(dtype=bool) for series in
                               sim.strategy.short_signals(candles.prepared))
    exits = {"long": _next_index(candles.exit, first), "short": _next_index(exit_short, first)}
    entries = {side: _next_index(enter & ~leave, first)
               for side, enter, leave in (("long", candles.enter, candles.exit),
                                          ("short", enter_short, exit_short))
               if direction in (side, "both")}
    levels = _Levels.of(sim.strategy)
    bar = first
    while bar <= last:
        sim.progress_at(bar)
        found = {side: _next(following, bar) for side, following in entries.items()}
        found = {side: signal for side, signal in found.items() if signal is not None}
        if not found:
            break
        signal = min(found.values())
        sides = [side for side, at in found.items() if at == signal]
        if len(sides) > 1:
            sim.refusals.append((signal, "both a long and a short entry signalled: "
                                         "neither taken"))
            bar = signal + 1
            continue
        side = sides[0]
        sim.decisions.append((signal, OPENING_SIDE[side], ENTRY_TAGS[side]))
        if signal == last or not _open(sim, side, signal):
            bar = signal + 1
            continue
        bar = _hold(sim, signal + 1, exits[side], levels, funding)
    sim.finish()


# --- entering -------------------------------------------------------------------------------

def _open(sim: Simulation, side: str, signal: int) -> bool:
    """Size, ask the risk rules, fill at the next open. False when nothing was opened."""
    account: FuturesAccount = sim.account
    close = sim.candles.close[signal]
    try:
        notional = _notional(sim, close, signal)
    except SizingError as error:
        sim.refusals.append((signal, f"sizing: {error}"))
        return False
    if sim.gate.active:
        notional, why = sim.gate.approve(bar=signal, now=sim.candles.closed(signal),
                                         notional=notional, side=OPENING_SIDE[side],
                                         leverage=account.leverage)
        if why:
            sim.refusals.append((signal, why))
    if notional <= 0:
        return False
    price = sim.costs.taker_price(OPENING_SIDE[side], sim.candles.open[signal + 1])
    # Margin plus the opening fee must fit in the wallet.
    per_unit = price / account.leverage + price * sim.costs.taker_fee
    quantity = sim.costs.round_down(min(notional / price, max(account.cash, 0.0) / per_unit))
    why = sim.costs.too_small(quantity, price)
    if why:
        sim.refusals.append((signal, f"not placed: {why}"))
        return False
    sim.gate.order_sent(signal)
    account.open_position(bar=signal + 1, side=side, price=price, quantity=quantity,
                          signal_bar=signal)
    sim._highest = sim._lowest = price
    return True


def _notional(sim: Simulation, close: float, signal: int) -> float:
    """The position's value the sizing asks for. Fixed amounts and allocation fractions are
    margin (x leverage); risk per trade sizes the position itself from the stop distance
    (the same for a short, whose stop sits above)."""
    account: FuturesAccount = sim.account
    price, wallet = Decimal(close), Decimal(account.cash)
    stop_pct = sim.strategy.params.get("stop_loss_pct") or Decimal(0)
    stop = price * (1 - stop_pct / 100) if stop_pct > 0 else None
    amount = float(size_intent(sim.config.sizing, sim.config.sizing_config, equity=wallet,
                               allocation=wallet, entry_price=price, stop_price=stop))
    amount *= sim.size_scale(signal)
    if sim.config.sizing == "risk_per_trade":
        return min(amount, account.cash * account.leverage)
    return amount * account.leverage


# --- holding --------------------------------------------------------------------------------

def _hold(sim: Simulation, entry_bar: int, exits: np.ndarray, levels: _Levels,
          funding: np.ndarray | None) -> int:
    """Hold from ``entry_bar`` to its exit; the bar to look for the next entry from (the
    exit signal's own candle: it may be the other side's entry)."""
    account: FuturesAccount = sim.account
    last = len(sim.candles) - 1
    side = account.side
    exit_signal = _next(exits, entry_bar)
    until = last if exit_signal is None else exit_signal
    hit, paid = _protective_bar(sim, levels, entry_bar, until, funding)
    if hit is not None:
        return hit + 1
    if exit_signal is not None:
        sim.decisions.append((exit_signal, CLOSING_SIDE[side], EXIT_TAGS[side]))
    if exit_signal is None or exit_signal >= last:
        _pay_funding(sim, funding, paid, last + 1)
        return last + 1  # still open at the end
    exit_bar = exit_signal + 1
    _pay_funding(sim, funding, paid, exit_bar)  # closed at its open: not over its funding
    price = sim.costs.taker_price(CLOSING_SIDE[side], sim.candles.open[exit_bar])
    _close(sim, exit_bar, price, "signal", decided_at=exit_signal)
    # The candle that closed a long may open a short (and back): a reversal at one open.
    return exit_signal


def _pay_funding(sim: Simulation, funding: np.ndarray | None, start: int, stop: int) -> None:
    """Funding settled in candles start..stop-1, at each candle's open (a position entered
    at a candle's open settles from the next candle's funding on)."""
    if funding is None:
        return
    account: FuturesAccount = sim.account
    for bar in np.flatnonzero(funding[start:stop]) + start:
        account.pay_funding(bar=int(bar), price=sim.candles.open[bar], rate=funding[bar])


def _close(sim: Simulation, bar: int, price: float, reason: str, *,
           decided_at: int | None = None, maker: bool = False, fee: bool = True) -> None:
    account: FuturesAccount = sim.account
    rate = (sim.costs.maker_fee if maker else sim.costs.taker_fee) if fee else 0.0
    sim.gate.order_sent(bar if decided_at is None else decided_at)
    trade = account.close_position(bar=bar, price=price, reason=reason, fee_rate=rate)
    if sim.gate.protections:
        sim.gate.trade_closed(trade, closed_at=sim.candles.opened(bar))


def _protective_bar(sim: Simulation, levels: _Levels, entry_bar: int, until: int,
                    funding: np.ndarray | None) -> tuple[int | None, int]:
    """(The first candle in entry_bar..until where a stop, the take profit or liquidation
    closed the position, or None; the first candle whose funding is not settled yet).
    numpy finds the candidates, the strategy's Decimal check and the liquidation rule
    decide; funding is settled up to each candidate first (it is paid at the open)."""
    account: FuturesAccount = sim.account
    candles, long = sim.candles, account.held > 0
    low, high = candles.low[entry_bar:until + 1], candles.high[entry_bar:until + 1]
    adverse, favourable = (low, high) if long else (high, low)
    paid = entry_bar + 1  # entered at the entry candle's open: its funding is not ours
    for offset in np.flatnonzero(_candidates(sim, levels, adverse, favourable, until)):
        bar = entry_bar + int(offset)
        _pay_funding(sim, funding, paid, bar + 1)
        paid = max(paid, bar + 1)
        if _closed_inside(sim, bar):
            return bar, paid
    return None, paid


def _candidates(sim: Simulation, levels: _Levels, adverse: np.ndarray, favourable: np.ndarray,
                until: int) -> np.ndarray:
    """Candles from the entry to ``until`` whose range came near the liquidation price or a
    protective level."""
    account: FuturesAccount = sim.account
    entry, long = account.entry, account.held > 0
    candles, entered = sim.candles, account.open_trade.entry_bar
    if long:
        best = np.maximum.accumulate(candles.high[entered:until + 1])
        stop = np.full_like(adverse, account.liquidation_price())
        if levels.stop_loss:
            stop = np.maximum(stop, entry * (1 - levels.stop_loss))
        if levels.trailing:
            stop = np.maximum(stop, np.maximum(best, entry) * (1 - levels.trailing))
        near = adverse <= stop * (1 + NEAR)
        if levels.take_profit:
            near |= favourable >= entry * (1 + levels.take_profit) * (1 - NEAR)
        return near
    best = np.minimum.accumulate(candles.low[entered:until + 1])
    stop = np.full_like(adverse, account.liquidation_price())
    if levels.stop_loss:
        stop = np.minimum(stop, entry * (1 + levels.stop_loss))
    if levels.trailing:
        stop = np.minimum(stop, np.minimum(best, entry) * (1 + levels.trailing))
    near = adverse >= stop * (1 - NEAR)
    if levels.take_profit:
        near |= favourable <= entry * (1 - levels.take_profit) * (1 + NEAR)
    return near


def _closed_inside(sim: Simulation, bar: int) -> bool:
    """Whether ``bar`` closed the position: liquidation when the adverse move reached it
    before any stop, else the strategy's protective exit."""
    account: FuturesAccount = sim.account
    candles, long = sim.candles, account.held > 0
    entered = account.open_trade.entry_bar
    if long:
        sim._highest = float(candles.high[entered:bar].max(initial=account.entry))
    else:
        sim._lowest = float(candles.low[entered:bar].min(initial=account.entry))
    intent = sim.strategy.protective_exit(Context(
        bar=candles.row(bar), position=_position_view(sim), now=candles.closed(bar)))
    liquidation = account.liquidation_price()
    reached = candles.low[bar] <= liquidation if long else candles.high[bar] >= liquidation
    if reached and not _stop_first(intent, liquidation, long):
        sim.decisions.append((bar, CLOSING_SIDE[account.side], "liquidation"))
        _close(sim, bar, account.bankruptcy_price(), "liquidation", fee=False)
        account.trades[-1].exit_note = _liquidation_words(account.trades[-1], liquidation,
                                                          sim, long)
        return True
    if intent is None:
        return False
    maker = intent.tag == "take_profit"
    price = float(intent.trigger_price)
    if not maker:
        price = sim.costs.taker_price(intent.side, price)
    sim.decisions.append((bar, intent.side, intent.tag))
    _close(sim, bar, price, intent.tag, maker=maker)
    account.trades[-1].exit_note = intent.reason
    return True


def _stop_first(intent: Intent | None, liquidation: float, long: bool) -> bool:
    """A stop met before the liquidation price on the way down (up, for a short) fills
    first; a take profit never comes before an adverse level (the worse outcome)."""
    if intent is None or intent.tag == "take_profit":
        return False
    trigger = float(intent.trigger_price)
    return trigger > liquidation if long else trigger < liquidation


def _liquidation_words(trade, liquidation: float, sim: Simulation, long: bool) -> str:
    account: FuturesAccount = sim.account
    extreme = "low" if long else "high"
    value = sim.candles.low[trade.exit_bar] if long else sim.candles.high[trade.exit_bar]
    return (f"liquidated: the {extreme} {as_decimal(value)} reached the liquidation price "
            f"{as_decimal(round(liquidation, 8))} ({account.leverage}x, maintenance margin "
            f"{as_decimal(account.maintenance * 100)}%); the position's margin is lost")


def _position_view(sim: Simulation) -> PositionView:
    account: FuturesAccount = sim.account
    trade = account.open_trade
    return PositionView(
        quantity=as_decimal(account.held), average_price=as_decimal(account.entry),
        opened_at=sim.candles.opened(trade.entry_bar),
        highest_price_since_entry=as_decimal(max(sim._highest, account.entry)),
        lowest_price_since_entry=as_decimal(min(sim._lowest, account.entry)))
