"""What a bot's strategy sees: its candle window from the database, its own position (from
its own fills) and its resting orders, as the strategy package's plain views."""

import math
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd

from bots.models import Bot
from bots.strategies import OpenOrderView, PositionView
from marketdata.exchange.filters import unsellable
from marketdata.klines.intervals import EPOCH, Interval
from marketdata.models import Kline
from marketdata.symbol_rules import rules_for
from orders.accounting import PositionState, apply_fill
from orders.models import Fill, Order

COLUMNS = ["open_time", "open", "high", "low", "close", "volume"]


def candles(bot: Bot, last_open_time: datetime, count: int) -> pd.DataFrame:
    """The `count` closed candles up to and including `last_open_time`, oldest first, as the
    strategy package expects them (floats; open_time aware UTC)."""
    return stored_window(market=bot.market, symbol=bot.symbol, interval=bot.interval,
                         last_open_time=last_open_time, count=count)


def stored_window(*, market: str, symbol: str, interval: str, last_open_time: datetime | None,
                  count: int) -> pd.DataFrame:
    """The `count` stored candles up to and including `last_open_time` (None: the newest),
    oldest first, as `candles` gives them."""
    rows = Kline.objects.filter(market=market, symbol=symbol, interval=interval)
    if last_open_time is not None:
        rows = rows.filter(open_time__lte=last_open_time)
    rows = list(rows.order_by("-open_time").values_list(*COLUMNS)[:count])
    rows.reverse()
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in COLUMNS[1:]:
        frame[column] = frame[column].astype("float64")
    frame["open_time"] = pd.to_datetime(frame["open_time"], utc=True)
    return frame


def last_closed_open_time(interval: str, now: datetime) -> datetime:
    """The open time of the latest candle of `interval` that has closed by `now`."""
    micros = (now - EPOCH) // timedelta(microseconds=1)
    step = Interval(interval)
    current = step.floor(micros)
    return EPOCH + timedelta(microseconds=step.previous_open(current))


def ends_at(frame: pd.DataFrame, open_time: datetime) -> bool:
    return not frame.empty and frame["open_time"].iloc[-1] == pd.Timestamp(open_time)


def inputs(bar: dict) -> dict:
    """The bar as the decision log keeps it: numbers rounded for reading, flags as booleans,
    labels as text."""
    kept = {}
    for name, value in bar.items():
        if isinstance(value, pd.Timestamp | datetime):
            kept[name] = value.isoformat()
        elif isinstance(value, bool) or type(value).__name__ == "bool_":
            kept[name] = bool(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            kept[name] = None if math.isnan(float(value)) else round(float(value), 8)
        elif isinstance(value, str):  # a label the strategy read (the advisor's action)
            kept[name] = value[:200]
    return kept


def bot_position(bot: Bot, frame: pd.DataFrame | None = None) -> PositionView:
    """The bot's own long position, from its own fills (two bots on one symbol each see only
    theirs), average cost as in the books. What is left after a sell but cannot be sold (a
    spot buy's fee taken from the base asset leaves less than a step) is dust: the bot is
    flat, as the backtester sees it, or it would never enter again."""
    rules = rules_for(bot.market, bot.symbol)
    state, opened_at = PositionState(), None
    fills = Fill.objects.filter(order__bot=bot).order_by("executed_at", "trade_id")
    for fill in fills:
        if state.quantity <= 0:
            opened_at = fill.executed_at
        state = apply_fill(state, fill.amounts(), base_asset=rules.base_asset,
                           quote_asset=rules.quote_asset)
    if state.quantity <= 0 or _is_dust(rules, state):
        return PositionView()
    average = state.cost / state.quantity
    return PositionView(quantity=state.quantity, average_price=average, opened_at=opened_at,
                        highest_price_since_entry=_highest_since(frame, opened_at, average))


def _is_dust(rules, state: PositionState) -> bool:
    """Dust at what it cost: a crash that takes a position under the minimum notional does
    not make it flat (its exit is refused and tried again), as in the backtester."""
    return bool(unsellable(rules, state.quantity, price=state.cost / state.quantity))


def _highest_since(frame: pd.DataFrame | None, since: datetime, floor: Decimal) -> Decimal:
    if frame is None or frame.empty:
        return floor
    recent = frame[frame["open_time"] >= pd.Timestamp(since).floor("min")]
    if recent.empty:
        return floor
    return max(Decimal(str(recent["high"].max())), floor)


def open_order_views(bot: Bot) -> tuple[OpenOrderView, ...]:
    return tuple(
        OpenOrderView(tag=o.tag, side=o.side.lower(),
                      order_type="market" if o.type == "MARKET" else "limit", price=o.price,
                      quantity=(o.quantity or Decimal("0")) - o.executed_qty)
        for o in Order.objects.filter(bot=bot).open().order_by("pk"))
