"""Candle frames in the strategy format: real Binance klines from shared/data, or tiny
synthetic series for hand-checked signals.

The shared directory is found next to the repository, or wherever SHARED_DATA_DIR points.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

SHARED = Path(os.environ.get("SHARED_DATA_DIR", Path(__file__).resolve().parents[3] / "shared"))
KLINES = SHARED / "data" / "klines"
COLUMNS = ["open_time", "open", "high", "low", "close", "volume"]
PRICES = COLUMNS[1:]
# Binance's spot dumps switched open_time to microseconds in 2025; milliseconds stay below.
MICROSECONDS_ABOVE = 10**14


def load_klines(name: str) -> pd.DataFrame:
    """A Binance kline CSV (header row optional) as open_time (aware UTC) + OHLCV float64."""
    path = KLINES / name
    has_header = not path.open().readline().split(",")[0].strip().isdigit()
    frame = pd.read_csv(path, header=0 if has_header else None, usecols=range(6))
    frame.columns = COLUMNS
    unit = "us" if frame["open_time"].iloc[0] > MICROSECONDS_ABOVE else "ms"
    frame["open_time"] = pd.to_datetime(frame["open_time"], unit=unit, utc=True)
    frame[PRICES] = frame[PRICES].astype("float64")
    return frame.reset_index(drop=True)


def candles_from(
    closes: list[float],
    highs: list[float] | None = None,
    lows: list[float] | None = None,
    opens: list[float] | None = None,
) -> pd.DataFrame:
    """Hourly candles from closes; each opens at the previous close unless told otherwise,
    and high/low default to the larger/smaller of open and close."""
    close = pd.Series(closes, dtype="float64")
    open_ = pd.Series(opens, dtype="float64") if opens else close.shift(1).fillna(close.iloc[0])
    body = pd.concat([open_, close], axis=1)
    high = pd.Series(highs, dtype="float64") if highs else body.max(axis=1)
    low = pd.Series(lows, dtype="float64") if lows else body.min(axis=1)
    open_time = pd.date_range("2024-01-01", periods=len(closes), freq="h", tz="UTC")
    return pd.DataFrame({
        "open_time": open_time, "open": open_, "high": high, "low": low, "close": close,
        "volume": 1.0,
    })
