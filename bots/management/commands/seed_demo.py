from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from bots.demo import demo_seed, ensure_symbols
from marketdata.exchange.errors import ExchangeError
from portfolios.models import Portfolio

OFFLINE_HINT = (
    "Without internet, run the local Binance replaying candles in real time and point the "
    "platform at it:\n"
    "    .venv/bin/python -m tests.localbinance --port 9100 --realtime\n"
    "    BINANCE_MARKET_DATA_VENUE=http://127.0.0.1:9100 make run")


class Command(BaseCommand):
    help = ("Create a demo paper portfolio (10,000 USDT, BTCUSDT and ETHUSDT allocations) with "
            "two stopped bots for a user (default: the first admin).")

    def add_arguments(self, parser):
        parser.add_argument("--user", help="username to give the demo to")
        parser.add_argument("--first-start", action="store_true",
                            help="only if the platform has no portfolio at all yet (make run)")

    def handle(self, *args, user=None, first_start=False, **options):
        if first_start and Portfolio.objects.exists():
            return
        owner = self._owner(user)
        try:
            ensure_symbols()
        except ExchangeError as error:
            raise CommandError(f"could not fetch the symbols from Binance ({error}).\n"
                               f"{OFFLINE_HINT}") from error
        portfolio, created = demo_seed(owner=owner)
        if not created:
            self.stdout.write(f"{owner.username} has the demo portfolio already.")
            return
        self.stdout.write(self.style.SUCCESS(
            f"Demo ready for {owner.username}: '{portfolio.name}' with 10,000 USDT and two "
            f"stopped bots. Open /bots/ and press Start (they trade once enough candles are "
            f"in: a few minutes after the first start)."))

    def _owner(self, username):
        users = get_user_model().objects
        owner = (users.filter(username=username).first() if username
                 else users.filter(is_superuser=True).order_by("pk").first())
        if owner is None:
            raise CommandError(f"no user {username!r}" if username
                               else "no admin yet: run python manage.py ensure_admin first")
        return owner
