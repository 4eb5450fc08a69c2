"""Candle series and the time arithmetic of their intervals.

Inside this package times are integer microseconds since the epoch: data.binance.vision
switched its spot dumps to microseconds in 2025, and both databases keep microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from django.db.models import Max, Min

from marketdata.models import INTERVALS, Kline

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE_US, HOUR_US, DAY_US = 60_000_000, 3_600_000_000, 86_400_000_000
STEP_US = {"1m": MINUTE_US, "3m": 3 * MINUTE_US, "5m": 5 * MINUTE_US, "15m": 15 * MINUTE_US,
           "30m": 30 * MINUTE_US, "1h": HOUR_US, "2h": 2 * HOUR_US, "4h": 4 * HOUR_US,
           "6h": 6 * HOUR_US, "8h": 8 * HOUR_US, "12h": 12 * HOUR_US, "1d": DAY_US,
           "3d": 3 * DAY_US, "1w": 7 * DAY_US, "1M": 31 * DAY_US}  # 1M: its longest month
# The epoch fell on a Thursday; Binance's weekly candles open on Mondays.
ALIGNMENT_OFFSET_US = {"1w": 4 * DAY_US}
# An open_time this large is in microseconds (in milliseconds it would be the year 5138).
MICROSECONDS_FROM = 10**14
LATEST_US = (datetime(9000, 1, 1, tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
MARKETS = ("spot", "futures")


def _micros(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone: pass an aware (UTC) datetime")
    return (moment - EPOCH) // timedelta(microseconds=1)


def _datetime(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(micros))


def _when(micros: int) -> str:
    return f"{_datetime(micros):%Y-%m-%d %H:%M}" if 0 <= micros < LATEST_US else "out of range"


@dataclass(frozen=True)
class Interval:
    """Candle arithmetic on microsecond timestamps; "1M" candles follow the calendar."""

    name: str

    def __post_init__(self):
        if self.name not in INTERVALS:
            raise ValueError(f"unknown interval {self.name!r}: use one of {', '.join(INTERVALS)}")

    def __str__(self):
        return self.name

    @property
    def monthly(self) -> bool:
        return self.name == "1M"

    def floors(self, times: np.ndarray) -> np.ndarray:
        """The open time of the candle each time falls in."""
        if self.monthly:
            return _months(times).astype("datetime64[us]").astype(np.int64)
        offset = ALIGNMENT_OFFSET_US.get(self.name, 0)
        return times - (times - offset) % STEP_US[self.name]

    def next_opens(self, opens: np.ndarray) -> np.ndarray:
        if self.monthly:
            return (_months(opens) + 1).astype("datetime64[us]").astype(np.int64)
        return opens + STEP_US[self.name]

    def aligned(self, opens: np.ndarray) -> np.ndarray:
        # Where Binance starts counting 3d candles is not documented: check whole days only.
        if self.name == "3d":
            return opens % DAY_US == 0
        return self.floors(opens) == opens

    def floor(self, micros: int) -> int:
        return int(self.floors(np.array([micros], dtype=np.int64))[0])

    def next_open(self, micros: int) -> int:
        return int(self.next_opens(np.array([micros], dtype=np.int64))[0])

    def previous_open(self, micros: int) -> int:
        """The open time of the candle before the one opening at `micros`."""
        return self.floor(micros - 1) if self.monthly else micros - STEP_US[self.name]

    def ceil(self, micros: int) -> int:
        floor = self.floor(micros)
        return floor if floor == micros else self.next_open(floor)

    def count(self, first: int, last: int) -> int:
        """How many candles open from `first` to `last`, both included."""
        if self.monthly:
            months = _months(np.array([first, last], dtype=np.int64)).astype(np.int64)
            return int(months[1] - months[0]) + 1
        return (last - first) // STEP_US[self.name] + 1


def _months(times: np.ndarray) -> np.ndarray:
    return times.astype("datetime64[us]").astype("datetime64[M]")


@dataclass(frozen=True)
class Series:
    """One candle series: what `kline_unique_candle` keys on besides open_time."""

    market: str
    symbol: str
    interval: Interval

    def candles(self):
        return Kline.objects.filter(market=self.market, symbol=self.symbol,
                                    interval=self.interval.name)

    def bounds(self, **window) -> tuple[int | None, int | None]:
        found = self.candles().filter(**window).aggregate(first=Min("open_time"),
                                                         last=Max("open_time"))
        return tuple(None if t is None else _micros(t) for t in (found["first"], found["last"]))


def _series(*, market: str, symbol: str, interval: str) -> Series:
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}: use spot or futures")
    symbol = symbol.strip().upper()
    if not symbol or len(symbol) > 30 or "," in symbol:
        raise ValueError(f"{symbol!r} is not a Binance symbol")
    return Series(market, symbol, Interval(interval))
