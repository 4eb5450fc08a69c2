"""Candles over REST: backfill a range, sync up to now, repair gaps; each page commits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from marketdata.exchange.gateway import BinanceGateway
from marketdata.klines.gaps import Gap, kline_gaps
from marketdata.klines.intervals import MICROSECONDS_FROM, Series, _datetime, _micros, _series
from marketdata.klines.parsing import _parse_klines
from marketdata.klines.reports import KlineFetchReport
from marketdata.klines.storing import _store
from marketdata.venues import market_data_venue

PAGE_SIZE = 1000
KLINES_METHOD = {"spot": "get_klines", "futures": "futures_klines"}


class _Fetcher:
    """Pages through GET klines, storing closed candles page by page (each page commits)."""

    def __init__(self, series: Series, gateway: BinanceGateway | None,
                 on_page: Callable[[KlineFetchReport], None] | None):
        self.series = series
        self.gateway = gateway or BinanceGateway(market_data_venue())
        self.on_page = on_page
        self.report = KlineFetchReport(series)

    def fetch(self, first: int | None, last: int | None) -> None:
        """Candles opening from `first` (None: the latest page) to `last` (None: the newest)."""
        cursor = first
        while True:
            limit = self._limit(cursor, last)
            rows = self._page(cursor, limit)
            # The newest candle Binance returns may still be forming: a candle is known to be
            # closed only once the exchange shows a later one.
            closed = rows[:-1]
            wanted = [r for r in closed if last is None or _row_open(r) <= last]
            self._store(wanted)
            if len(rows) < limit or len(wanted) < len(closed):
                return  # the exchange has nothing newer, or the range is done
            cursor = _row_open(rows[-1])
            if last is not None and cursor > last:
                return

    def _limit(self, cursor: int | None, last: int | None) -> int:
        if cursor is None or last is None:
            return PAGE_SIZE
        # Enough for the range plus one later candle that shows the last one closed.
        return min(PAGE_SIZE, self.series.interval.count(cursor, last) + 1)

    def _page(self, cursor: int | None, limit: int) -> list[list]:
        params = {"symbol": self.series.symbol, "interval": self.series.interval.name,
                  "limit": limit}
        if cursor is not None:
            params["startTime"] = cursor // 1000
        rows = self.gateway.call(KLINES_METHOD[self.series.market], **params)
        self.report.requests += 1
        return rows

    def _store(self, rows: list[list]) -> None:
        if rows:
            text = "".join(",".join(str(value) for value in row) + "\n" for row in rows)
            batch = _parse_klines(text.encode(), interval=self.series.interval)
            added = _store(self.series, batch)
            self.report.added += added
            self.report.skipped += batch.count - added
            newest = _datetime(batch.open_us[-1])
            self.report.newest = max(filter(None, (self.report.newest, newest)))
        if self.on_page is not None:
            self.on_page(self.report)


def _row_open(row: list) -> int:
    value = int(row[0])
    return value if value >= MICROSECONDS_FROM else value * 1000


def _fetch_gaps(fetcher: _Fetcher, gaps: list[Gap]) -> None:
    """One range per page-full of gaps: re-receiving a few stored candles costs nothing."""
    interval, ranges = fetcher.series.interval, []
    for gap in gaps:
        first, last = _micros(gap.start), _micros(gap.end)
        if ranges and interval.count(ranges[-1][0], last) < PAGE_SIZE:
            ranges[-1][1] = last
        else:
            ranges.append([first, last])
    for first, last in ranges:
        fetcher.fetch(first, last)


def klines_backfill(*, symbol: str, interval: str, market: str = "spot", start: datetime,
                    end: datetime | None = None, gateway: BinanceGateway | None = None,
                    on_page: Callable[[KlineFetchReport], None] | None = None,
                    ) -> KlineFetchReport:
    """Fetch every closed candle opening in [start, end) that is not stored (end=None: to now).

    Only missing ranges are requested, so a run stopped half-way (a crash, a 5xx) resumes from
    the last stored candle when started again. `on_page` is called after every request.
    """
    fetcher = _Fetcher(_series(market=market, symbol=symbol, interval=interval), gateway,
                       on_page)
    _fetch_gaps(fetcher, kline_gaps(symbol=symbol, interval=interval, market=market,
                                    start=start, end=end))
    if end is None:
        fetcher.fetch(_resume_point(fetcher.series, _micros(start)), None)
    fetcher.report.unfilled = kline_gaps(symbol=symbol, interval=interval, market=market,
                                         start=start, end=end)
    return fetcher.report


def _resume_point(series: Series, start: int) -> int:
    _, last = series.bounds(open_time__gte=_datetime(start))
    return series.interval.ceil(start) if last is None else series.interval.next_open(last)


def klines_sync(*, symbol: str, interval: str, market: str = "spot",
                gateway: BinanceGateway | None = None) -> KlineFetchReport:
    """Fetch the candles closed since the newest stored one (with none stored: the latest page).

    Safe to run twice at once: writers of a series take turns (advisory lock on PostgreSQL,
    the write lock on SQLite) and insert only what the other has not stored.
    """
    fetcher = _Fetcher(_series(market=market, symbol=symbol, interval=interval), gateway, None)
    _, last = fetcher.series.bounds()
    fetcher.fetch(None if last is None else fetcher.series.interval.next_open(last), None)
    return fetcher.report


def klines_repair_gaps(*, symbol: str, interval: str, market: str = "spot",
                       start: datetime | None = None, end: datetime | None = None,
                       gateway: BinanceGateway | None = None,
                       on_page: Callable[[KlineFetchReport], None] | None = None,
                       ) -> KlineFetchReport:
    """Fetch the candles `kline_gaps` finds missing; `unfilled` lists what the exchange lacks."""
    fetcher = _Fetcher(_series(market=market, symbol=symbol, interval=interval), gateway,
                       on_page)
    window = {"symbol": symbol, "interval": interval, "market": market, "start": start,
              "end": end}
    _fetch_gaps(fetcher, kline_gaps(**window))
    fetcher.report.unfilled = kline_gaps(**window)
    return fetcher.report
