"""Kline CSV loading and interval arithmetic.

CSV header (shared/data/klines): open_time,open,high,low,close,volume,close_time,
quote_volume,trades,taker_buy_base,taker_buy_quote - the first 11 positions of a
GET /api/v3/klines row, timestamps in milliseconds.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path

from .decimals import ZERO, D

INTERVAL_MS = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}


@dataclass(frozen=True)
class Candle:
    open_time: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time: int
    quote_volume: Decimal
    trades: int
    taker_buy_base: Decimal
    taker_buy_quote: Decimal

    def with_close_time(self, close_time: int) -> Candle:
        return replace(self, close_time=close_time)


def _optional_decimal(text: str, fallback: Decimal) -> Decimal:
    return D(text) if text else fallback


def _row_to_candle(row: dict[str, str]) -> Candle:
    open_, high, low, close = (D(row[k]) for k in ("open", "high", "low", "close"))
    volume = D(row["volume"])
    # Files converted from OHLCV-only sources lack quote volume: estimate it from the
    # typical price so VWAP/avgPrice stay meaningful.
    typical = (high + low + close) / 3
    quote = _optional_decimal(row.get("quote_volume", ""), (typical * volume).quantize(D("1e-8")))
    return Candle(
        open_time=int(row["open_time"]),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        close_time=int(row["close_time"]),
        quote_volume=quote,
        trades=int(row["trades"]) if row.get("trades") else 4,
        taker_buy_base=_optional_decimal(row.get("taker_buy_base", ""), ZERO),
        taker_buy_quote=_optional_decimal(row.get("taker_buy_quote", ""), ZERO),
    )


def load_csv(path: Path) -> list[Candle]:
    with path.open(newline="", encoding="utf-8") as handle:
        candles = [_row_to_candle(row) for row in csv.DictReader(handle)]
    if not candles:
        raise ValueError(f"{path}: no klines")
    return candles


def rebased(candles: list[Candle], start_index: int, now_ms: int) -> list[Candle]:
    """The same candles moved in time so that the first one replayed (at `start_index`) opens
    in the current interval: a hand-run server then looks like a live market (--realtime)."""
    step = base_interval_ms(candles)
    first = candles[min(start_index, len(candles) - 1)]
    offset = (now_ms - now_ms % step) - first.open_time
    return [replace(c, open_time=c.open_time + offset, close_time=c.close_time + offset)
            for c in candles]


def base_interval_ms(candles: list[Candle]) -> int:
    """The file's interval: close_time - open_time + 1 of its first candle."""
    return candles[0].close_time - candles[0].open_time + 1


def interval_name(ms: int) -> str:
    for name, value in INTERVAL_MS.items():
        if value == ms:
            return name
    raise ValueError(f"unsupported kline interval of {ms} ms")


def symbol_from_path(path: Path) -> str:
    """BTCUSDT-1m-octobot-spot.csv -> BTCUSDT (prefix before the first '-')."""
    return path.name.split("-", 1)[0].upper()


def parse_klines_arg(spec: str, base: Path | None = None) -> tuple[str, Path]:
    """Parse a --klines value: 'SYMBOL=path' or a path whose name starts with the symbol.

    Bare names are looked up in the shared klines directory when `base` is given.
    """
    if "=" in spec:
        symbol, _, raw = spec.partition("=")
        path = Path(raw)
    else:
        path = Path(spec)
        symbol = ""
    if not path.exists() and base is not None and (base / path.name).exists():
        path = base / path.name
    return (symbol.upper() or symbol_from_path(path)), path


def aggregate(candles: list[Candle], interval_ms: int) -> list[Candle]:
    """Roll base candles up into `interval_ms` buckets (aligned on the epoch, like Binance)."""
    buckets: dict[int, list[Candle]] = {}
    for candle in candles:
        buckets.setdefault(candle.open_time - candle.open_time % interval_ms, []).append(candle)
    return [merge(start, start + interval_ms - 1, group) for start, group in buckets.items()]


def merge(open_time: int, close_time: int, group: list[Candle]) -> Candle:
    return Candle(
        open_time=open_time,
        open=group[0].open,
        high=max(c.high for c in group),
        low=min(c.low for c in group),
        close=group[-1].close,
        volume=sum((c.volume for c in group), ZERO),
        close_time=close_time,
        quote_volume=sum((c.quote_volume for c in group), ZERO),
        trades=sum(c.trades for c in group),
        taker_buy_base=sum((c.taker_buy_base for c in group), ZERO),
        taker_buy_quote=sum((c.taker_buy_quote for c in group), ZERO),
    )
