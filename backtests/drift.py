"""Backtest against live: re-run a bot's strategy over the candles it traded and put its real
(paper or live) round trips beside the backtest's, trade by trade.

Trades are matched by the candle whose close decided the entry: the same strategy on the
same candles decides on the same candles (tests/backtests/test_live_matches_backtest.py), so
a trade on one side only is a difference in decisions (a refusal, a pause, a stale stream, a
fill that never came), and a matched pair differs only in execution: when it filled, at
what price, why it exited and what it paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd

from backtests.engine import SymbolFilters, Trade, run_backtest
from backtests.engine.data import interval_step
from backtests.services import backtest_config, stored_candles, strategy_build
from bots.ai import with_ai_analyses
from bots.models import Bot
from marketdata.exchange.filters import unsellable
from marketdata.symbol_rules import rules_for
from orders.accounting import PositionState, apply_fill, fee_in_quote
from orders.models import Fill

BPS = Decimal(10_000)
TAKER_FEE = Decimal("0.001")  # Binance spot's standard rate, the paper gateway's default


@dataclass
class LiveTrade:
    """A bot's round trip from its own fills: flat, bought, sold back to flat (or dust)."""

    decided_on: datetime | None  # the candle whose close decided the entry
    entry_time: datetime
    entry_price: Decimal
    quantity: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    exit_time: datetime | None = None
    exit_price: Decimal | None = None
    exit_reason: str = ""
    proceeds: Decimal = Decimal(0)
    sold: Decimal = Decimal(0)


def bot_round_trips(bot: Bot) -> list[LiveTrade]:
    """The bot's round trips, replaying its fills through the books' accounting."""
    rules = rules_for(bot.market, bot.symbol)
    state, trades = PositionState(), []
    fills = (Fill.objects.filter(order__bot=bot).select_related("order__decision")
             .order_by("executed_at", "trade_id"))
    for fill in fills:
        amounts = fill.amounts()
        fee = fee_in_quote(amounts, base_asset=rules.base_asset, quote_asset=rules.quote_asset)
        if fill.side == "BUY" and (not trades or trades[-1].exit_time is not None):
            decision = fill.order.decision
            trades.append(LiveTrade(decided_on=decision.candle_open_time if decision else None,
                                    entry_time=fill.executed_at, entry_price=fill.price))
        if not trades or trades[-1].exit_time is not None:
            continue  # a sell with no trade of the bot's open: nothing to match
        state = apply_fill(state, amounts, base_asset=rules.base_asset,
                           quote_asset=rules.quote_asset)
        _add(trades[-1], fill, fee)
        if fill.side == "SELL" and (state.quantity <= 0 or unsellable(
                rules, state.quantity, price=fill.price)):
            trades[-1].exit_time, trades[-1].exit_reason = fill.executed_at, fill.order.tag
            state = PositionState()
    return trades


def _add(trade: LiveTrade, fill: Fill, fee: Decimal) -> None:
    trade.fees += fee
    if fill.side == "BUY":
        trade.quantity += fill.quantity
        trade.cost += fill.quote_quantity
        trade.entry_price = trade.cost / trade.quantity
    else:
        trade.sold += fill.quantity
        trade.proceeds += fill.quote_quantity
        trade.exit_price = trade.proceeds / trade.sold


def drift_report(*, bot: Bot, end: datetime | None = None) -> dict:
    """The bot's trades beside a backtest of its strategy from its first decision to
    ``end`` (default: its last decision), matched by the candle that decided each entry."""
    live = bot_round_trips(bot)
    decisions = bot.decisions.order_by("candle_open_time")
    first, last = decisions.first(), decisions.last()
    if first is None:
        raise ValueError(f"{bot.name} has decided nothing yet: there is nothing to compare")
    backtest, candles = _backtest(bot, first.candle_open_time, end or last.candle_open_time)
    rows = _matched(live, backtest.trades, candles)
    return {
        "bot": bot.pk, "strategy": bot.strategy, "params": bot.params,
        "from": first.candle_open_time.isoformat(),
        "to": (end or last.candle_open_time).isoformat(),
        "rows": rows,
        "matched": sum(1 for row in rows if row["live"] and row["backtest"]),
        "live_only": sum(1 for row in rows if not row["backtest"]),
        "backtest_only": sum(1 for row in rows if not row["live"]),
    }


def _backtest(bot: Bot, first: datetime, last: datetime):
    strategy = strategy_build(name=bot.strategy, params=bot.params)
    step = interval_step(bot.interval).to_pytimedelta()
    candles = stored_candles(symbol=bot.symbol, interval=bot.interval, market=bot.market,
                             start=first - step * strategy.lookback(), end=last + step)
    candles, _ = with_ai_analyses(strategy, candles, market=bot.market, symbol=bot.symbol,
                                  interval=bot.interval)  # what the bot read, candle by candle
    trade_from = int(candles["open_time"].searchsorted(pd.Timestamp(first)))
    rules = rules_for(bot.market, bot.symbol)
    config = backtest_config(interval=bot.interval, cash=bot.portfolio.total_budget or
                             Decimal(10_000), fee=TAKER_FEE, slippage_bps=Decimal(0),
                             filters=SymbolFilters.from_rules(rules) if rules else None,
                             sizing=bot.sizing, sizing_config=bot.sizing_config)
    return run_backtest(strategy, candles, config, trade_from=trade_from), candles


def _matched(live: list[LiveTrade], simulated: list[Trade], candles: pd.DataFrame) -> list:
    opens = candles["open_time"]
    by_candle = {opens.iloc[t.signal_bar].to_pydatetime(): t for t in simulated}
    rows, seen = [], set()
    for trade in live:
        twin = by_candle.get(trade.decided_on)
        seen.add(trade.decided_on)
        rows.append(_row(trade.decided_on, trade, twin))
    rows += [_row(decided, None, twin) for decided, twin in by_candle.items()
             if decided not in seen]
    return sorted(rows, key=lambda row: row["decided_on"] or "")


def _row(decided_on: datetime | None, live: LiveTrade | None, twin: Trade | None) -> dict:
    row = {"decided_on": decided_on.isoformat() if decided_on else None,
           "live": _live_side(live) if live else None,
           "backtest": _backtest_side(twin) if twin else None, "differences": []}
    if live and twin:
        row["differences"] = _differences(live, twin)
    elif live:
        row["differences"] = ["the backtest did not take this trade"]
    else:
        row["differences"] = ["the bot did not take this trade"]
    return row


def _live_side(trade: LiveTrade) -> dict:
    return {"entry_time": trade.entry_time.isoformat(), "entry_price": str(trade.entry_price),
            "exit_time": trade.exit_time.isoformat() if trade.exit_time else None,
            "exit_price": str(trade.exit_price) if trade.exit_price is not None else None,
            "exit_reason": trade.exit_reason or "open",
            "fees": f"{trade.fees.quantize(Decimal('0.00000001')).normalize():f}"}


def _backtest_side(trade: Trade) -> dict:
    return {"entry_time": trade.entry_time.isoformat(), "entry_price": _plain(trade.entry_price),
            "exit_time": trade.exit_time.isoformat() if trade.exit_time else None,
            "exit_price": _plain(trade.exit_price), "exit_reason": trade.exit_reason,
            "fees": _plain(trade.fees)}


def _differences(live: LiveTrade, twin: Trade) -> list[str]:
    found = [_price_words("entry", live.entry_price, twin.entry_price)]
    if live.exit_price is not None and twin.exit_price is not None:
        found.append(_price_words("exit", live.exit_price, twin.exit_price))
    live_reason = "signal" if live.exit_reason == "exit" else (live.exit_reason or "open")
    twin_reason = "open" if twin.is_open else twin.exit_reason
    if live_reason != twin_reason:
        found.append(f"exit reason: {live_reason} live, {twin_reason} in the backtest")
    if live.exit_time and twin.exit_time:
        late = live.exit_time - twin.exit_time
        if abs(late) >= timedelta(minutes=1):
            found.append(f"exit {_duration(late)} {'later' if late > timedelta(0) else 'earlier'}"
                         " than the backtest's")
    fee_gap = live.fees - Decimal(str(twin.fees))
    if abs(fee_gap) >= Decimal("0.01"):
        found.append(f"fees {'+' if fee_gap > 0 else ''}{fee_gap.quantize(Decimal('0.01'))} "
                     f"against the backtest")
    return [words for words in found if words]


def _price_words(which: str, live: Decimal, simulated: float) -> str:
    simulated = Decimal(_plain(simulated))
    gap = (live - simulated) / simulated * BPS if simulated else Decimal(0)
    if abs(gap) < Decimal("0.5"):
        return ""
    return (f"{which} price {live.normalize():f} against {simulated.normalize():f} "
            f"({gap.quantize(Decimal('0.1'))} bps)")


def _duration(span: timedelta) -> str:
    minutes = int(abs(span).total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _plain(value: float | None) -> str | None:
    """A simulated amount to Binance's 8 decimals (an average of fills carries float noise)."""
    if value is None:
        return None
    return f"{Decimal(str(value)).quantize(Decimal('0.00000001')).normalize():f}"
