"""Candles written out by hand, and a strategy that does what they say: a test reads as the
story of a few candles."""

from datetime import UTC, datetime, timedelta

import pandas as pd

from bots.strategies import Strategy, with_signals

START = datetime(2026, 3, 2, tzinfo=UTC)
ENTER, EXIT = 1, 2


class Scripted(Strategy):
    """Enters on candles whose ``volume`` is 1 and exits on those whose volume is 2: the
    signal is written into the candles."""

    name = "scripted"

    def warmup(self) -> int:
        return 1

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        code = candles["volume"]
        return with_signals(candles, {}, enter_long=code == ENTER, exit_long=code == EXIT)


def candles(*rows, step=timedelta(minutes=1), start=START) -> pd.DataFrame:
    """Rows of (open, high, low, close) or (open, high, low, close, signal)."""
    frame = pd.DataFrame([(*row, 0)[:5] for row in rows],
                         columns=["open", "high", "low", "close", "volume"], dtype="float64")
    frame.insert(0, "open_time", pd.date_range(start, periods=len(rows), freq=step, tz=UTC))
    return frame


def flat(price, signal=0):
    """A candle that does not move."""
    return (price, price, price, price, signal)
