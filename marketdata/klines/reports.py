"""What an import or a fetch did, as the management commands and tasks print it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from marketdata.klines.gaps import Gap
from marketdata.klines.intervals import Series


@dataclass
class KlineImportReport:
    path: Path
    rows: int
    added: int
    gaps: list[Gap]  # still missing between the file's first and last candle
    gaps_to_stored: list[Gap]  # between the file and the stored candles nearest to it

    @property
    def skipped(self) -> int:
        return self.rows - self.added

    def __str__(self):
        missing = sum(gap.missing for gap in self.gaps)
        return (f"{self.path.name}: {self.rows} rows, {self.added} added, {self.skipped} skipped "
                f"(already stored), {len(self.gaps)} gaps inside ({missing} missing candles)")


@dataclass
class KlineFetchReport:
    series: Series
    requests: int = 0
    added: int = 0
    skipped: int = 0
    newest: datetime | None = None  # open time of the newest closed candle received
    unfilled: list[Gap] = field(default_factory=list)  # still missing after fetching

    def __str__(self):
        s = self.series
        text = (f"{s.symbol} {s.interval} {s.market}: {self.added} added, {self.skipped} "
                f"already stored, {self.requests} requests")
        if self.newest is not None:
            text += f", up to {self.newest:%Y-%m-%d %H:%M}"
        if self.unfilled:
            text += (f"; {sum(g.missing for g in self.unfilled)} candles in "
                     f"{len(self.unfilled)} gaps the exchange did not return")
        return text
