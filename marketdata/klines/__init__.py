"""Candles: import Binance kline files, backfill and sync them over REST, find and repair gaps.

`intervals` holds the time arithmetic, `parsing` validates a batch whole (a file is all or
nothing), `storing` inserts only candles not stored yet (see there for why two databases
take two paths), `gaps` finds missing candles, `importing` and `fetching` are the entry
points, `reports` what they return. Importers use this package, not its modules.
"""

from marketdata.klines.fetching import klines_backfill, klines_repair_gaps, klines_sync
from marketdata.klines.gaps import Gap, kline_gaps
from marketdata.klines.importing import klines_import
from marketdata.klines.intervals import MARKETS, Interval, Series
from marketdata.klines.parsing import COLUMNS, KlinesRejected
from marketdata.klines.reports import KlineFetchReport, KlineImportReport

__all__ = [
    "COLUMNS",
    "MARKETS",
    "Gap",
    "Interval",
    "KlineFetchReport",
    "KlineImportReport",
    "KlinesRejected",
    "Series",
    "kline_gaps",
    "klines_backfill",
    "klines_import",
    "klines_repair_gaps",
    "klines_sync",
]
