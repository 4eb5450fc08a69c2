"""Importing one kline file (a CSV or data.binance.vision's zip of one)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from marketdata.klines.gaps import _gaps_to_neighbours, _window_gaps
from marketdata.klines.intervals import _series
from marketdata.klines.parsing import KlinesRejected, _parse_klines
from marketdata.klines.reports import KlineImportReport
from marketdata.klines.storing import _store


def klines_import(*, symbol: str, interval: str, path: Path,
                  market: str = "spot") -> KlineImportReport:
    """Import one kline CSV (or its .zip): all of it or, if a row is malformed, nothing.

    Raises KlinesRejected, whose `errors` name each malformed line, and OSError.
    """
    series = _series(market=market, symbol=symbol, interval=interval)
    rows = _parse_klines(_read(Path(path)), interval=series.interval)
    added = _store(series, rows)
    first, last = int(rows.open_us[0]), int(rows.open_us[-1])
    return KlineImportReport(
        path=Path(path), rows=rows.count, added=added,
        gaps=_window_gaps(series, first, series.interval.next_open(last)),
        gaps_to_stored=_gaps_to_neighbours(series, first, last))


def _read(path: Path) -> bytes:
    """A CSV, or the zip of one CSV that data.binance.vision serves."""
    if path.suffix.lower() != ".zip":
        return path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        members = [name for name in archive.namelist() if not name.endswith("/")]
        if len(members) != 1:
            raise KlinesRejected([(0, f"the zip holds {len(members)} files, expected one CSV")])
        return archive.read(members[0])
