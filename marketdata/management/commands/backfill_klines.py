from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from marketdata.exchange.errors import ExchangeError
from marketdata.klines import MARKETS, KlineFetchReport, klines_backfill, klines_repair_gaps
from marketdata.models import INTERVALS


def utc_time(text: str) -> datetime:
    """2024-03-01 or 2024-03-01T12:00 (UTC unless an offset is given)."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Command(BaseCommand):
    help = (
        "Fetch closed candles over Binance's REST API for [--start, --end) that are not stored "
        "yet, 1000 per request. Stopped half-way, it resumes from the last stored candle. "
        "With --repair, only the gaps between stored candles are fetched."
    )

    def add_arguments(self, parser):
        parser.add_argument("symbol", help="e.g. BTCUSDT")
        parser.add_argument("interval", choices=INTERVALS)
        parser.add_argument("--start", type=utc_time, help="UTC date or time, e.g. 2024-03-01")
        parser.add_argument("--end", type=utc_time, help="exclusive; default: up to now")
        parser.add_argument("--market", choices=MARKETS, default="spot")
        parser.add_argument("--repair", action="store_true",
                            help="fetch only the gaps between stored candles")

    def handle(self, *args, symbol, interval, start, end, market, repair, **options):
        if start is None and not repair:
            raise CommandError("--start is required (or use --repair)")
        series = {"symbol": symbol, "interval": interval, "market": market, "start": start,
                  "end": end, "on_page": self._progress}
        fetch = klines_repair_gaps if repair else klines_backfill
        try:
            report = fetch(**series)
        except ExchangeError as exc:
            raise CommandError(f"{exc}. What was fetched is stored: run the same command "
                               "again to resume.") from exc
        self.stdout.write(self.style.SUCCESS(f"Done: {report}"))
        for gap in report.unfilled[:10]:
            self.stdout.write(f"  not on the exchange either: {gap}")

    def _progress(self, report: KlineFetchReport) -> None:
        self.stdout.write(str(report))
