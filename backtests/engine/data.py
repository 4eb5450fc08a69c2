"""Candles for the engine: Binance kline CSV files read straight from disk, interval lengths,
and a hash that pins the data a run used (so a run can be reproduced, or shown stale)."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ("open_time", "open", "high", "low", "close", "volume")
UNITS = {"s": "s", "m": "min", "h": "h", "d": "D", "w": "W"}
MONTH = pd.Timedelta(days=31)  # Binance's 1M candle: its longest month
MICROSECONDS_FROM = 10**14  # an open_time this large is in microseconds, not milliseconds


class CandleError(ValueError):
    """Candles the engine cannot run on, in words."""


def interval_step(interval: str) -> pd.Timedelta:
    """"1s" -> 1 second ... "1w" -> 7 days, "1M" -> 31 days."""
    match = re.fullmatch(r"(\d+)([smhdwM])", interval or "")
    if not match or int(match[1]) == 0:
        raise CandleError(f"{interval!r} is not a Binance interval such as 1m, 15m, 1h, 4h or 1d")
    count, unit = int(match[1]), match[2]
    return count * MONTH if unit == "M" else pd.Timedelta(count, UNITS[unit])


def load_csv(source: str | Path | bytes) -> pd.DataFrame:
    """A Binance kline CSV (data.binance.vision layout: 11 or 12 columns, an optional header,
    open times in milliseconds or microseconds) as the engine's candle frame: open_time (aware
    UTC) and open, high, low, close, volume as float64, oldest first."""
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    first = raw.split(b"\n", 1)[0]
    header = 0 if first[:1].isalpha() or first.startswith(b'"') else None
    try:
        frame = pd.read_csv(io.BytesIO(raw), header=header, usecols=range(6))
    except (ValueError, pd.errors.ParserError) as error:
        raise CandleError(f"not a kline CSV: {error}") from None
    frame.columns = list(COLUMNS)
    return candles_from(frame)


def candles_from(frame: pd.DataFrame) -> pd.DataFrame:
    """Checked candles: numeric prices, open times strictly increasing, high >= low."""
    if frame.empty:
        raise CandleError("there are no candles")
    candles = pd.DataFrame({"open_time": _times(frame["open_time"])})
    for column in COLUMNS[1:]:
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64")
        if np.isnan(values).any():
            row = int(np.flatnonzero(np.isnan(values))[0])
            raise CandleError(f"candle {row + 1}: {column} is not a number")
        candles[column] = values
    if not candles["open_time"].is_monotonic_increasing or candles["open_time"].duplicated().any():
        raise CandleError("open times must be strictly increasing (sorted, no duplicates)")
    if (candles["high"] < candles["low"]).any():
        row = int(np.flatnonzero(candles["high"] < candles["low"])[0])
        raise CandleError(f"candle {row + 1}: high is below low")
    return candles


def _times(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        times = pd.to_datetime(values, utc=True)
    else:
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().any():
            raise CandleError("open_time must be a number of milliseconds since 1970")
        unit = "us" if numbers.iloc[0] >= MICROSECONDS_FROM else "ms"
        times = pd.to_datetime(numbers.astype("int64"), unit=unit, utc=True)
    return times.reset_index(drop=True)


def infer_interval(candles: pd.DataFrame) -> str:
    """The Binance interval whose length is the candles' usual spacing."""
    if len(candles) < 2:
        raise CandleError("need at least two candles to tell their interval")
    spacing = candles["open_time"].diff().median()
    for interval in ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h",
                     "1d", "3d", "1w"):
        if interval_step(interval) == spacing:
            return interval
    if pd.Timedelta(days=28) <= spacing <= MONTH:
        return "1M"
    raise CandleError(f"candles {spacing} apart match no Binance interval")


def data_hash(candles: pd.DataFrame) -> str:
    """SHA-256 of the candles' times and prices: equal data, equal hash."""
    digest = hashlib.sha256()
    for column in COLUMNS:
        values = candles[column]
        array = values.astype("int64") if column == "open_time" else values
        digest.update(np.ascontiguousarray(array.to_numpy()).tobytes())
    return digest.hexdigest()


FUNDING_TIMES = ("fundingTime", "calc_time", "time")
FUNDING_RATES = ("fundingRate", "last_funding_rate", "rate")


def load_funding(source: str | Path | bytes) -> pd.Series:
    """Funding rates by funding time (aware UTC), oldest first, from what Binance gives:
    the JSON list of ``GET /fapi/v1/fundingRate`` or a CSV with a header naming a time
    column (fundingTime / calc_time, in milliseconds) and a rate column (fundingRate /
    last_funding_rate), as data.binance.vision's fundingRate files."""
    raw = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        frame = (pd.read_json(io.BytesIO(raw), dtype=False) if raw.lstrip()[:1] == b"["
                 else pd.read_csv(io.BytesIO(raw)))
    except (ValueError, pd.errors.ParserError) as error:
        raise CandleError(f"not a funding rate file: {error}") from None
    time = next((c for c in FUNDING_TIMES if c in frame.columns), None)
    rate = next((c for c in FUNDING_RATES if c in frame.columns), None)
    if time is None or rate is None:
        raise CandleError(f"a funding file needs a time column ({', '.join(FUNDING_TIMES)}) "
                          f"and a rate column ({', '.join(FUNDING_RATES)})")
    rates = pd.to_numeric(frame[rate], errors="coerce")
    if rates.isna().any():
        raise CandleError(f"funding row {int(rates.isna().to_numpy().argmax()) + 1}: "
                          f"{rate} is not a number")
    series = pd.Series(rates.to_numpy(dtype="float64"),
                       index=pd.DatetimeIndex(_times(frame[time])), name="funding_rate")
    return series.sort_index()
