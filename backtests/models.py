"""Backtest runs: what a trader asked for (strategy, parameters, symbol, range, costs), how far
the worker got, and the engine's report with the code and data it came from."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketdata.models import INTERVALS


class BacktestRunQuerySet(models.QuerySet):
    def owned_by(self, user):
        return self.filter(owner=user)

    def visible_to(self, user):
        """Staff see every run (they run the platform); a trader sees their own."""
        return self.all() if user.is_staff else self.owned_by(user)

    def unfinished(self):
        return self.filter(status__in=BacktestRun.UNFINISHED)


class BacktestRun(models.Model):
    """One backtest. ``params`` are the strategy's complete, validated parameters (JSON-ready:
    decimals as strings); ``settings`` the money and costs (cash, fee, fee_asset, slippage_bps,
    sizing, sizing_config). ``results`` is the engine's whole report (already thinned: curves
    of at most a few thousand points); ``metrics`` its headline figures alone, for lists and
    comparisons that should not load every trade. ``data_hash`` and ``code_version`` say
    which candles and which code produced it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    UNFINISHED = (Status.QUEUED, Status.RUNNING)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="backtest_runs")
    portfolio = models.ForeignKey("portfolios.Portfolio", on_delete=models.SET_NULL, null=True,
                                  blank=True, related_name="backtest_runs")
    bot = models.ForeignKey("bots.Bot", on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="backtest_runs",
                            help_text="the live bot this run replays (drift checks)")
    strategy = models.CharField(max_length=60, help_text="a registered strategy's name")
    params = models.JSONField(default=dict, blank=True,
                              help_text="complete, checked against the strategy's parameters")
    symbol = models.CharField(max_length=30)
    market = models.CharField(max_length=10, default="spot")
    interval = models.CharField(max_length=3, choices=[(i, i) for i in INTERVALS])
    start = models.DateTimeField(null=True, blank=True, help_text="first candle (empty: the "
                                 "oldest stored)")
    end = models.DateTimeField(null=True, blank=True, help_text="candles before this moment "
                               "(empty: up to the newest stored)")
    settings = models.JSONField(default=dict, blank=True,
                                help_text="cash, fee, fee_asset, slippage_bps, sizing, "
                                "sizing_config")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    celery_task_id = models.CharField(max_length=255, blank=True)

    results = models.JSONField(default=dict, blank=True, help_text="the engine's report")
    metrics = models.JSONField(default=dict, blank=True, help_text="the report's figures")
    data_hash = models.CharField(max_length=64, blank=True,
                                 help_text="SHA-256 of the candles the run used")
    code_version = models.CharField(max_length=100, blank=True,
                                    help_text="git commit + hash of the strategy's source")
    candle_count = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = BacktestRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["owner", "-created_at"]),
                   models.Index(fields=["status"])]
        constraints = [
            models.CheckConstraint(condition=Q(progress__gte=0, progress__lte=1),
                                   name="backtest_run_progress_0_1"),
            models.CheckConstraint(condition=Q(start__isnull=True) | Q(end__isnull=True)
                                   | Q(start__lt=models.F("end")),
                                   name="backtest_run_start_before_end",
                                   violation_error_message="the end must be after the start"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.strategy} {self.symbol} {self.interval}"

    @property
    def is_finished(self) -> bool:
        return self.status not in self.UNFINISHED

    @property
    def total_return_pct(self) -> str | None:
        return (self.metrics or {}).get("total_return_pct")

    def trades(self) -> list[dict]:
        """Closed trades, then the position still open at the end (if any), as reported."""
        report = self.results or {}
        still_open = report.get("open_at_end")
        return [*report.get("trades", []), *([still_open] if still_open else [])]

    def progress_event(self) -> dict:
        """The `backtest.progress` event's data."""
        return {"id": self.pk, "status": self.status, "progress": self.progress}

    def repeat_kwargs(self) -> dict:
        """What `backtest_run_create` needs to run this backtest again, as it was asked."""
        return {"owner": self.owner, "strategy": self.strategy, "params": dict(self.params),
                "symbol": self.symbol, "interval": self.interval, "start": self.start,
                "end": self.end, "settings": dict(self.settings), "portfolio": self.portfolio}
