"""Kline CSV text to validated candles: a batch is checked whole, so a file is all or nothing.

Accepts Binance's dumps and our shared files: 11 or 12 columns, an optional header, open
times in milliseconds or microseconds (data.binance.vision's spot dumps since 2025).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

from marketdata.klines.intervals import LATEST_US, MICROSECONDS_FROM, Interval, _when

COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
           "trades", "taker_buy_base", "taker_buy_quote", "ignore")
STORED = COLUMNS[:11]
REQUIRED = ("open_time", "open", "high", "low", "close", "volume", "close_time")
WHOLE_NUMBERS = ("open_time", "close_time", "trades")
DECIMAL_TEXT = r"\d{1,18}(?:\.\d{0,18})?|\.\d{1,18}"
WHOLE_TEXT = r"\d{1,18}"
PLAIN_BYTES = np.zeros(256, dtype=bool)
PLAIN_BYTES[list(b"0123456789.,\r\n")] = True
MAX_DIGITS = 18  # Decimal(36, 18) on either side of the point; times and counts fit too
PROBLEMS_SHOWN = 20


class KlinesRejected(Exception):
    """Malformed candles: nothing of the batch they came in was stored."""

    def __init__(self, problems: list[tuple[int, str]], total: int | None = None):
        self.problems = sorted(problems, key=lambda problem: problem[0])  # stable: check order
        self.total = max(total or 0, len(problems))
        super().__init__("; ".join(self.errors))

    @property
    def errors(self) -> list[str]:
        lines = [f"line {line}: {text}" if line else text
                 for line, text in self.problems[:PROBLEMS_SHOWN]]
        if self.total > PROBLEMS_SHOWN:
            lines.append(f"... and {self.total - PROBLEMS_SHOWN} more problems")
        return lines


@dataclass
class _KlineRows:
    """Validated candles and the CSV text they came in: COPY loads that text unchanged."""

    data: bytes
    columns: int
    header: bool
    open_us: np.ndarray
    close_us: np.ndarray

    @property
    def count(self) -> int:
        return len(self.open_us)


class _Lines:
    """Where each line of a CSV text starts and ends, found with numpy (fast on 1M lines)."""

    def __init__(self, data: bytes):
        self.data = data
        buffer = np.frombuffer(data, dtype=np.uint8)
        self.ends = np.flatnonzero(buffer == ord("\n"))
        self.starts = np.concatenate(([0], self.ends[:-1] + 1))
        self.commas = np.flatnonzero(buffer == ord(","))
        self.fields = (np.searchsorted(self.commas, self.ends)
                       - np.searchsorted(self.commas, self.starts) + 1)

    def text(self, index: int) -> str:
        raw = self.data[self.starts[index]:self.ends[index]]
        return raw.decode("utf-8", errors="replace").rstrip("\r")

    def cell(self, index: int, column: str) -> str:
        return self.text(index).split(",")[COLUMNS.index(column)]


def _parse_klines(data: bytes, *, interval: Interval) -> _KlineRows:
    """Validate kline CSV text: 11 or 12 columns, optional header, ms or µs open times."""
    if not data.endswith(b"\n") or data.endswith((b"\n\n", b"\n\r\n")):
        data = data.rstrip(b"\r\n") + b"\n"  # copies: only when the end needs tidying
    lines = _Lines(data)
    # Binance's dumps have no header, our shared files and newer dumps do: open_time,open,...
    header = not data[:1].isdigit() and b"open" in data[:lines.ends[0]].lower()
    if len(lines.ends) <= header or not data.strip():
        raise KlinesRejected([(0, "no candles in the file")])
    columns = int(lines.fields[int(header)])
    _check_shape(lines, columns)
    frame = _read_numbers(lines, header=header, columns=columns)
    open_us, close_us = _check_candles(frame, lines, header=header, interval=interval)
    return _KlineRows(data, columns, header, open_us, close_us)


def _check_shape(lines: _Lines, columns: int) -> None:
    if columns not in (11, 12):
        raise KlinesRejected([(0, f"{columns} columns: expected 11 (open_time ... "
                                  "taker_buy_quote) or 12 (with Binance's trailing 'ignore')")])
    wrong = np.flatnonzero(lines.fields != columns)
    problems = [(int(i) + 1, "empty line" if not lines.text(i).strip() else
                 f"{lines.fields[i]} columns, expected {columns}") for i in wrong[:PROBLEMS_SHOWN]]
    if problems:
        raise KlinesRejected(problems, total=len(wrong))


def _read_numbers(lines: _Lines, *, header: bool, columns: int) -> pd.DataFrame:
    """Numbers per column; the careful (slow) reading only runs when the fast one cannot."""
    body = np.frombuffer(lines.data, dtype=np.uint8)[lines.starts[1] if header else 0:]
    if PLAIN_BYTES[body].all() and not _overlong_fields(lines, header=header, columns=columns):
        try:
            return pd.read_csv(io.BytesIO(lines.data), **_csv_options(header), na_values=[""],
                               dtype={c: np.int64 if c.endswith("_time") else float
                                      for c in STORED})
        except ValueError:
            pass  # "1.2.3", a lone ".", an empty time: the careful reading says where
    return _read_carefully(lines, header=header)


def _csv_options(header: bool) -> dict:
    return {"header": None, "skiprows": int(header), "names": STORED, "usecols": range(11),
            "keep_default_na": False, "engine": "c"}


def _overlong_fields(lines: _Lines, *, header: bool, columns: int) -> bool:
    """Whether a field holds more digits than Decimal(36, 18) keeps (PostgreSQL would round)."""
    # Every line has columns - 1 commas: together with the line ends they bound every field.
    bounds = np.column_stack([lines.starts - 1, lines.commas.reshape(-1, columns - 1),
                              lines.ends])[int(header):]
    lengths = np.diff(bounds, axis=1) - 1
    long_fields = np.argwhere(lengths > MAX_DIGITS)  # rare: check those few one by one
    return any(not re.fullmatch(DECIMAL_TEXT, lines.text(row + header).split(",")[column])
               for row, column in long_fields)


def _read_carefully(lines: _Lines, *, header: bool) -> pd.DataFrame:
    text = pd.read_csv(io.BytesIO(lines.data), **_csv_options(header), dtype=str,
                       na_filter=False)
    line_numbers = np.arange(len(text)) + 1 + header
    numbers, problems, total = {}, [], 0
    for column in STORED:
        numbers[column], bad = _column_numbers(text[column], column)
        problems += [(int(line_numbers[i]), _cell_problem(column, text[column].iat[i]))
                     for i in bad[:PROBLEMS_SHOWN]]
        total += len(bad)
    if problems:
        raise KlinesRejected(problems, total=total)
    return pd.DataFrame(numbers)


def _column_numbers(cells: pd.Series, column: str) -> tuple[pd.Series, np.ndarray]:
    plain = cells.str.fullmatch(WHOLE_TEXT if column in WHOLE_NUMBERS else DECIMAL_TEXT)
    allowed_empty = (cells == "") & (column not in REQUIRED)
    values = pd.to_numeric(cells.where(plain), errors="coerce")
    return values, np.flatnonzero(~(plain | allowed_empty))


def _cell_problem(column: str, text: str) -> str:
    if text == "":
        return f"{column} is empty"
    try:
        value = Decimal(text)
    except InvalidOperation:
        return f"{column} {text!r} is not a number"
    if not value.is_finite():
        return f"{column} {text!r} is not a number"
    if value < 0:
        return f"{column} {text} is negative"
    if column in WHOLE_NUMBERS:
        return f"{column} {text!r} is not a whole number of at most {MAX_DIGITS} digits"
    return f"{column} {text!r} is not a plain decimal of at most {MAX_DIGITS} digits each side"


def _check_candles(frame: pd.DataFrame, lines: _Lines, *, header: bool,
                   interval: Interval) -> tuple[np.ndarray, np.ndarray]:
    opens = frame["open_time"].to_numpy(np.int64)
    scale = np.where(opens >= MICROSECONDS_FROM, 1, 1000)  # per row: files may mix units
    open_us, close_us = opens * scale, frame["close_time"].to_numpy(np.int64) * scale

    def cell(i: int, column: str) -> str:
        return lines.cell(i + header, column)

    checks = [*_time_checks(opens, open_us, close_us, scale, interval, cell),
              *_price_checks(frame, cell)]
    problems, total = _collect(checks, header)
    order_problems, order_total = _order_problems(opens, open_us, header)
    if problems or order_problems:
        raise KlinesRejected(problems + order_problems, total=total + order_total)
    return open_us, close_us


def _time_checks(opens, open_us, close_us, scale, interval: Interval, cell) -> list:
    expected = interval.next_opens(open_us) - scale
    return [
        ((open_us < 0) | (open_us >= LATEST_US),
         lambda i: f"open_time {opens[i]} is not a time Binance could have"),
        (~interval.aligned(open_us), lambda i: f"open_time {opens[i]} ({_when(open_us[i])} UTC) "
                                               f"is not the start of a {interval} candle"),
        (close_us != expected, lambda i: f"close_time {cell(i, 'close_time')} is inconsistent: "
         f"a {interval} candle opening at {opens[i]} closes at {expected[i] // scale[i]}"),
    ]


def _price_checks(frame: pd.DataFrame, cell) -> list:
    value = {c: frame[c].to_numpy(float) for c in ("open", "high", "low", "close", "volume",
                                                    "trades")}
    empty = [(np.isnan(value[c]), lambda i, c=c: f"{c} is empty")
             for c in ("open", "high", "low", "close", "volume")]
    ordered = [(value[a] < value[b], lambda i, a=a, b=b: f"{a} {cell(i, a)} is below {b} "
                                                          f"{cell(i, b)}")
               for a, b in (("high", "low"), ("high", "open"), ("high", "close"),
                            ("open", "low"), ("close", "low"))]
    whole = (value["trades"] % 1 > 0, lambda i: f"trades {cell(i, 'trades')} is not whole")
    return [*empty, *ordered, whole]


def _collect(checks, header: bool) -> tuple[list[tuple[int, str]], int]:
    problems, total = [], 0
    for failing, describe in checks:
        rows = np.flatnonzero(failing)
        total += len(rows)
        problems += [(int(i) + 1 + header, describe(i)) for i in rows[:PROBLEMS_SHOWN]]
    return problems, total


def _order_problems(opens: np.ndarray, open_us: np.ndarray,
                    header: bool) -> tuple[list[tuple[int, str]], int]:
    """Rows must be in time order without repeats: gaps and ranges are computed from it."""
    steps = np.diff(open_us)
    bad = np.flatnonzero(steps <= 0) + 1
    problems = []
    for i in bad[:PROBLEMS_SHOWN]:
        line, previous = int(i) + 1 + header, int(i) + header
        relation = "repeats" if steps[i - 1] == 0 else "comes before that of"
        problems.append((line, f"open_time {opens[i]} {relation} line {previous}"))
    return problems, len(bad)
