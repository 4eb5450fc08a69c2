"""Two checks a trader runs before trusting a backtest. Pure numpy/pandas: no Django.

``lookahead_check(strategy, candles)``
    Does row i of ``prepare`` read rows after i? Compares the prepared frame of the whole
    history with ``prepare`` on data that ends at sampled cut points.
``warmup_check(strategy, candles)``
    Is ``lookback()`` long enough? A live bot prepares only the last ``lookback()`` candles;
    compares its last row with the one prepared from four times that history.

Both sample bars deterministically (the same candles give the same report) and return a
report with ``passed``, ``summary`` (one sentence in words) and ``as_dict()`` (JSON-friendly).
Numeric indicators are compared with a relative tolerance of 1e-9 (NaN equals NaN): the
indicators are computed block-wise, so the same value from a different starting row can differ
in its last bits, and recursive averages keep a trace of their seed below 1e-10. "Relative"
is to the larger of the two values or, if larger, the column's typical size (its median
absolute value): an oscillator crossing zero (the MACD histogram) would otherwise be held to
a tolerance of nearly nothing exactly where the seed's trace is largest in proportion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from bots.strategies.base import SIGNAL_COLUMNS, Strategy
from bots.strategies.wording import number

RELATIVE_TOLERANCE = 1e-9
SAMPLE_SEED = 20240301  # fixed: the same candles always give the same report
LAST_BARS = 3  # the newest bars are always sampled: that is where a live bot decides
KEPT_DIFFERENCES = 200  # a leak can differ on every row; the report keeps the first ones
IN_WORDS = 5
LONG_HISTORY = 4  # warmup_check compares lookback() candles with this many times as many


# --- reports ------------------------------------------------------------------------------


class _Findings:
    """What both reports share: ``differences`` keeps the first KEPT_DIFFERENCES of
    ``difference_count``."""

    differences: tuple[Any, ...]
    difference_count: int

    @property
    def passed(self) -> bool:
        return self.difference_count == 0

    @property
    def differing_columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.column for d in self.differences))

    @property
    def details(self) -> list[str]:
        """The first few differences, one sentence each."""
        return [f"{d.in_words()}." for d in self.differences[:IN_WORDS]]


@dataclass(frozen=True)
class LookaheadDifference:
    """A value of ``bar`` that changes when the data ends at ``data_ends_bar`` (>= bar)."""

    bar: int
    time: datetime | None
    column: str
    full_value: float | bool
    truncated_value: float | bool
    data_ends_bar: int
    data_ends_time: datetime | None

    def in_words(self) -> str:
        full, truncated = _pair_in_words(self.full_value, self.truncated_value)
        where = (
            "there" if self.data_ends_bar == self.bar
            else f"at {_when(self.data_ends_time, self.data_ends_bar)}"
        )
        return (
            f"{self.column} at {_when(self.time, self.bar)} is {full} on full data but "
            f"{truncated} when the data ends {where}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "bar": self.bar,
            "time": _iso(self.time),
            "column": self.column,
            "full_value": _json_value(self.full_value),
            "truncated_value": _json_value(self.truncated_value),
            "data_ends_bar": self.data_ends_bar,
            "data_ends_time": _iso(self.data_ends_time),
        }


@dataclass(frozen=True)
class LookaheadReport(_Findings):
    """``history_columns``: columns that differed in a cut window only because the window held
    too little history (the full prefix agreed): not lookahead, see :func:`warmup_check`."""

    cut_points: tuple[int, ...]
    columns: tuple[str, ...]
    differences: tuple[LookaheadDifference, ...]
    difference_count: int
    history_columns: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        if self.passed:
            note = _history_note(self.history_columns)
            return (
                f"No lookahead: {len(self.cut_points)} cut points, {len(self.columns)} "
                f"columns compared, every value the same{note}."
            )
        return (
            f"Lookahead: {self.differences[0].in_words()} — the strategy reads candles after "
            f"the one it decides on ({self.difference_count:,} differing values in "
            f"{', '.join(self.differing_columns)})."
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "summary": self.summary,
            "details": self.details,
            "cut_points": list(self.cut_points),
            "columns": list(self.columns),
            "difference_count": self.difference_count,
            "differences": [d.as_dict() for d in self.differences],
            "history_columns": list(self.history_columns),
        }


@dataclass(frozen=True)
class WarmupDifference:
    """The last row at ``bar`` prepared from lookback() candles and from LONG_HISTORY times
    as many; ``relative_difference`` is None for booleans."""

    bar: int
    time: datetime | None
    column: str
    lookback_value: float | bool
    long_value: float | bool
    relative_difference: float | None
    lookback: int

    def in_words(self) -> str:
        short, long = _pair_in_words(self.lookback_value, self.long_value)
        relative = (
            "" if self.relative_difference is None
            else f" (relative difference {self.relative_difference:.2g})"
        )
        return (
            f"{self.column} at {_when(self.time, self.bar)} is {short} from "
            f"{_last(self.lookback)} but {long} from {_last(LONG_HISTORY * self.lookback)}"
            f"{relative}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "bar": self.bar,
            "time": _iso(self.time),
            "column": self.column,
            "lookback_value": _json_value(self.lookback_value),
            "long_value": _json_value(self.long_value),
            "relative_difference": self.relative_difference,
        }


@dataclass(frozen=True)
class WarmupReport(_Findings):
    """``first_values``: per indicator column, the first bar with a value on the full data
    (None if it never has one), for the report's warm-up line."""

    warmup: int
    lookback: int
    bars: tuple[int, ...]
    columns: tuple[str, ...]
    differences: tuple[WarmupDifference, ...]
    difference_count: int
    first_values: dict[str, int | None] = field(default_factory=dict)
    first_times: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        if self.passed:
            return (
                f"Lookback is enough: at {len(self.bars)} bars, {len(self.columns)} columns "
                f"are the same from {_last(self.lookback)} as from "
                f"{_last(LONG_HISTORY * self.lookback)}."
            )
        return (
            f"Lookback too short: {self.differences[0].in_words()} — a live bot, which "
            f"prepares only lookback() candles, would see other values than the backtest "
            f"({self.difference_count:,} differing values in "
            f"{', '.join(self.differing_columns)})."
        )

    @property
    def warmup_line(self) -> str:
        """"Warm-up: sma_fast from bar 9 (2024-03-01 00:09), ...; warmup() 31, lookback() 31."."""
        starts = [
            f"{column} never has a value" if bar is None
            else f"{column} from bar {bar} ({_when(self.first_times[column], bar)})"
            for column, bar in self.first_values.items()
        ]
        listed = ", ".join(starts) if starts else "no indicator columns"
        return f"Warm-up: {listed}; warmup() {self.warmup}, lookback() {self.lookback}."

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "summary": self.summary,
            "details": self.details,
            "warmup_line": self.warmup_line,
            "warmup": self.warmup,
            "lookback": self.lookback,
            "bars": list(self.bars),
            "columns": list(self.columns),
            "difference_count": self.difference_count,
            "differences": [d.as_dict() for d in self.differences],
            "first_values": {
                column: {"bar": bar, "time": _iso(self.first_times[column])}
                for column, bar in self.first_values.items()
            },
        }


# --- lookahead ----------------------------------------------------------------------------


def lookahead_check(
    strategy: Strategy, candles: pd.DataFrame, *, samples: int = 40
) -> LookaheadReport:
    """Does row i of ``strategy.prepare`` change when the candles after i are removed?

    Prepares the whole frame once, then for ``samples`` cut points after the warm-up (the
    last bars, evenly spread ones and seeded random ones) prepares the data ending at the
    cut and compares every row <= cut: enter_long / exit_long exactly, every numeric column
    the strategy added within RELATIVE_TOLERANCE.

    For speed the data ending at a cut is only the window the strategy needs
    (``max(lookback(), 2 * warmup())`` candles), compared from the row where it holds
    ``lookback()`` candles. A window that differs is re-run on the whole prefix, so a
    ``lookback()`` too short (the past, not the future) is not called lookahead; it is listed
    in ``history_columns`` instead.

    It catches: a dependency on rows after the one decided on, within the data given
    (``shift(-1)``, centred windows, normalising by a whole column's max or mean, filling
    backwards), at the sampled cut points. It cannot catch leaks that do not come through
    ``prepare``'s input rows (data fetched from elsewhere, fills at prices the bar had not
    reached yet, parameters tuned on the same data), nor one that only shows at cut points
    it did not sample: passing does not prove there is no leak.
    """
    candles = _positional(candles)
    _require_samples(samples)
    full = strategy.prepare(candles)
    columns = _compared_columns(full, candles)
    reference = _column_arrays(full, columns)
    scales = _typical_sizes(reference)
    window = max(strategy.lookback(), 2 * strategy.warmup())
    cuts = _sample_bars(_first_cut(strategy, candles), len(candles) - 1, samples)
    found: list[LookaheadDifference] = []
    count, history_columns = 0, set()
    for cut in cuts:
        mismatches, from_history = _cut_mismatches(
            strategy, candles, (reference, scales), cut, window
        )
        history_columns |= from_history
        count += sum(len(rows) for rows in mismatches.values())
        room = KEPT_DIFFERENCES - len(found)
        found += _lookahead_differences(candles, reference, mismatches, cut, room)
    return LookaheadReport(
        cut_points=tuple(cuts),
        columns=tuple(columns),
        differences=tuple(found),
        difference_count=count,
        history_columns=tuple(sorted(history_columns)),
    )


def _first_cut(strategy: Strategy, candles: pd.DataFrame) -> int:
    first = max(strategy.warmup(), 1) - 1
    if len(candles) <= first:
        raise ValueError(
            f"the lookahead check needs at least warmup() = {strategy.warmup()} candles, "
            f"got {len(candles)}"
        )
    return first


def _cut_mismatches(
    strategy: Strategy,
    candles: pd.DataFrame,
    expected: tuple[dict[str, np.ndarray], dict[str, float]],
    cut: int,
    window: int,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], set[str]]:
    """{column: (rows, values when the data ends at cut)} that differ from the full data,
    and the columns whose window differed only for want of history."""
    start = max(0, cut + 1 - window)
    # From `start` the window is short of history until it holds lookback() candles.
    first = start + strategy.lookback() - 1 if start else 0
    columns = list(expected[0])
    windowed = _prepared_rows(strategy, candles, start, cut, first, columns)
    mismatches = _mismatches(expected, windowed, first)
    if not mismatches or start == 0:
        return mismatches, set()
    # Confirm on the whole prefix: only a difference that survives is lookahead.
    prefix = _prepared_rows(strategy, candles, 0, cut, first, columns)
    confirmed = _mismatches(expected, prefix, first)
    return confirmed, set(mismatches) - set(confirmed)


def _prepared_rows(
    strategy: Strategy,
    candles: pd.DataFrame,
    start: int,
    cut: int,
    first: int,
    columns: list[str],
) -> dict[str, np.ndarray]:
    """``prepare`` on candles start..cut, each compared column's rows first..cut."""
    part = candles.iloc[start : cut + 1].reset_index(drop=True)
    prepared = strategy.prepare(part)
    return _column_arrays(prepared.iloc[first - start :], columns)


def _mismatches(
    expected: tuple[dict[str, np.ndarray], dict[str, float]],
    rows: dict[str, np.ndarray],
    first: int,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    reference, scales = expected
    found = {}
    for column, values in rows.items():
        wanted = reference[column][first : first + len(values)]
        differ = np.flatnonzero(~_same(wanted, values, scales[column]))
        if differ.size:
            found[column] = (differ + first, values[differ])
    return found


def _lookahead_differences(
    candles: pd.DataFrame,
    reference: dict[str, np.ndarray],
    mismatches: dict[str, tuple[np.ndarray, np.ndarray]],
    cut: int,
    room: int,
) -> list[LookaheadDifference]:
    found = []
    for column, (rows, values) in mismatches.items():
        for bar, value in zip(rows[:room].tolist(), values[:room].tolist(), strict=True):
            found.append(LookaheadDifference(
                bar=bar,
                time=_time(candles, bar),
                column=column,
                full_value=reference[column][bar].item(),
                truncated_value=value,
                data_ends_bar=cut,
                data_ends_time=_time(candles, cut),
            ))
        room -= min(room, len(rows))
    return sorted(found, key=lambda d: (d.bar, d.column))


# --- warm-up ------------------------------------------------------------------------------


def warmup_check(
    strategy: Strategy, candles: pd.DataFrame, *, samples: int = 40
) -> WarmupReport:
    """Does the last row prepared from ``lookback()`` candles equal the one prepared from
    LONG_HISTORY times as many? A live bot prepares only the last ``lookback()`` candles, so
    a difference means it sees other indicator values (and maybe other signals) than a
    full-history backtest: recursive indicators (EMA, RSI, MACD) that have not forgotten
    their seed, or a window longer than ``lookback()``.

    Samples bars k >= 3 * lookback() (the last bars, evenly spread ones, seeded random
    ones). It cannot tell whether LONG_HISTORY times the history is itself enough, only that
    ``lookback()`` gives what more history gives; nor does it check ``warmup()`` (the first
    bar each indicator has a value is reported in ``first_values`` for that).
    """
    candles = _positional(candles)
    _require_samples(samples)
    lookback = strategy.lookback()
    full = strategy.prepare(candles)
    columns = _compared_columns(full, candles)
    scales = _typical_sizes(_column_arrays(full, columns))
    first_values = _first_values(full, [c for c in columns if c not in SIGNAL_COLUMNS])
    bars = _sample_bars(_first_warmup_bar(lookback, candles), len(candles) - 1, samples)
    found: list[WarmupDifference] = []
    count = 0
    for bar in bars:
        short = _last_row(strategy, candles, bar, lookback, columns)
        long = _last_row(strategy, candles, bar, LONG_HISTORY * lookback, columns)
        differing = _warmup_differences(candles, bar, (short, long), scales, lookback)
        count += len(differing)
        found += differing[: KEPT_DIFFERENCES - len(found)]
    return WarmupReport(
        warmup=strategy.warmup(),
        lookback=lookback,
        bars=tuple(bars),
        columns=tuple(columns),
        differences=tuple(found),
        difference_count=count,
        first_values=first_values,
        first_times={c: None if b is None else _time(candles, b) for c, b in first_values.items()},
    )


def _first_warmup_bar(lookback: int, candles: pd.DataFrame) -> int:
    first = (LONG_HISTORY - 1) * lookback
    if len(candles) <= first:
        raise ValueError(
            f"the warm-up check needs more than {LONG_HISTORY - 1} x lookback() = {first:,} "
            f"candles, got {len(candles):,}"
        )
    return first


def _last_row(
    strategy: Strategy, candles: pd.DataFrame, bar: int, count: int, columns: list[str]
) -> dict[str, Any]:
    part = candles.iloc[max(0, bar + 1 - count) : bar + 1].reset_index(drop=True)
    arrays = _column_arrays(strategy.prepare(part).iloc[-1:], columns)
    return {column: values[0] for column, values in arrays.items()}


def _warmup_differences(
    candles: pd.DataFrame,
    bar: int,
    rows: tuple[dict[str, Any], dict[str, Any]],
    scales: dict[str, float],
    lookback: int,
) -> list[WarmupDifference]:
    short, long = rows
    return [
        WarmupDifference(
            bar=bar,
            time=_time(candles, bar),
            column=column,
            lookback_value=short[column].item(),
            long_value=long[column].item(),
            relative_difference=_relative_difference(short[column], long[column]),
            lookback=lookback,
        )
        for column in short
        if not _same(np.array([long[column]]), np.array([short[column]]), scales[column])[0]
    ]


def _first_values(full: pd.DataFrame, columns: list[str]) -> dict[str, int | None]:
    firsts = {}
    for column in columns:
        valid = np.flatnonzero(full[column].notna().to_numpy())
        firsts[column] = int(valid[0]) if valid.size else None
    return firsts


# --- shared -------------------------------------------------------------------------------


def _positional(candles: pd.DataFrame) -> pd.DataFrame:
    """The frame with index 0..n-1, as ``prepare`` expects; every row is found by position."""
    index = candles.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return candles
    return candles.reset_index(drop=True)


def _require_samples(samples: int) -> None:
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")


def _sample_bars(first: int, last: int, samples: int) -> list[int]:
    """``samples`` bars in first..last: the newest few, evenly spread ones, seeded random ones."""
    if last - first + 1 <= samples:
        return list(range(first, last + 1))
    chosen = set(range(last - min(LAST_BARS, samples) + 1, last + 1))
    spread = np.linspace(first, last, max(0, samples // 2 - len(chosen)), dtype=np.int64)
    chosen.update(spread.tolist())
    rng = np.random.default_rng(SAMPLE_SEED)
    while len(chosen) < samples:
        chosen.add(int(rng.integers(first, last + 1)))
    return sorted(chosen)


def _compared_columns(prepared: pd.DataFrame, candles: pd.DataFrame) -> list[str]:
    """The signals, then every numeric column the strategy added (booleans included)."""
    added = [
        column for column in prepared.columns
        if column not in candles.columns and column not in SIGNAL_COLUMNS
        and pd.api.types.is_numeric_dtype(prepared[column])
    ]
    return list(SIGNAL_COLUMNS) + added


def _column_arrays(frame: pd.DataFrame, columns: list[str]) -> dict[str, np.ndarray]:
    """Booleans as bool, every other numeric column as float64 with NaN for missing."""
    arrays = {}
    for column in columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            arrays[column] = values.to_numpy(dtype=bool)
        else:
            arrays[column] = values.to_numpy(dtype=np.float64, na_value=np.nan)
    return arrays


def _typical_sizes(arrays: dict[str, np.ndarray]) -> dict[str, float]:
    """Per column, the median absolute value (0 for booleans and empty columns)."""
    sizes = {}
    for column, values in arrays.items():
        finite = np.abs(values[np.isfinite(values)]) if values.dtype != bool else values[:0]
        sizes[column] = float(np.median(finite)) if finite.size else 0.0
    return sizes


def _same(expected: np.ndarray, got: np.ndarray, typical: float) -> np.ndarray:
    """Element-wise: booleans equal; numbers within RELATIVE_TOLERANCE of the larger of the
    two and the column's ``typical`` size; NaN equal to NaN."""
    if expected.dtype == bool or got.dtype == bool:
        return expected == got
    with np.errstate(invalid="ignore"):
        scale = np.maximum(np.maximum(np.abs(expected), np.abs(got)), typical)
        close = np.abs(expected - got) <= RELATIVE_TOLERANCE * scale
    return close | (expected == got) | (np.isnan(expected) & np.isnan(got))


def _relative_difference(a: Any, b: Any) -> float | None:
    if isinstance(a, np.bool_ | bool) or isinstance(b, np.bool_ | bool):
        return None
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return None
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0


def _time(candles: pd.DataFrame, bar: int) -> datetime | None:
    if "open_time" not in candles.columns:
        return None
    return candles["open_time"].iat[bar]


def _when(time: datetime | None, bar: int) -> str:
    if time is None:
        return f"bar {bar}"
    return time.strftime("%Y-%m-%d %H:%M:%S" if time.second else "%Y-%m-%d %H:%M")


def _last(count: int) -> str:
    return "the last candle" if count == 1 else f"the last {count:,} candles"


def _iso(time: datetime | None) -> str | None:
    return None if time is None else time.isoformat()


def _pair_in_words(first: Any, second: Any) -> tuple[str, str]:
    """Two values as words, with more digits when eight significant ones read the same."""
    words = _value_in_words(first), _value_in_words(second)
    if words[0] == words[1]:
        return repr(float(first)), repr(float(second))
    return words


def _value_in_words(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if math.isnan(value):
        return "NaN"
    return number(value)


def _json_value(value: Any) -> float | bool | None:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _history_note(columns: tuple[str, ...]) -> str:
    if not columns:
        return ""
    return (
        f" ({', '.join(columns)} changed with less history before the cut, which is not "
        f"lookahead: see the warm-up check)"
    )
