from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from marketdata.klines import MARKETS, KlineImportReport, KlinesRejected, klines_import
from marketdata.models import INTERVALS

GAPS_SHOWN = 10


class Command(BaseCommand):
    help = (
        "Import Binance kline CSVs: data.binance.vision dumps (12 columns, with or without a "
        "header, open times in ms or µs) or shared/data/klines files (11 columns, header). "
        "Each file is stored whole or, if a row is malformed, not at all; candles already "
        "stored are skipped, so importing twice changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("symbol", help="e.g. BTCUSDT")
        parser.add_argument("interval", choices=INTERVALS)
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument("--market", choices=MARKETS, default="spot")

    def handle(self, *args, symbol, interval, files, market, **options):
        rejected = [path for path in files
                    if not self._import(path, symbol=symbol, interval=interval, market=market)]
        if rejected:
            names = ", ".join(path.name for path in rejected)
            raise CommandError(f"{len(rejected)} of {len(files)} files rejected: {names}")

    def _import(self, path: Path, **series) -> bool:
        try:
            report = klines_import(path=path, **series)
        except KlinesRejected as exc:
            self.stderr.write(f"{path}: rejected, nothing stored from it")
            for error in exc.errors:
                self.stderr.write(f"  {error}")
            return False
        except OSError as exc:
            self.stderr.write(f"{path}: cannot read it ({exc.strerror or exc})")
            return False
        self._print(report)
        return True

    def _print(self, report: KlineImportReport) -> None:
        self.stdout.write(str(report))
        labelled = [("gap", gap) for gap in report.gaps]
        labelled += [("gap to stored candles", gap) for gap in report.gaps_to_stored]
        for label, gap in labelled[:GAPS_SHOWN]:
            self.stdout.write(f"  {label}: {gap}")
        if len(labelled) > GAPS_SHOWN:
            self.stdout.write(f"  ... and {len(labelled) - GAPS_SHOWN} more gaps")
