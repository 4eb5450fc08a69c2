"""Technical indicators over pandas Series: pure numpy/pandas, no Django.

Every function takes pandas Series (float-convertible; Decimal objects are accepted) and returns
results aligned to the input index, NaN during the warm-up. The numeric indicators reproduce
TA-Lib (C library 0.8.1, as bundled by the ta-lib 0.8.2 wheel) with its default settings,
including its seeding conventions:

* EMA is seeded with the SMA of its first ``n`` values (first value at index ``n - 1``).
* RSI and ATR use Wilder smoothing (alpha ``1/n``) seeded with simple averages.
* MACD seeds the fast EMA on the same bar as the slow one (``talib.MACD`` does this), and all
  three columns start once the signal line exists (index ``slow + signal - 2``).
* Bollinger bands use the population standard deviation (ddof=0).
* Stochastic is ``talib.STOCH`` with both smoothings SMA: ``%K`` is the ``d``-bar SMA of the raw
  ``k``-bar stochastic and ``%D`` the ``d``-bar SMA of ``%K``; both start at ``k + 2d - 3``.

One deliberate difference from TA-Lib: RSI is 50 (neutral) while the series has not moved at
all since its start, where TA-Lib reports 0, which a strategy would read as "deeply oversold".
(Wilder averages never decay back to exactly zero, so this only happens on a series that has
been flat from its first bar, e.g. a new listing.) Stochastic ``%K`` keeps TA-Lib's 0 for a
zero-width high-low window: the close does sit at the lowest low, and real 1m candles of
illiquid pairs have such windows.

Other notes:

* Leading NaNs are skipped as TA-Lib's Python wrapper does. A NaN inside the data blanks the
  rolling windows that contain it (SMA, Bollinger); recursive indicators (EMA, RSI, ATR, MACD)
  stay NaN from there on, as in TA-Lib.
* Agreement with TA-Lib on real candles is ~1e-13 relative or better. MACD and the histogram
  are differences of two EMAs, so near their zero crossings only the absolute error (~1e-15 of
  the price) is meaningful; the same holds for oscillators sitting at exactly 0.

Speed: rolling sums restart their cumulative sum every block of bars (so float drift stays
bounded on million-row series) and the EMA/Wilder recursions are solved block-wise in closed
form, so nothing loops in Python per bar. ``bench/indicators_bench.py`` measures it: the usual
set (SMA 20/50, EMA 12/26, RSI, MACD, Bollinger, ATR) over a million candles takes ~0.12 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "Level",
    "Trend",
    "atr",
    "bollinger",
    "donchian",
    "ema",
    "fibonacci_levels",
    "macd",
    "obv",
    "rsi",
    "sma",
    "stochastic",
    "support_resistance",
    "trend",
    "vwap",
]

FIBONACCI_RATIOS = (0.0, 0.236, 0.382, 0.5, 0.618, 0.786, 1.0)

# Windows whose cumulative sums share one restart. Small enough that the running total of a
# million prices never dwarfs one window's sum, large enough that the restarts cost nothing.
_ROLLING_BLOCK = 512
# A window's variance must exceed its rounding bound (eps * prefix sums / n) this many times
# over to be trusted; 2 * eps * 1e10 keeps the standard deviation good to ~1e-10 relative.
_CANCELLATION_GUARD = 2 * np.finfo(np.float64).eps * 1e10
_EXACT_CHUNK = 65_536
# The closed-form EMA scales values by (1 - alpha) ** -j inside a block; keep that growth below
# 1e100 so even large volumes never overflow float64.
_MAX_LOG_GROWTH = math.log(1e100)
_MAX_EMA_BLOCK = 1024


# --- input/output plumbing ---------------------------------------------------------------


def _as_float_array(series: pd.Series) -> np.ndarray:
    if isinstance(series, pd.Series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(series, dtype=np.float64)


def _as_series(values: np.ndarray, like: pd.Series, name: str) -> pd.Series:
    index = like.index if isinstance(like, pd.Series) else None
    return pd.Series(values, index=index, name=name, copy=False)


def _check_period(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _first_valid(*arrays: np.ndarray) -> int:
    """Index of the first bar where every input is present (TA-Lib's wrapper skips the rest)."""
    length = len(arrays[0])
    if any(len(values) != length for values in arrays):
        raise ValueError("all input series must have the same length")
    if length == 0 or not any(np.isnan(values[0]) for values in arrays):
        return 0
    missing = np.logical_or.reduce([np.isnan(values) for values in arrays])
    present = np.flatnonzero(~missing)
    return int(present[0]) if present.size else length


def _nan_array(length: int) -> np.ndarray:
    return np.full(length, np.nan)


# --- numeric kernels ---------------------------------------------------------------------


def _block_size(n: int) -> int:
    return max(_ROLLING_BLOCK, 2 * n)


def _padded_length(length: int, n: int) -> int:
    """Room for whole blocks: rolling kernels write their output a block at a time."""
    block = _block_size(n)
    return -(-length // block) * block


def _forward_filled(x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Missing bars replaced by the nearest earlier present bar (leading ones by the first
    present bar), plus the mask. The filler only keeps the sums finite: windows containing
    a gap are blanked afterwards."""
    missing = np.isnan(x)
    if not missing.any():
        return x, None
    first_present = int(np.argmax(~missing))
    source = np.where(missing, first_present, np.arange(len(x)))
    return x[np.maximum.accumulate(source)], missing


def _blank_gapped_windows(missing: np.ndarray, n: int, *outputs: np.ndarray) -> None:
    seen = np.concatenate([[0], np.cumsum(missing)])
    gapped = np.flatnonzero(seen[n:] - seen[:-n] > 0) + n - 1
    for output in outputs:
        output[gapped] = np.nan


def _split_window_sums(prefix: np.ndarray, n: int, out: np.ndarray) -> tuple[np.ndarray, ...]:
    """Window sums from per-block prefix sums (blocks x block bars).

    Windows inside one block go straight into ``out`` (same shape, indexed by window end).
    For the n-1 windows at the start of each later block, which straddle two blocks, returns
    their part in the previous block and their part in this one, each (blocks-1, n-1).
    """
    block = prefix.shape[1]
    out[:, n - 1] = prefix[:, n - 1]
    np.subtract(prefix[:, n:], prefix[:, : block - n], out=out[:, n:])
    return prefix[:-1, block - 1 :] - prefix[:-1, block - n : block - 1], prefix[1:, : n - 1]


def _carried(n: int) -> np.ndarray:
    """How many bars each straddling window takes from the previous block."""
    return np.arange(n - 1, 0, -1, dtype=np.float64)


def _anchored_rows(x: np.ndarray, blocks: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """x, padded with its last bar, as rows of one block each, measured from the row's first
    bar; returns the rows and the anchors (blocks x 1)."""
    rows = np.empty(blocks * block)
    rows[: len(x)] = x
    rows[len(x) :] = x[-1]
    rows = rows.reshape(blocks, block)
    anchor = rows[:, :1].copy()
    rows -= anchor
    return rows, anchor


def _window_sums_into(rows: np.ndarray, n: int, shift: np.ndarray, out: np.ndarray):
    """Per-window sums of anchored values (rows become prefix sums); returns the straddling
    windows' parts in the previous block, which the squares need."""
    np.cumsum(rows, axis=1, out=rows)
    earlier, later = _split_window_sums(rows, n, out)
    # Bars taken from the previous block were measured from its anchor; re-measure them.
    out[1:, : n - 1] = earlier + _carried(n) * shift + later
    return earlier


def _window_square_sums_into(
    squares: np.ndarray, n: int, shift: np.ndarray, earlier: np.ndarray, out: np.ndarray
) -> None:
    np.cumsum(squares, axis=1, out=squares)
    earlier_sq, later_sq = _split_window_sums(squares, n, out)
    # sum((y + shift)^2) for the previous block's bars y, re-measured from this block's anchor.
    out[1:, : n - 1] = earlier_sq + 2.0 * shift * earlier + _carried(n) * shift**2
    out[1:, : n - 1] += later_sq


def _exact_variance(x: np.ndarray, n: int, ends: np.ndarray) -> np.ndarray:
    """Two-pass population variance of the windows ending at ``ends``, a chunk at a time."""
    out = np.empty(len(ends))
    offsets = np.arange(1 - n, 1)
    for low in range(0, len(ends), _EXACT_CHUNK):
        chunk = ends[low : low + _EXACT_CHUNK]
        out[low : low + len(chunk)] = x[chunk[:, None] + offsets].var(axis=1)
    return out


def _recompute_unreliable(
    variance: np.ndarray, block_totals: np.ndarray, x: np.ndarray, n: int
) -> None:
    """E[y^2] - E[y]^2 is only as good as eps * (the prefix sums it came from) / n. Windows whose
    variance is not well clear of that (nearly flat stretches after a move) are recomputed
    directly, so a flat window is exactly 0 as in TA-Lib. Rare on real candles."""
    noise = block_totals.copy()
    noise[1:] += block_totals[:-1]
    noise *= _CANCELLATION_GUARD / n
    ends = np.flatnonzero(variance < noise[:, None])
    ends = ends[(ends >= n - 1) & (ends < len(x))]
    if ends.size:
        variance.flat[ends] = _exact_variance(x, n, ends)


def _rolling_moments(
    x: np.ndarray, n: int, mean_out: np.ndarray, std_out: np.ndarray | None = None
) -> None:
    """Mean (and population std) of every n-bar window, written at the window's last bar.

    Cumulative sums restart every block and are measured from the block's first bar, so
    rounding stays that of one short block however long the series (a single cumulative sum
    over a million prices drifts, and E[x^2] - E[x]^2 on raw prices cancels catastrophically).
    Buffers are ``_padded_length(len(x), n)`` long and contiguous; bars before n-1 and
    windows containing a missing bar come out NaN.
    """
    outputs = [out for out in (mean_out, std_out) if out is not None]
    _require_contiguous(*outputs)
    filled, missing = _forward_filled(x)
    block = _block_size(n)
    blocks = len(mean_out) // block
    rows, anchor = _anchored_rows(filled, blocks, block)
    squares = np.square(rows) if std_out is not None else None
    shift = anchor[:-1] - anchor[1:]
    means = mean_out.reshape(blocks, block)
    earlier = _window_sums_into(rows, n, shift, means)
    means /= n
    if std_out is not None and squares is not None:
        variance = std_out.reshape(blocks, block)
        _window_square_sums_into(squares, n, shift, earlier, variance)
        variance /= n
        variance -= np.square(means)
        _recompute_unreliable(variance, squares[:, -1], filled, n)
        np.sqrt(np.maximum(variance, 0.0, out=variance), out=variance)
    means += anchor
    for out in outputs:
        out[: n - 1] = np.nan
    if missing is not None:
        _blank_gapped_windows(missing, n, *outputs)


def _require_contiguous(*outputs: np.ndarray) -> None:
    # Kernels write through reshaped views; reshaping a strided array would silently copy
    # and the results would be lost.
    if not all(out.flags.c_contiguous for out in outputs):
        raise ValueError("output buffers must be contiguous")


def _smooth(x: np.ndarray, alpha: float, previous: float, out: np.ndarray) -> None:
    """out[t] = (1 - alpha) * out[t-1] + alpha * x[t], starting from out[-1] = previous.

    Within a block of bars the recursion has a closed form, a scaled cumulative sum, so numpy
    does the work; only the carry between blocks (about a thousand scalars per million bars)
    runs in Python.
    """
    _require_contiguous(out)
    decay = 1.0 - alpha
    if decay == 0.0 or len(x) == 0:
        out[:] = x
        return
    block = max(1, min(_MAX_EMA_BLOCK, int(_MAX_LOG_GROWTH / -math.log(decay))))
    steps = np.arange(block, dtype=np.float64)
    growth, shrink = alpha * decay**-steps, decay**steps
    full = len(x) - len(x) % block
    rows = out[:full].reshape(-1, block)
    np.multiply(np.ascontiguousarray(x[:full]).reshape(-1, block), growth, out=rows)
    np.cumsum(rows, axis=1, out=rows)
    # Entering block b with value `carry` adds carry * decay**(j+1) = shrink[j] * carry * decay
    # to bar j, so the carry folds into the row before the final scaling.
    offsets = np.empty(len(rows))
    carry, block_decay = previous, decay**block
    for index, own_end in enumerate((rows[:, -1] * shrink[-1]).tolist()):
        offsets[index] = carry * decay
        carry = own_end + carry * block_decay
    rows += offsets[:, None]
    rows *= shrink
    rest = len(x) - full
    if rest:
        tail = np.cumsum(x[full:] * growth[:rest])
        tail += carry * decay
        tail *= shrink[:rest]
        out[full:] = tail


def _seeded_average(x: np.ndarray, n: int, alpha: float, out: np.ndarray) -> np.ndarray:
    """TA-Lib style moving average into ``out``: NaN, then the SMA of the first n values at
    index n-1, then smoothed with ``alpha``."""
    if len(x) < n:
        out.fill(np.nan)
        return out
    out[: n - 1] = np.nan
    out[n - 1] = x[:n].mean()
    _smooth(x[n:], alpha, out[n - 1], out[n:])
    return out


def _ema_alpha(n: int) -> float:
    return 2.0 / (n + 1)


def _sma_values(x: np.ndarray, n: int) -> np.ndarray:
    out = np.empty(_padded_length(len(x), n))
    if len(x) < n:
        out.fill(np.nan)
    else:
        _rolling_moments(x, n, out)
    return out[: len(x)]


def _rolling_extreme(x: np.ndarray, n: int, ufunc: np.ufunc) -> np.ndarray:
    """Rolling max/min in O(len) (van Herk/Gil-Werman): prefix and suffix extremes per block."""
    out = _nan_array(len(x))
    if len(x) < n:
        return out
    blocks = -(-len(x) // n)
    padded = np.full(blocks * n, x[-1])
    padded[: len(x)] = x
    rows = padded.reshape(blocks, n)
    prefix = ufunc.accumulate(rows, axis=1).ravel()
    suffix = ufunc.accumulate(rows[:, ::-1], axis=1)[:, ::-1].ravel()
    out[n - 1 :] = ufunc(suffix[: len(x) - n + 1], prefix[n - 1 : len(x)])
    return out


# --- public indicators -------------------------------------------------------------------


def _frame(values: np.ndarray, columns: list[str], like: pd.Series) -> pd.DataFrame:
    # ``values`` is (columns x bars) and handed over without a copy: pandas would otherwise
    # copy it into its own layout, which costs as much as computing the indicator.
    index = like.index if isinstance(like, pd.Series) else None
    return pd.DataFrame(values.T, index=index, columns=columns, copy=False)


def sma(close: pd.Series, n: int) -> pd.Series:
    """Simple moving average of the last ``n`` closes (TA-Lib ``SMA``)."""
    n = _check_period(n, "n")
    x = _as_float_array(close)
    start = _first_valid(x)
    out = np.full(start + _padded_length(len(x) - start, n), np.nan)
    if len(x) - start >= n:
        _rolling_moments(x[start:], n, out[start:])
    return _as_series(out[: len(x)], close, f"sma_{n}")


def ema(close: pd.Series, n: int) -> pd.Series:
    """Exponential moving average, alpha 2/(n+1), seeded with the SMA of the first n closes."""
    n = _check_period(n, "n")
    x = _as_float_array(close)
    out = np.empty(len(x))
    start = _first_valid(x)
    out[:start] = np.nan
    _seeded_average(x[start:], n, _ema_alpha(n), out[start:])
    return _as_series(out, close, f"ema_{n}")


def _rsi_into(x: np.ndarray, n: int, out: np.ndarray) -> None:
    if len(x) <= n:
        out.fill(np.nan)
        return
    change = np.diff(x)
    up = np.maximum(change, 0.0)
    out[0] = np.nan
    gain = _seeded_average(up, n, 1.0 / n, out[1:])
    # up - change == max(-change, 0) exactly; the buffer becomes gain + loss afterwards.
    total = _seeded_average(np.subtract(up, change, out=change), n, 1.0 / n, up)
    total += gain
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(gain, total, out=gain)
    gain *= 100.0
    gain[total == 0.0] = 50.0  # never moved since the start: neutral, where TA-Lib says 0


def rsi(close: pd.Series, n: int = 14) -> pd.Series:
    """Wilder's RSI; the first value is at index n (TA-Lib ``RSI``)."""
    n = _check_period(n, "n")
    x = _as_float_array(close)
    out = np.empty(len(x))
    start = _first_valid(x)
    out[:start] = np.nan
    _rsi_into(x[start:], n, out[start:])
    return _as_series(out, close, f"rsi_{n}")


def _macd_into(x: np.ndarray, fast: int, slow: int, signal: int, out: np.ndarray) -> None:
    first = slow + signal - 2
    if len(x) <= first:
        out.fill(np.nan)
        return
    line, signal_line, hist = out
    # TA-Lib starts the fast EMA on the slow EMA's first bar, seeded with the SMA of the last
    # `fast` closes there, instead of letting it run from bar fast-1.
    _seeded_average(x[slow - fast :], fast, _ema_alpha(fast), line[slow - fast :])
    slow_line = _seeded_average(x, slow, _ema_alpha(slow), hist)
    line[slow - 1 :] -= slow_line[slow - 1 :]
    _seeded_average(line[slow - 1 :], signal, _ema_alpha(signal), signal_line[slow - 1 :])
    np.subtract(line, signal_line, out=hist)
    # TA-Lib publishes nothing until the signal line exists, the MACD line included.
    out[:, :first] = np.nan


def macd(close: pd.Series, fast: int = 12, slow: int = 26, signal: int = 9) -> pd.DataFrame:
    """MACD line, signal line and histogram, exactly as ``talib.MACD``."""
    fast, slow = _check_period(fast, "fast"), _check_period(slow, "slow")
    signal = _check_period(signal, "signal")
    if fast >= slow:
        raise ValueError(f"fast ({fast}) must be shorter than slow ({slow})")
    x = _as_float_array(close)
    out = np.empty((3, len(x)))
    start = _first_valid(x)
    out[:, :start] = np.nan
    _macd_into(x[start:], fast, slow, signal, out[:, start:])
    return _frame(out, ["macd", "signal", "hist"], close)


def bollinger(close: pd.Series, n: int = 20, k: float = 2.0) -> pd.DataFrame:
    """SMA middle band and bands ``k`` population standard deviations away (``talib.BBANDS``)."""
    n = _check_period(n, "n")
    x = _as_float_array(close)
    start = _first_valid(x)
    out = np.full((3, start + _padded_length(len(x) - start, n)), np.nan)
    if len(x) - start >= n:
        middle, upper, lower = out[:, start:]
        _rolling_moments(x[start:], n, middle, std_out=upper)
        upper *= k
        np.subtract(middle, upper, out=lower)
        upper += middle
    return _frame(out[:, : len(x)], ["middle", "upper", "lower"], close)


def donchian(high: pd.Series, low: pd.Series, n: int = 20) -> pd.DataFrame:
    """Donchian channel: highest high (``upper``) and lowest low (``lower``) of the last ``n``
    bars, the current one included, and their mean (``middle``); first value at index n-1.

    Upper and lower equal ``talib.MAX(high, n)`` and ``talib.MIN(low, n)`` (TA-Lib has no
    Donchian function). A breakout rule compares the close with the channel of the bars
    before it: ``close > upper.shift(1)``.
    """
    n = _check_period(n, "n")
    h, lo = _as_float_array(high), _as_float_array(low)
    out = np.full((3, len(h)), np.nan)
    start = _first_valid(h, lo)
    upper, middle, lower = out
    # A NaN inside the data propagates through the block extremes to exactly the windows
    # that contain it, as the rolling averages above blank theirs.
    upper[start:] = _rolling_extreme(h[start:], n, np.maximum)
    lower[start:] = _rolling_extreme(lo[start:], n, np.minimum)
    np.add(upper, lower, out=middle)
    middle /= 2.0
    return _frame(out, ["upper", "middle", "lower"], high)


def _true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """True range from bar 1 on (bar 0 has no previous close)."""
    previous = close[:-1]
    widest = np.subtract(high[1:], low[1:])
    gap = np.abs(np.subtract(high[1:], previous))
    np.maximum(widest, gap, out=widest)
    np.abs(np.subtract(low[1:], previous, out=gap), out=gap)
    return np.maximum(widest, gap, out=widest)


def atr(high: pd.Series, low: pd.Series, close: pd.Series, n: int = 14) -> pd.Series:
    """Wilder's average true range; the first value (index n) is the mean of n true ranges."""
    n = _check_period(n, "n")
    h, lo, c = _as_float_array(high), _as_float_array(low), _as_float_array(close)
    out = _nan_array(len(c))
    start = _first_valid(h, lo, c)
    if len(c) - start > n:
        true_range = _true_range(h[start:], lo[start:], c[start:])
        _seeded_average(true_range, n, 1.0 / n, out[start + 1 :])
    return _as_series(out, close, f"atr_{n}")


def stochastic(
    high: pd.Series, low: pd.Series, close: pd.Series, k: int = 14, d: int = 3
) -> pd.DataFrame:
    """Slow stochastic: ``talib.STOCH(fastk_period=k, slowk_period=d, slowd_period=d)``, SMA."""
    k, d = _check_period(k, "k"), _check_period(d, "d")
    h, lo, c = _as_float_array(high), _as_float_array(low), _as_float_array(close)
    out = np.full((2, len(c)), np.nan)
    start = _first_valid(h, lo, c)
    first = start + k + 2 * d - 3
    if len(c) > first:
        highest = _rolling_extreme(h[start:], k, np.maximum)
        lowest = _rolling_extreme(lo[start:], k, np.minimum)
        span = highest - lowest
        with np.errstate(invalid="ignore", divide="ignore"):
            raw_k = 100.0 * (c[start:] - lowest) / span
        raw_k[span == 0.0] = 0.0  # close == lowest low in a zero-width window, as TA-Lib
        slow_k = np.full(len(raw_k), np.nan)
        slow_k[k - 1 :] = _sma_values(raw_k[k - 1 :], d)
        slow_d = np.full(len(raw_k), np.nan)
        slow_d[k + d - 2 :] = _sma_values(slow_k[k + d - 2 :], d)
        out[0, first:] = slow_k[first - start :]
        out[1, first:] = slow_d[first - start :]
    return _frame(out, ["k", "d"], close)


def vwap(high: pd.Series, low: pd.Series, close: pd.Series, volume: pd.Series) -> pd.Series:
    """Cumulative volume-weighted typical price ((h+l+c)/3) from the first bar given.

    Anchoring is the caller's choice: pass one session (day, week) to get that session's VWAP.
    NaN until some volume has traded.
    """
    h, lo, c = _as_float_array(high), _as_float_array(low), _as_float_array(close)
    v = _as_float_array(volume)
    typical = (h + lo + c) / 3.0
    traded = np.cumsum(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(traded > 0.0, np.cumsum(typical * v) / traded, np.nan)
    return _as_series(out, close, "vwap")


def obv(close: pd.Series, volume: pd.Series) -> pd.Series:
    """On-balance volume starting from the first bar's volume (TA-Lib ``OBV``)."""
    c, v = _as_float_array(close), _as_float_array(volume)
    out = _nan_array(len(c))
    start = _first_valid(c, v)
    if start < len(c):
        # Same summation order as TA-Lib (first volume, then each signed volume), so the
        # running total matches it bit for bit.
        signed = np.empty(len(c) - start)
        signed[0] = v[start]
        signed[1:] = np.sign(np.diff(c[start:])) * v[start + 1 :]
        out[start:] = np.cumsum(signed)
    return _as_series(out, close, "obv")


# --- chart levels and trend --------------------------------------------------------------


def fibonacci_levels(high: float | pd.Series, low: float | pd.Series) -> dict[str, float]:
    """Retracement levels from the swing high ("0") down to the swing low ("1").

    Given Series, the swing is the highest high and lowest low of the window passed in.
    """
    top = float(np.nanmax(_as_float_array(high))) if isinstance(high, pd.Series) else float(high)
    bottom = float(np.nanmin(_as_float_array(low))) if isinstance(low, pd.Series) else float(low)
    if not math.isfinite(top) or not math.isfinite(bottom) or top < bottom:
        raise ValueError(f"need finite high >= low, got high={top} low={bottom}")
    span = top - bottom
    return {f"{ratio:g}": top - ratio * span for ratio in FIBONACCI_RATIOS}


@dataclass(frozen=True)
class Level:
    price: float
    kind: Literal["support", "resistance"]
    touches: int
    strength: float  # touches relative to the most-touched level, 0..1


def _swing_points(values: np.ndarray, window: int, ufunc: np.ufunc) -> np.ndarray:
    """Values that are the extreme of the ``window`` bars on both sides (confirmed pivots)."""
    span = 2 * window + 1
    if len(values) < span:
        return np.empty(0)
    extreme = _rolling_extreme(values, span, ufunc)[span - 1 :]
    centre = values[window : len(values) - window]
    return centre[centre == extreme]


def _cluster(prices: np.ndarray, tolerance: float) -> list[np.ndarray]:
    """Group sorted prices where each lies within ``tolerance`` (relative) of its group's mean."""
    groups: list[list[float]] = []
    for price in np.sort(prices).tolist():
        if groups and price <= np.mean(groups[-1]) * (1.0 + tolerance):
            groups[-1].append(price)
        else:
            groups.append([price])
    return [np.asarray(group) for group in groups]


def support_resistance(
    high: pd.Series,
    low: pd.Series,
    close: pd.Series,
    *,
    window: int = 5,
    tolerance: float = 0.005,
    max_levels: int | None = None,
) -> list[Level]:
    """Swing highs and lows clustered into price levels, sorted by price.

    A bar is a swing high (low) when its high (low) is the extreme of ``window`` bars on each
    side. Pivots within ``tolerance`` (0.005 = 0.5%) of each other form one level priced at
    their mean; a level above the last close is resistance, otherwise support. ``max_levels``
    keeps the most-touched levels.
    """
    window = _check_period(window, "window")
    h, lo, c = _as_float_array(high), _as_float_array(low), _as_float_array(close)
    valid = ~(np.isnan(h) | np.isnan(lo) | np.isnan(c))
    h, lo, c = h[valid], lo[valid], c[valid]
    pivots = np.concatenate(
        [_swing_points(h, window, np.maximum), _swing_points(lo, window, np.minimum)]
    )
    if pivots.size == 0:
        return []
    groups = _cluster(pivots, tolerance)
    most_touches = max(len(group) for group in groups)
    last_close = c[-1]
    levels = [
        Level(
            price=float(group.mean()),
            kind="resistance" if group.mean() > last_close else "support",
            touches=len(group),
            strength=len(group) / most_touches,
        )
        for group in groups
    ]
    if max_levels is not None:
        levels = sorted(levels, key=lambda level: level.touches, reverse=True)[:max_levels]
    return sorted(levels, key=lambda level: level.price)


@dataclass(frozen=True)
class Trend:
    direction: Literal["bullish", "bearish", "neutral"]
    strength: float  # R^2 of the fitted line, 0..1: how steadily price moved that way
    slope: float  # fitted change per bar, as a fraction of price (0.001 = +0.1% a bar)


def trend(close: pd.Series, *, window: int = 50, min_strength: float = 0.3) -> Trend:
    """Direction and steadiness of the last ``window`` closes.

    Fits a straight line to log prices: the slope gives the direction, R^2 the strength. A
    line that explains less than ``min_strength`` of the movement is called neutral.
    """
    window = _check_period(window, "window")
    values = _as_float_array(close)
    values = values[~np.isnan(values)][-window:]
    if len(values) < 3 or np.any(values <= 0.0):
        return Trend("neutral", 0.0, 0.0)
    log_price = np.log(values)
    bars = np.arange(len(log_price), dtype=np.float64)
    slope, intercept = np.polyfit(bars, log_price, 1)
    residual = log_price - (slope * bars + intercept)
    total = float(np.sum((log_price - log_price.mean()) ** 2))
    strength = 0.0 if total == 0.0 else max(0.0, 1.0 - float(np.sum(residual**2)) / total)
    direction: Literal["bullish", "bearish", "neutral"] = "neutral"
    if strength >= min_strength and slope != 0.0:
        direction = "bullish" if slope > 0.0 else "bearish"
    return Trend(direction, round(strength, 12), float(math.expm1(slope)))
