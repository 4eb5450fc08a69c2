"""Per-symbol market state driven by a replayed kline CSV.

Each replayed candle becomes four trade prints - open, then the extreme the candle most
likely visited first (low before high for a green candle, high before low for a red
one), the other extreme, and close - followed by the candle close. Tests may also move
the price by hand (set_price / emit_trade). Every print updates the live kline, the
book (bid = price, ask = price + one tick) and the trade-id sequence that user fills
share, so ids stay unique across public and private trades.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .decimals import ZERO, D, round_down, truncate
from .klines import Candle, aggregate, base_interval_ms, merge

DAY_MS = 86_400_000
BOOK_LEVELS = 20


@dataclass(frozen=True)
class Tick:
    """One public trade print."""

    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    time: int
    buyer_maker: bool
    # None = unbounded liquidity (set_price): resting orders crossed fill completely.
    liquidity: Decimal | None


@dataclass
class LiveCandle:
    open_time: int
    close_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = ZERO
    quote_volume: Decimal = ZERO
    trades: int = 0
    first_trade_id: int = -1
    last_trade_id: int = -1
    taker_buy_base: Decimal = ZERO
    taker_buy_quote: Decimal = ZERO

    def add(self, tick: Tick) -> None:
        self.high = max(self.high, tick.price)
        self.low = min(self.low, tick.price)
        self.close = tick.price
        self.volume += tick.qty
        self.quote_volume += tick.qty * tick.price
        self.trades += 1
        if self.first_trade_id < 0:
            self.first_trade_id = tick.trade_id
        self.last_trade_id = tick.trade_id
        if not tick.buyer_maker:  # the taker bought
            self.taker_buy_base += tick.qty
            self.taker_buy_quote += tick.qty * tick.price

    def freeze(self) -> Candle:
        return Candle(
            open_time=self.open_time,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            volume=self.volume,
            close_time=self.close_time,
            quote_volume=self.quote_volume,
            trades=self.trades,
            taker_buy_base=self.taker_buy_base,
            taker_buy_quote=self.taker_buy_quote,
        )


@dataclass
class BookUpdate:
    """A depth diff: levels whose quantity changed (quantity 0 = level removed)."""

    first_id: int
    last_id: int
    prev_last_id: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]


@dataclass
class SymbolMarket:
    symbol: str
    candles: list[Candle]
    tick_size: Decimal
    lot_unit: Decimal
    start_index: int
    closed: list[Candle] = field(init=False)
    live: LiveCandle | None = field(init=False, default=None)
    cursor: int = field(init=False)
    price: Decimal = field(init=False)
    now_ms: int = field(init=False)
    next_trade_id: int = field(init=False)
    last_qty: Decimal = field(init=False)
    book_update_id: int = field(init=False, default=1_000_000)
    _book: tuple[dict, dict] = field(init=False)

    def __post_init__(self) -> None:
        self.interval_ms = base_interval_ms(self.candles)
        start = max(1, min(self.start_index, len(self.candles)))
        self.cursor = start
        self.closed = list(self.candles[:start])
        last = self.closed[-1]
        self.price = last.close
        self.now_ms = last.close_time + 1
        self.next_trade_id = 1 + sum(c.trades for c in self.closed)
        self.last_qty = truncate(last.volume / 4, 8)
        self._book = self._levels()

    # --- replay ---------------------------------------------------------------------
    @property
    def remaining(self) -> int:
        return len(self.candles) - self.cursor

    def replay_path(self, candle: Candle) -> list[tuple[Decimal, Decimal, int]]:
        """(price, qty, time) prints for one candle: open, extremes in likely order, close."""
        if candle.volume <= 0:
            return []
        extremes = (
            (candle.low, candle.high) if candle.close >= candle.open else (candle.high, candle.low)
        )
        prices = (candle.open, *extremes, candle.close)
        part = truncate(candle.volume / 4, 8)
        qtys = (part, part, part, candle.volume - 3 * part)
        step = self.interval_ms // 4
        times = [candle.open_time + i * step for i in range(4)]
        return list(zip(prices, qtys, times, strict=True))

    def next_candle(self) -> Candle | None:
        if self.cursor >= len(self.candles):
            return None
        candle = self.candles[self.cursor]
        self.cursor += 1
        return candle

    def print_trade(
        self, price: Decimal, qty: Decimal, time: int, liquidity: Decimal | None
    ) -> Tick:
        """Record a public trade: moves price, live kline and the book."""
        self._roll_bucket(time)
        tick = Tick(
            symbol=self.symbol,
            trade_id=self.take_trade_id(),
            price=price,
            qty=qty,
            time=time,
            buyer_maker=price < self.price,
            liquidity=liquidity,
        )
        if self.live is None:
            start = time - time % self.interval_ms
            self.live = LiveCandle(start, start + self.interval_ms - 1, price, price, price, price)
        self.live.add(tick)
        self.price = price
        self.last_qty = qty
        self.now_ms = max(self.now_ms, time)
        return tick

    def close_live(self, close_time: int) -> Candle | None:
        """Finish the live candle (end of a replayed candle); None when nothing traded."""
        if self.live is None:
            return None
        candle = self.live.freeze()
        self.closed.append(candle)
        self.live = None
        self.now_ms = max(self.now_ms, close_time + 1)
        return candle

    def append_quiet(self, candle: Candle) -> None:
        """A replayed candle without trades: history grows, nothing prints."""
        self._roll_bucket(candle.open_time)
        self.closed.append(candle)
        self.now_ms = max(self.now_ms, candle.close_time + 1)

    def _roll_bucket(self, time: int) -> None:
        if self.live is not None and time > self.live.close_time:
            self.close_live(self.live.close_time)

    def take_trade_id(self) -> int:
        trade_id = self.next_trade_id
        self.next_trade_id += 1
        return trade_id

    # --- derived views ----------------------------------------------------------------
    def all_candles(self) -> list[Candle]:
        live = [self.live.freeze()] if self.live else []
        return self.closed + live

    def klines(
        self, interval_ms: int, start: int | None, end: int | None, limit: int
    ) -> list[Candle]:
        rows = self.all_candles()
        if interval_ms != self.interval_ms:
            rows = aggregate(rows, interval_ms)
        if start is not None:
            rows = [c for c in rows if c.open_time >= start]
            rows = [c for c in rows if end is None or c.open_time <= end][:limit]
            return rows
        if end is not None:
            rows = [c for c in rows if c.open_time <= end]
        return rows[-limit:]

    def running_kline(self, interval_ms: int) -> Candle:
        """The still-open kline of `interval_ms` at the replay clock.

        Between replay steps nothing has traded in the new bucket yet: like Binance, that
        kline opens at the last price with zero volume.
        """
        start = self.live.open_time if self.live is not None else self.now_ms
        bucket = start - start % interval_ms
        group = [
            c for c in self.closed[-(interval_ms // self.interval_ms) :] if c.open_time >= bucket
        ]
        if self.live is not None:
            group.append(self.live.freeze())
        if not group:
            p = self.price
            empty = Candle(bucket, p, p, p, p, ZERO, bucket + interval_ms - 1, ZERO, 0, ZERO, ZERO)
            return empty
        return merge(bucket, bucket + interval_ms - 1, group)

    def window(self, span_ms: int) -> list[Candle]:
        start = self.now_ms - span_ms
        return [c for c in self.all_candles() if c.close_time >= start]

    def stats(self, span_ms: int = DAY_MS) -> dict:
        rows = self.window(span_ms) or [self.closed[-1]]
        volume = sum((c.volume for c in rows), ZERO)
        quote = sum((c.quote_volume for c in rows), ZERO)
        count = sum(c.trades for c in rows)
        last_id = self.next_trade_id - 1
        return {
            "open": rows[0].open,
            "high": max(c.high for c in rows),
            "low": min(c.low for c in rows),
            "close": self.price,
            "volume": volume,
            "quote_volume": quote,
            "vwap": (quote / volume) if volume else self.price,
            "prev_close": self._prev_close(rows[0]),
            "open_time": self.now_ms - span_ms,
            "close_time": self.now_ms,
            "first_id": last_id - count + 1,
            "last_id": last_id,
            "count": count,
        }

    def _prev_close(self, first: Candle) -> Decimal:
        index = next((i for i, c in enumerate(self.closed) if c.open_time == first.open_time), 0)
        return self.closed[index - 1].close if index > 0 else first.open

    def avg_price(self, minutes: int = 5) -> Decimal:
        """Volume-weighted average over the last `minutes` (what PERCENT_PRICE/avgPrice use)."""
        rows = self.window(minutes * 60_000)
        volume = sum((c.volume for c in rows), ZERO)
        if volume == 0:
            return self.price
        quote = sum((c.quote_volume for c in rows), ZERO)
        return truncate(quote / volume, 8)

    # --- synthetic order book -----------------------------------------------------------
    @property
    def bid(self) -> Decimal:
        return round_down(self.price, self.tick_size)

    @property
    def ask(self) -> Decimal:
        return self.bid + self.tick_size

    def _levels(self) -> tuple[dict, dict]:
        bids = {self.bid - k * self.tick_size: self.level_qty(k) for k in range(BOOK_LEVELS)}
        asks = {self.ask + k * self.tick_size: self.level_qty(k) for k in range(BOOK_LEVELS)}
        return bids, asks

    def level_qty(self, k: int) -> Decimal:
        # A deterministic, slightly uneven ladder so depth consumers see distinct levels.
        return self.lot_unit * D((k * 7) % 5 + 1)

    def depth(self, limit: int) -> tuple[list, list]:
        bids, asks = self._book
        return sorted(bids.items(), reverse=True)[:limit], sorted(asks.items())[:limit]

    def rebuild_book(self) -> BookUpdate | None:
        """Recompute the ladder after a price move; the diff is what @depth streams send."""
        old_bids, old_asks = self._book
        self._book = self._levels()
        bids = _diff(old_bids, self._book[0])
        asks = _diff(old_asks, self._book[1])
        if not bids and not asks:
            return None
        prev = self.book_update_id
        self.book_update_id += len(bids) + len(asks)
        return BookUpdate(prev + 1, self.book_update_id, prev, bids, asks)


def _diff(old: dict, new: dict) -> list[tuple[Decimal, Decimal]]:
    changes = [(p, q) for p, q in new.items() if old.get(p) != q]
    changes += [(p, ZERO) for p in old if p not in new]
    return sorted(changes)
