"""Backtest runs: what a trader asked for (strategy, parameters, symbol, range, costs), how far
the worker got, and the engine's report with the code and data it came from."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketdata.models import INTERVALS


class WorkerRunQuerySet(models.QuerySet):
    def owned_by(self, user):
        if not getattr(user, "is_authenticated", False):  # anonymous: owns nothing
            return self.none()
        return self.filter(owner=user)

    def visible_to(self, user):
        """Staff see every run (they run the platform); a trader sees their own."""
        return self.all() if user.is_staff else self.owned_by(user)

    def unfinished(self):
        return self.filter(status__in=self.model.UNFINISHED)


class WorkerRun(models.Model):
    """What every run a worker carries out has: what was asked (strategy, symbol, range,
    settings), how far it got (status, progress, cancel), and what produced its results
    (the candles' hash, the code's version). ``EVENT`` is the progress event's type."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"
        CANCELLED = "cancelled", "cancelled"

    UNFINISHED = (Status.QUEUED, Status.RUNNING)
    EVENT = ""

    strategy = models.CharField(max_length=60, help_text="a registered strategy's name")
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
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    data_hash = models.CharField(max_length=64, blank=True,
                                 help_text="SHA-256 of the candles the run used")
    code_version = models.CharField(max_length=100, blank=True,
                                    help_text="git commit + hash of the strategy's source")
    candle_count = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = WorkerRunQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="%(class)s_owner_created"),
                   models.Index(fields=["status"], name="%(class)s_status")]
        constraints = [
            models.CheckConstraint(condition=Q(progress__gte=0, progress__lte=1),
                                   name="%(class)s_progress_0_1"),
            models.CheckConstraint(condition=Q(start__isnull=True) | Q(end__isnull=True)
                                   | Q(start__lt=models.F("end")),
                                   name="%(class)s_start_before_end",
                                   violation_error_message="the end must be after the start"),
        ]

    @property
    def is_finished(self) -> bool:
        return self.status not in self.UNFINISHED

    def progress_event(self) -> dict:
        """The progress event's data (`EVENT`)."""
        return {"id": self.pk, "status": self.status, "progress": self.progress}


class BacktestRun(WorkerRun):
    """One backtest. ``params`` are the strategy's complete, validated parameters (JSON-ready:
    decimals as strings); ``settings`` the money and costs (cash, fee, fee_asset, slippage_bps,
    sizing, sizing_config). ``results`` is the engine's whole report (already thinned: curves
    of at most a few thousand points); ``metrics`` its headline figures alone, for lists and
    comparisons that should not load every trade. ``data_hash`` and ``code_version`` say
    which candles and which code produced it."""

    EVENT = "backtest.progress"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="backtest_runs")
    portfolio = models.ForeignKey("portfolios.Portfolio", on_delete=models.SET_NULL, null=True,
                                  blank=True, related_name="backtest_runs")
    bot = models.ForeignKey("bots.Bot", on_delete=models.SET_NULL, null=True, blank=True,
                            related_name="backtest_runs",
                            help_text="the live bot this run replays (drift checks)")
    params = models.JSONField(default=dict, blank=True,
                              help_text="complete, checked against the strategy's parameters")
    progress = models.FloatField(default=0.0, help_text="0 to 1")
    celery_task_id = models.CharField(max_length=255, blank=True)
    results = models.JSONField(default=dict, blank=True, help_text="the engine's report")
    metrics = models.JSONField(default=dict, blank=True, help_text="the report's figures")

    def __str__(self):
        return f"#{self.pk} {self.strategy} {self.symbol} {self.interval}"

    @property
    def total_return_pct(self) -> str | None:
        return (self.metrics or {}).get("total_return_pct")

    def trades(self) -> list[dict]:
        """Closed trades, then the position still open at the end (if any), as reported."""
        report = self.results or {}
        still_open = report.get("open_at_end")
        return [*report.get("trades", []), *([still_open] if still_open else [])]

    def repeat_kwargs(self) -> dict:
        """What `backtest_run_create` needs to run this backtest again, as it was asked."""
        return {"owner": self.owner, "strategy": self.strategy, "params": dict(self.params),
                "symbol": self.symbol, "interval": self.interval, "start": self.start,
                "end": self.end, "settings": dict(self.settings), "portfolio": self.portfolio,
                "market": self.market}


class OptimisationRun(WorkerRun):
    """A parameter search: every combination of ``space`` (grid), ``samples`` of them drawn
    with ``seed`` (random), or a walk-forward analysis (the in-sample search of each window
    is a grid, or random when ``samples`` is set). ``space`` holds the ranges as asked: per
    parameter ``{"min", "max", "step"}``, a list of values or null (its declared grid);
    ``fixed`` pins values. The candidates run as chunks on the Celery workers;
    ``chunks_done / chunk_count`` is the progress. ``results``: for a search, the ``top``
    scores best first (see ``TOP_SCORES``), the counts and the ``best`` parameters; for a
    walk-forward run, its windows, stitched out-of-sample curve, metrics and stability."""

    EVENT = "optimisation.progress"
    TOP_SCORES = 50

    class Kind(models.TextChoices):
        GRID = "grid", "grid search"
        RANDOM = "random", "random search"
        WALK_FORWARD = "walk_forward", "walk-forward"

    class Objective(models.TextChoices):  # backtests.engine.optimise.OBJECTIVES
        SHARPE = "sharpe", "Sharpe"
        SORTINO = "sortino", "Sortino"
        CALMAR = "calmar", "Calmar"
        RETURN = "return", "total return"
        RETURN_DRAWDOWN = "return_drawdown", "return / drawdown"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="optimisation_runs")

    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.GRID)
    space = models.JSONField(default=dict, blank=True, help_text='per parameter: {"min", '
                             '"max", "step"}, a list of values, or null (its declared grid)')
    fixed = models.JSONField(default=dict, blank=True, help_text="parameters pinned to a value")
    samples = models.PositiveIntegerField(null=True, blank=True,
                                          help_text="combinations drawn at random")
    seed = models.BigIntegerField(default=0, help_text="the same seed draws the same samples")
    objective = models.CharField(max_length=16, choices=Objective.choices,
                                 default=Objective.SHARPE)
    min_trades = models.PositiveIntegerField(default=0, help_text="fewer trades: not ranked")
    in_sample = models.PositiveIntegerField(null=True, blank=True,
                                            help_text="walk-forward: candles optimised on")
    out_of_sample = models.PositiveIntegerField(null=True, blank=True,
                                                help_text="walk-forward: candles traded after")
    step = models.PositiveIntegerField(null=True, blank=True, help_text="walk-forward: candles "
                                       "between windows (empty: the out-of-sample span)")

    progress = models.FloatField(default=0.0, help_text="0 to 1: chunks done / chunks")
    chunk_count = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    candidate_count = models.PositiveIntegerField(default=0)
    celery_task_id = models.CharField(max_length=255, blank=True, help_text="the start task")
    chord_task_id = models.CharField(max_length=255, blank=True,
                                     help_text="the task that collects the chunks")

    results = models.JSONField(default=dict, blank=True)
    progressed_at = models.DateTimeField(null=True, blank=True,
                                         help_text="when the last chunk finished")

    class Meta(WorkerRun.Meta):
        constraints = [
            *WorkerRun.Meta.constraints,
            models.CheckConstraint(condition=~Q(kind="random") | Q(samples__isnull=False),
                                   name="optimisation_run_random_has_samples",
                                   violation_error_message="random search needs samples"),
            models.CheckConstraint(condition=~Q(kind="walk_forward")
                                   | Q(in_sample__isnull=False, out_of_sample__isnull=False),
                                   name="optimisation_run_walk_forward_has_spans",
                                   violation_error_message="walk-forward needs the in-sample "
                                   "and out-of-sample spans"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.kind} {self.strategy} {self.symbol} {self.interval}"

    @property
    def best_params(self) -> dict | None:
        return (self.results or {}).get("best")

    def top_scores(self) -> list[dict]:
        """The ranked scores kept (best first; ineligible ones last, with why)."""
        return (self.results or {}).get("top", [])

    def repeat_kwargs(self) -> dict:
        """What `optimisation_create` needs to run this optimisation again, as it was asked."""
        return {"owner": self.owner, "strategy": self.strategy, "symbol": self.symbol,
                "interval": self.interval, "start": self.start, "end": self.end,
                "settings": dict(self.settings), "kind": self.kind, "space": dict(self.space),
                "fixed": dict(self.fixed), "objective": self.objective,
                "min_trades": self.min_trades, "samples": self.samples, "seed": self.seed,
                "in_sample": self.in_sample, "out_of_sample": self.out_of_sample,
                "step": self.step, "market": self.market}
