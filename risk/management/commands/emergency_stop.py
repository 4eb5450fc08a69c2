from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from portfolios.models import Portfolio
from risk.emergency import emergency_stop
from risk.models import EmergencyStop

# Exit codes: 1 for bad arguments (CommandError's default), 2 when orders are still open.
INCOMPLETE_EXIT_CODE = 2


class Command(BaseCommand):
    help = ("Emergency stop: block new entries, pause the bots, cancel every open order and "
            "optionally close the positions at market, on the portfolios given (or all). "
            "Exits with 2 when orders are still open at the deadline.")

    def add_arguments(self, parser):
        parser.add_argument("--portfolio", type=int, action="append", metavar="ID",
                            help="a portfolio's id (repeat for several)")
        parser.add_argument("--all", action="store_true", help="every active portfolio")
        parser.add_argument("--close-positions", action="store_true",
                            help="also sell (spot) or reduce (futures) every position at market")
        parser.add_argument("--deadline", type=float, default=20.0, metavar="SECONDS",
                            help="how long to keep retrying cancels while Binance fails "
                            "(default 20)")
        parser.add_argument("--by", metavar="USERNAME",
                            help="the platform user to record as having asked for it")

    def handle(self, *args, **options):
        portfolios = self._portfolios(options["portfolio"] or [], everything=options["all"])
        if options["deadline"] < 0:
            raise CommandError("--deadline must be 0 or more seconds")
        stop = emergency_stop(portfolios=portfolios, requested_by=self._user(options["by"]),
                              via="command", close_positions=options["close_positions"],
                              deadline_seconds=options["deadline"])
        for step in stop.steps.all():
            detail = f" ({step.detail})" if step.detail else ""
            self.stdout.write(f"{step.get_kind_display()}: {step.target}: "
                              f"{step.get_outcome_display()}{detail}")
        self.stdout.write(f"emergency stop #{stop.pk} of {stop.scope}: "
                          f"{stop.get_status_display()}. {stop.summary}")
        if stop.status == EmergencyStop.Status.INCOMPLETE:
            raise CommandError(f"orders are still open: the beat keeps retrying them; "
                               f"{stop.summary}", returncode=INCOMPLETE_EXIT_CODE)

    def _portfolios(self, ids: list[int], *, everything: bool):
        if bool(ids) == everything:
            raise CommandError("give --portfolio ID (repeatable) or --all, not both and not "
                               "neither")
        if everything:
            return None
        found = {p.pk: p for p in Portfolio.objects.filter(pk__in=ids)}
        missing = sorted(set(ids) - set(found))
        if missing:
            raise CommandError(f"no portfolio with id {', '.join(map(str, missing))}: "
                               "nothing was stopped")
        return list(found.values())

    def _user(self, username: str | None):
        if not username:
            return None
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}: nothing was stopped")
        return user
