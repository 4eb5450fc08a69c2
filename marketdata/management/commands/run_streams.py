import asyncio
import signal

from django.core.management.base import BaseCommand

from marketdata.stream_runner import MARKETS, run_streams


class Command(BaseCommand):
    help = ("Follow Binance's market streams for the watched symbols: store closed candles, "
            "push prices to the pages, mark silent symbols stale (served profile's own process).")

    def add_arguments(self, parser):
        parser.add_argument("--market", choices=MARKETS, action="append",
                            help="spot and/or futures (default: both)")

    def handle(self, *args, **options):
        markets = tuple(options["market"] or MARKETS)
        self.stdout.write(f"Streaming {', '.join(markets)} market data; Ctrl-C stops.")
        asyncio.run(self._run(markets))

    async def _run(self, markets):
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await run_streams(stop, markets)
