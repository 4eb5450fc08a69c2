"""Technical analysis of one symbol's candles: pure pandas/numpy, no Django.

``analyse(candles, ...)`` reads the last closed candle of a frame (open_time aware UTC, then
open, high, low, close, volume as float64, oldest first: the backtest engine's frame) and returns
a :class:`TechnicalAnalysis`: the usual indicators from ``marketdata.indicators``, chart
levels, the trend, a stop loss and take profit for a long entry at the close, and sentences a
trader reads. ``bots.ai`` stores it as a row; ``as_dict`` / ``from_dict`` carry it as JSON.

The technical **score** is the signed trend strength in [-1, 1]: ``+strength`` for a bullish
trend, ``-strength`` for a bearish one, 0 when neutral, where the trend is
``indicators.trend(close, window=50)`` (R^2 of a straight line fitted to the last 50 log
closes; neutral below R^2 0.3). ``technical_scores(candles)`` gives that score for every row
from the rows up to it only, so a strategy can use it vectorised in ``prepare()`` and a
backtest sees the value a live bot would have seen on that candle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from bots.strategies.context import as_decimal
from bots.strategies.wording import number
from marketdata import indicators

__all__ = ["MIN_CANDLES", "TechnicalAnalysis", "analyse", "technical_scores"]

TREND_WINDOW = 50
MIN_TREND_STRENGTH = 0.3  # indicators.trend's default: below it a fitted line explains too little
# The score needs a full trend window; every other indicator is ready well before that.
MIN_CANDLES = TREND_WINDOW
ATR_PERIOD = 14
VOLUME_AVERAGE_CANDLES = 20
RSI_OVERSOLD = 30
RSI_OVERBOUGHT = 70
# Orders go this far below a chart level: a stop under a support only fires once the support
# has broken, and a target under a resistance fills before sellers there turn the price.
LEVEL_MARGIN = Decimal("0.001")
CANDLE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume")

_OPTIONAL_DECIMALS = (
    "rsi", "sma_20", "sma_50", "ema_12", "ema_26", "macd", "macd_signal", "macd_histogram",
    "volume_average", "atr", "stop_loss", "take_profit",
)  # fmt: skip


@dataclass(frozen=True)
class TechnicalAnalysis:
    """One symbol and interval at one point in time: the last closed candle of the frame.

    Prices are Decimal, ``None`` where an indicator has no value yet. ``supports`` and
    ``resistances`` are nearest the close first. ``stop_loss`` and ``take_profit`` are for a
    long entry at ``close`` and are not rounded to the symbol's tick size (the order side does
    that).
    """

    symbol: str
    interval: str
    as_of: datetime  # close time of the last candle, aware UTC
    close: Decimal
    rsi: Decimal | None
    sma_20: Decimal | None
    sma_50: Decimal | None
    ema_12: Decimal | None
    ema_26: Decimal | None
    macd: Decimal | None
    macd_signal: Decimal | None
    macd_histogram: Decimal | None
    volume: Decimal
    volume_average: Decimal | None  # of the last 20 candles
    atr: Decimal | None  # ATR(14)
    fibonacci: dict[str, Decimal]  # retracement ratio ("0".."1") -> price, over the lookback
    supports: list[Decimal]
    resistances: list[Decimal]
    trend: str  # "bullish" | "bearish" | "neutral"
    strength: float  # 0..1
    score: float  # signed strength, -1..1
    stop_loss: Decimal | None
    take_profit: Decimal | None
    reasons: list[str]

    def as_dict(self) -> dict:
        """JSON-ready: Decimals as plain strings, the time in ISO 8601."""
        return {field.name: _plain(getattr(self, field.name)) for field in fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> TechnicalAnalysis:
        """The inverse of ``as_dict``; keys that are not fields (a row id, say) are ignored."""
        values = {field.name: data[field.name] for field in fields(cls)}
        values["as_of"] = datetime.fromisoformat(data["as_of"])
        values["close"], values["volume"] = Decimal(data["close"]), Decimal(data["volume"])
        for name in _OPTIONAL_DECIMALS:
            values[name] = None if data[name] is None else Decimal(data[name])
        values["fibonacci"] = {ratio: Decimal(price) for ratio, price in data["fibonacci"].items()}
        values["supports"] = [Decimal(price) for price in data["supports"]]
        values["resistances"] = [Decimal(price) for price in data["resistances"]]
        values["strength"], values["score"] = float(data["strength"]), float(data["score"])
        values["reasons"] = list(data["reasons"])
        return cls(**values)


def _plain(value):
    if isinstance(value, Decimal):
        return format(value, "f")  # "0.0000001", never "1E-7"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


# --- the analysis ------------------------------------------------------------------------


def analyse(
    candles: pd.DataFrame,
    *,
    symbol: str,
    interval: str,
    step: timedelta,
    atr_stop_multiple: float = 2.0,
    atr_take_multiple: float = 3.0,
    lookback: int = 100,
) -> TechnicalAnalysis:
    """The technical analysis at the last candle of ``candles`` (at least ``MIN_CANDLES``).

    ``step`` is the interval's length: the analysis is as of the last candle's close, its
    open_time + step. Fibonacci levels and support/resistance come from the last ``lookback``
    candles; the trend from the last 50 closes; the other indicators from the whole frame.

    Stop loss and take profit, for a long entry at the close (both None without an ATR):

    * The ATR stop is ``close - atr_stop_multiple * ATR(14)``. If supports lie between it and
      the close and no more than 1 ATR above it, the stop goes 0.1% below the highest of them
      (the first floor a falling price meets): it exits once that floor breaks, yet keeps at
      least ``atr_stop_multiple - 1`` ATR of room. None if the ATR stop is not above zero.
    * The ATR target is ``close + atr_take_multiple * ATR``. If resistances lie between the
      close and it, no more than 1 ATR below it, the target goes 0.1% below the lowest of
      them (the first ceiling a rising price meets), so it fills before that ceiling turns
      the price.
    """
    _check_arguments(candles, step, atr_stop_multiple, atr_take_multiple, lookback)
    close = candles["close"]
    recent = candles.tail(lookback)
    values = _indicator_values(candles)
    last_close = as_decimal(close.iloc[-1])
    supports, resistances = _chart_levels(recent)
    direction = indicators.trend(close, window=TREND_WINDOW, min_strength=MIN_TREND_STRENGTH)
    score = _signed(direction.direction, direction.strength)
    stop_loss, stop_reason = _stop_loss(last_close, values["atr"], supports, atr_stop_multiple)
    take_profit, take_reason = _take_profit(
        last_close, values["atr"], resistances, atr_take_multiple
    )
    fibonacci = indicators.fibonacci_levels(recent["high"], recent["low"])
    reasons = [
        *_indicator_reasons(values),
        _trend_reason(direction, score),
        *(reason for reason in (stop_reason, take_reason) if reason),
    ]
    return TechnicalAnalysis(
        symbol=symbol,
        interval=interval,
        as_of=_close_time(candles, step),
        close=last_close,
        **values,
        fibonacci={ratio: as_decimal(price) for ratio, price in fibonacci.items()},
        supports=supports,
        resistances=resistances,
        trend=direction.direction,
        strength=float(direction.strength),
        score=score,
        stop_loss=stop_loss,
        take_profit=take_profit,
        reasons=reasons,
    )


def _check_arguments(
    candles: pd.DataFrame,
    step: timedelta,
    stop_multiple: float,
    take_multiple: float,
    lookback: int,
) -> None:
    missing = [column for column in CANDLE_COLUMNS if column not in candles.columns]
    if missing:
        raise ValueError(f"the candles have no {', '.join(missing)} column")
    if len(candles) < MIN_CANDLES:
        raise ValueError(
            f"technical analysis needs at least {MIN_CANDLES} closed candles, got {len(candles)}"
        )
    gaps = int(candles["close"].isna().sum())
    if gaps:
        raise ValueError(f"{gaps} of the candles have no close price")
    if step <= timedelta(0):
        raise ValueError("the interval step must be a positive length of time")
    if not (stop_multiple > 0 and take_multiple > 0):
        raise ValueError("the ATR multiples for stop loss and take profit must be above zero")
    if lookback < 1:
        raise ValueError("lookback must be at least one candle")


def _close_time(candles: pd.DataFrame, step: timedelta) -> datetime:
    opened = pd.Timestamp(candles["open_time"].iloc[-1])
    if opened.tzinfo is None:
        raise ValueError("open_time must be timezone-aware (UTC)")
    return (opened.tz_convert("UTC") + step).to_pydatetime()


def _last(series: pd.Series) -> Decimal | None:
    value = float(series.iloc[-1])
    return None if math.isnan(value) else as_decimal(value)


def _indicator_values(candles: pd.DataFrame) -> dict[str, Decimal | None]:
    close, volume = candles["close"], candles["volume"]
    lines = indicators.macd(close)
    average_true_range = indicators.atr(candles["high"], candles["low"], close, ATR_PERIOD)
    return {
        "rsi": _last(indicators.rsi(close)),
        "sma_20": _last(indicators.sma(close, 20)),
        "sma_50": _last(indicators.sma(close, 50)),
        "ema_12": _last(indicators.ema(close, 12)),
        "ema_26": _last(indicators.ema(close, 26)),
        "macd": _last(lines["macd"]),
        "macd_signal": _last(lines["signal"]),
        "macd_histogram": _last(lines["hist"]),
        "volume": as_decimal(volume.iloc[-1]),
        "volume_average": _last(indicators.sma(volume, VOLUME_AVERAGE_CANDLES)),
        "atr": _last(average_true_range),
    }


def _chart_levels(recent: pd.DataFrame) -> tuple[list[Decimal], list[Decimal]]:
    """Support and resistance prices, each nearest the last close first."""
    levels = indicators.support_resistance(recent["high"], recent["low"], recent["close"])
    supports = [as_decimal(level.price) for level in levels if level.kind == "support"]
    resistances = [as_decimal(level.price) for level in levels if level.kind == "resistance"]
    return supports[::-1], resistances  # levels come sorted by price, lowest first


def _signed(direction: str, strength: float) -> float:
    if direction == "bullish":
        return float(strength)
    if direction == "bearish":
        return -float(strength)
    return 0.0


# --- stop loss and take profit -----------------------------------------------------------


def _stop_loss(
    close: Decimal, atr: Decimal | None, supports: list[Decimal], multiple: float
) -> tuple[Decimal | None, str]:
    if atr is None:
        return None, f"No stop loss or take profit: ATR({ATR_PERIOD}) needs more candles."
    times = as_decimal(multiple)
    atr_stop = close - times * atr
    if atr_stop <= 0:
        return None, f"No stop loss: {number(times)} ATR below the close is below zero."
    floors = [price for price in supports if atr_stop <= price < close and price <= atr_stop + atr]
    if not floors:
        return atr_stop, (
            f"Stop loss {number(atr_stop)} is {number(times)} ATR below the close "
            f"(ATR({ATR_PERIOD}) {number(atr)})."
        )
    support = max(floors)
    stop = support * (1 - LEVEL_MARGIN)
    return stop, (
        f"Stop loss {number(stop)} sits 0.1% below support {number(support)}, the first "
        f"support within 1 ATR above the {number(times)}-ATR stop at {number(atr_stop)}."
    )


def _take_profit(
    close: Decimal, atr: Decimal | None, resistances: list[Decimal], multiple: float
) -> tuple[Decimal | None, str]:
    if atr is None:
        return None, ""  # the stop's sentence already says why
    times = as_decimal(multiple)
    atr_target = close + times * atr
    ceilings = [
        price
        for price in resistances
        if close < price * (1 - LEVEL_MARGIN) and atr_target - atr <= price <= atr_target
    ]
    if not ceilings:
        return (
            atr_target,
            f"Take profit {number(atr_target)} is {number(times)} ATR above the close.",
        )
    resistance = min(ceilings)
    target = resistance * (1 - LEVEL_MARGIN)
    return target, (
        f"Take profit {number(target)} sits 0.1% below resistance {number(resistance)}, the "
        f"first resistance within 1 ATR below the {number(times)}-ATR target at "
        f"{number(atr_target)}."
    )


# --- reasons -----------------------------------------------------------------------------


def _indicator_reasons(values: dict[str, Decimal | None]) -> list[str]:
    reasons = [
        _rsi_reason(values["rsi"]),
        _average_reason(values["sma_20"], values["sma_50"]),
        _macd_reason(values["macd"], values["macd_signal"]),
        _volume_reason(values["volume"], values["volume_average"]),
    ]
    return [reason for reason in reasons if reason]


def _rsi_reason(rsi: Decimal | None) -> str:
    if rsi is None:
        return ""
    if rsi < RSI_OVERSOLD:
        return f"RSI {rsi:.1f} is oversold (below {RSI_OVERSOLD})."
    if rsi > RSI_OVERBOUGHT:
        return f"RSI {rsi:.1f} is overbought (above {RSI_OVERBOUGHT})."
    return f"RSI {rsi:.1f} is neutral (between {RSI_OVERSOLD} and {RSI_OVERBOUGHT})."


def _average_reason(sma_20: Decimal | None, sma_50: Decimal | None) -> str:
    if sma_20 is None or sma_50 is None:
        return ""
    side = "above" if sma_20 > sma_50 else "below" if sma_20 < sma_50 else "level with"
    return f"SMA 20 ({number(sma_20)}) is {side} SMA 50 ({number(sma_50)})."


def _macd_reason(macd: Decimal | None, signal: Decimal | None) -> str:
    if macd is None or signal is None:
        return ""
    side = "above" if macd > signal else "below" if macd < signal else "on"
    return f"MACD ({number(macd)}) is {side} its signal line ({number(signal)})."


def _volume_reason(volume: Decimal, average: Decimal | None) -> str:
    if average is None:
        return ""
    if average == 0:
        return f"Nothing traded in the last {VOLUME_AVERAGE_CANDLES} candles."
    ratio = volume / average
    return f"Volume is {ratio:.1f}x its {VOLUME_AVERAGE_CANDLES}-candle average."


def _trend_reason(direction: indicators.Trend, score: float) -> str:
    if direction.direction == "neutral":
        return (
            f"No clear trend over the last {TREND_WINDOW} candles (strength "
            f"{direction.strength:.2f}; a trend needs {MIN_TREND_STRENGTH}), so the technical "
            "score is 0."
        )
    return (
        f"The trend over the last {TREND_WINDOW} candles is {direction.direction} with "
        f"strength {direction.strength:.2f} (how closely closes follow a straight line, 0 to "
        f"1), moving {direction.slope * 100:+.2f}% a candle; technical score {score:+.2f}."
    )


# --- the score for every row -------------------------------------------------------------

# Windows whose prefix sums share one anchor and one restart: float error then grows with
# the block's moves, not the whole history's.
_BLOCK = 256
# A window's sum of squares must exceed this share of its block's running sum of squares to
# be trusted from prefix sums (R^2 then agrees with a direct fit to ~1e-11); the rest, flat
# windows after a big move, are fitted directly.
_TRUST = 1e-4
_EXACT_CHUNK = 8192  # windows fitted directly at a time: keeps the copies in cache


def technical_scores(candles: pd.DataFrame, *, window: int = TREND_WINDOW) -> pd.Series:
    """The technical score (signed trend strength, -1..1) of every row, from rows <= it only.

    With the default window, row i equals ``analyse(candles.iloc[: i + 1]).score`` (to ~1e-12
    on real candles, 1e-10 at worst); rows before ``window`` candles exist are NaN. A window
    with a missing close is NaN (``analyse`` refuses such frames) and one with a close at or
    below zero is 0, as ``indicators.trend`` calls it neutral. Vectorised: ~10 ms per
    100,000 rows.
    """
    if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 3:
        raise ValueError(f"the trend window must be at least 3 candles, got {window!r}")
    close = candles["close"].to_numpy(dtype=np.float64, na_value=np.nan)
    scores = np.full(len(close), np.nan)
    if len(close) >= window:
        scores[window - 1 :] = _window_scores(close, window)
    return pd.Series(scores, index=candles.index, name="technical_score")


def _window_scores(close: np.ndarray, window: int) -> np.ndarray:
    """Score of each full window, indexed by its first bar."""
    missing = np.isnan(close)
    positive = close > 0.0
    # Gaps and non-positive closes take the previous usable log close, so the prefix sums
    # stay finite; the windows holding them are overwritten below.
    log_close = pd.Series(np.log(close, out=np.full(len(close), np.nan), where=positive))
    log_close = log_close.ffill().bfill().fillna(0.0).to_numpy()
    squares, co_sums = _rolling_fit(log_close, window)
    scores = _scores_from_fit(squares, co_sums, window)
    scores[_windows_holding(~positive, window)] = 0.0
    scores[_windows_holding(missing, window)] = np.nan
    return scores


def _windows_holding(flags: np.ndarray, window: int) -> np.ndarray:
    seen = np.concatenate([[0], np.cumsum(flags)])
    return seen[window:] - seen[:-window] > 0


def _scores_from_fit(squares: np.ndarray, co_sums: np.ndarray, window: int) -> np.ndarray:
    """indicators.trend's verdict from each window's sums: R^2 = corr(bar, log close)^2,
    which equals its 1 - residual/total for a least-squares line."""
    bar_squares = window * (window * window - 1) / 12.0  # sum of (bar - mean bar)^2
    with np.errstate(invalid="ignore", divide="ignore"):
        r_squared = np.where(squares > 0.0, co_sums * co_sums / (bar_squares * squares), 0.0)
    r_squared = np.clip(r_squared, 0.0, 1.0)
    trending = (r_squared >= MIN_TREND_STRENGTH) & (co_sums != 0.0)
    # indicators.trend reports its strength rounded to 12 places; so do we.
    return np.where(trending, np.sign(co_sums) * np.round(r_squared, 12), 0.0)


def _rolling_fit(log_close: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """For each window of ``window`` bars: the sum of squares of log close about its mean
    and the sum of (bar - mean bar) * log close, from prefix sums.

    Prefix sums restart each block of windows and measure prices from the block's first bar,
    so a window's sums only see rounding from its own block. Each result depends only on
    bars up to the window's end: a truncated frame gives bit-identical values.
    """
    windows = len(log_close) - window + 1
    block = max(_BLOCK, 2 * window)
    span = block + window - 1  # bars a block of windows covers
    blocks = -(-windows // block)
    padded = np.empty(blocks * block + window - 1)
    padded[: len(log_close)] = log_close
    padded[len(log_close) :] = log_close[-1]
    rows = sliding_window_view(padded, span)[::block]
    moves = rows - rows[:, :1]  # exact zeros on a flat stretch
    bars = np.arange(span) - (span - 1) / 2.0  # centred: halves the weighted sums' size
    level, _ = _window_sums(moves, window, block)
    weighted, _ = _window_sums(moves * bars, window, block)
    energy, running_energy = _window_sums(moves * moves, window, block)
    mean_bar = np.arange(block) - (span - window) / 2.0  # of each window's centred bars
    co_sums = (weighted - mean_bar * level).ravel()[:windows]
    squares = (energy - level * level / window).ravel()[:windows]
    doubtful = np.flatnonzero(squares <= _TRUST * running_energy.ravel()[:windows])
    if doubtful.size:
        squares[doubtful], co_sums[doubtful] = _direct_fit(log_close, window, doubtful)
    return squares, co_sums


def _window_sums(values: np.ndarray, window: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Per block row: the sums over each window, and the prefix sum at each window's end
    (the size of the numbers the window's sum was taken from)."""
    prefix = np.zeros((values.shape[0], values.shape[1] + 1))
    np.cumsum(values, axis=1, out=prefix[:, 1:])
    ends = prefix[:, window : window + block]
    return ends - prefix[:, :block], ends


def _direct_fit(
    log_close: np.ndarray, window: int, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The same two sums fitted window by window (two passes, no cancellation)."""
    all_windows = sliding_window_view(log_close, window)
    bars = np.arange(window) - (window - 1) / 2.0
    squares, co_sums = np.empty(len(starts)), np.empty(len(starts))
    for first in range(0, len(starts), _EXACT_CHUNK):
        chunk = slice(first, first + _EXACT_CHUNK)
        values = all_windows[starts[chunk]]
        values = values - values[:, :1]  # a flat window becomes exact zeros
        values -= values.mean(axis=1, keepdims=True)
        # Row-wise sums, not a matrix product: BLAS may add a row in an order that depends
        # on its neighbours, and the result must not depend on the rows after it.
        squares[chunk] = (values * values).sum(axis=1)
        co_sums[chunk] = (values * bars).sum(axis=1)
    return squares, co_sums
