"""Risk: limits and who changed them, protections, alerts, entry blocks and emergency stops.

The checks themselves are pure (`risk.rules`, `risk.protections`); these models store what
they read (limits, protections) and what they caused (alerts, blocks, the stop's audit).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketdata.models import MONEY

USER = settings.AUTH_USER_MODEL
PERCENT = {"max_digits": 9, "decimal_places": 4}

# The RiskLimit fields that hold limits, in the order pages show them.
LIMIT_FIELDS = (
    "max_order_notional", "max_position_notional", "max_open_positions",
    "max_total_exposure", "max_leverage", "max_orders_per_minute", "max_daily_loss",
    "max_daily_loss_pct", "max_drawdown_pct", "max_correlated_exposure",
    "correlation_threshold", "min_free_balance",
)


class BreachAction(models.TextChoices):
    WARN = "warn", "warn only"
    BLOCK_ENTRIES = "block_entries", "block new entries"
    PAUSE_BOTS = "pause_bots", "pause the portfolio's bots (and block entries)"
    EMERGENCY_STOP = "emergency_stop", "emergency stop"


class RiskLimitQuerySet(models.QuerySet):
    def for_order(self, *, portfolio, symbol: str, bot=None):
        """Every limit that applies to an order of ``portfolio`` on ``symbol`` (by ``bot``):
        a limit applies when each scope it names matches (none named: global)."""
        return self.filter(
            Q(owner__isnull=True) | Q(owner_id=portfolio.owner_id),
            Q(portfolio__isnull=True) | Q(portfolio_id=portfolio.pk),
            Q(bot__isnull=True) | Q(bot_id=getattr(bot, "pk", None)),
            Q(symbol="") | Q(symbol=symbol),
        )

    def for_portfolio(self, portfolio):
        """The limits that watch a whole portfolio (no bot or symbol scope): the monitor's."""
        return self.filter(
            Q(owner__isnull=True) | Q(owner_id=portfolio.owner_id),
            Q(portfolio__isnull=True) | Q(portfolio_id=portfolio.pk),
            bot__isnull=True, symbol="",
        )

    def visible_to(self, user):
        return self.filter(Q(owner=user) | Q(portfolio__owner=user) | Q(bot__portfolio__owner=user))


class RiskLimit(models.Model):
    """Limits for one scope. Every scope field left empty widens it: none set is global, an
    owner alone covers all of that user's portfolios, a symbol with a portfolio covers that
    symbol in it. Limits are evaluated per portfolio, and where several rows apply the
    tightest value of each limit wins. An empty limit field means "no limit"."""

    owner = models.ForeignKey(USER, on_delete=models.CASCADE, null=True, blank=True,
                              related_name="risk_limits")
    portfolio = models.ForeignKey("portfolios.Portfolio", on_delete=models.CASCADE, null=True,
                                  blank=True, related_name="risk_limits")
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, null=True, blank=True,
                            related_name="risk_limits")
    symbol = models.CharField(max_length=30, blank=True)

    max_order_notional = models.DecimalField(**MONEY, null=True, blank=True,
                                             help_text="largest single order, in the quote asset")
    max_position_notional = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="largest position in any one symbol (held "
        "plus open entry orders), in the quote asset")
    max_open_positions = models.PositiveIntegerField(null=True, blank=True)
    max_total_exposure = models.DecimalField(**MONEY, null=True, blank=True,
                                             help_text="all positions together")
    max_leverage = models.DecimalField(max_digits=6, decimal_places=2, null=True, blank=True)
    max_orders_per_minute = models.PositiveIntegerField(null=True, blank=True)
    max_daily_loss = models.DecimalField(**MONEY, null=True, blank=True,
                                         help_text="since 00:00 UTC, in the quote asset")
    max_daily_loss_pct = models.DecimalField(**PERCENT, null=True, blank=True,
                                             help_text="% of the equity at 00:00 UTC")
    max_drawdown_pct = models.DecimalField(**PERCENT, null=True, blank=True,
                                           help_text="% below the equity peak")
    max_correlated_exposure = models.DecimalField(
        **MONEY, null=True, blank=True, help_text="symbols whose hourly returns correlate at "
        "the threshold or more count together")
    correlation_threshold = models.DecimalField(max_digits=4, decimal_places=3, null=True,
                                                blank=True, help_text="default 0.8")
    min_free_balance = models.DecimalField(**MONEY, null=True, blank=True,
                                           help_text="quote asset kept free of orders")

    on_breach = models.CharField(max_length=20, choices=BreachAction.choices,
                                 default=BreachAction.WARN,
                                 help_text="what the monitor does when a portfolio breaches "
                                 "a daily loss, drawdown, exposure or free-balance limit")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", editable=False)

    objects = RiskLimitQuerySet.as_manager()

    class Meta:
        ordering = ["owner_id", "portfolio_id", "bot_id", "symbol", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(correlation_threshold__isnull=True)
                                   | Q(correlation_threshold__gt=0,
                                       correlation_threshold__lte=1),
                                   name="risk_limit_threshold_in_0_1"),
        ]

    def __str__(self):
        return f"limits for {self.scope_label}"

    @property
    def scope_label(self) -> str:
        parts = []
        if self.bot_id:
            parts.append(f"bot {self.bot.name}")
        if self.portfolio_id:
            parts.append(f"portfolio {self.portfolio.name}")
        if self.owner_id:
            parts.append(f"user {self.owner}")
        if self.symbol:
            parts.append(self.symbol)
        return ", ".join(parts) or "everyone (global)"

    def limit_values(self) -> dict:
        return {name: getattr(self, name) for name in LIMIT_FIELDS}


class RiskLimitChange(models.Model):
    """One change to a limit: who, when, and each field's old and new value."""

    class Action(models.TextChoices):
        CREATED = "created", "created"
        CHANGED = "changed", "changed"
        DELETED = "deleted", "deleted"

    # No database constraint: a deleted limit's changes keep pointing at its id.
    limit = models.ForeignKey(RiskLimit, on_delete=models.DO_NOTHING, db_constraint=False,
                              null=True, blank=True, related_name="changes")
    scope = models.CharField(max_length=200, help_text="the limit's scope at the time")
    action = models.CharField(max_length=10, choices=Action.choices)
    changes = models.JSONField(default=dict, help_text='{"field": [old, new]}')
    changed_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-changed_at", "-pk"]

    def __str__(self):
        return f"{self.scope} {self.action} by {self.changed_by or 'the system'}"


class ProtectionKind(models.TextChoices):
    STOPLOSS_GUARD = "StoplossGuard", "stop-loss guard"
    COOLDOWN = "CooldownPeriod", "cooldown after an exit"
    LOW_PROFIT = "LowProfitPairs", "low-profit symbol lock"
    MAX_DRAWDOWN = "MaxDrawdown", "max-drawdown lock"


class RiskProtection(models.Model):
    """A protection (risk.protections) for one portfolio, or for every portfolio of its owner
    when ``portfolio`` is empty. ``params`` are the dataclass's fields, durations in
    minutes (e.g. {"trade_limit": 2, "lookback_minutes": 60, "stop_duration_minutes": 30})."""

    owner = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="risk_protections")
    portfolio = models.ForeignKey("portfolios.Portfolio", on_delete=models.CASCADE, null=True,
                                  blank=True, related_name="risk_protections")
    kind = models.CharField(max_length=20, choices=ProtectionKind.choices)
    params = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["owner_id", "portfolio_id", "kind"]

    def __str__(self):
        where = self.portfolio.name if self.portfolio_id else "all portfolios"
        return f"{self.get_kind_display()} on {where}"


class RiskAlertQuerySet(models.QuerySet):
    def active(self):
        return self.filter(resolved_at__isnull=True)

    def unacknowledged(self):
        return self.filter(acknowledged_at__isnull=True)


class RiskAlert(models.Model):
    """A breach the monitor found (or an event worth a trader's attention). An alert stays
    active while its breach lasts, so a breach raises one alert, not one a minute."""

    class Severity(models.TextChoices):
        INFO = "info", "info"
        WARNING = "warning", "warning"
        CRITICAL = "critical", "critical"

    owner = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="risk_alerts")
    portfolio = models.ForeignKey("portfolios.Portfolio", on_delete=models.CASCADE, null=True,
                                  blank=True, related_name="risk_alerts")
    severity = models.CharField(max_length=10, choices=Severity.choices)
    rule = models.CharField(max_length=40)
    message = models.TextField()
    values = models.JSONField(default=dict, blank=True)
    action_taken = models.CharField(max_length=20, choices=BreachAction.choices,
                                    default=BreachAction.WARN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True,
                                        blank=True, related_name="+")

    objects = RiskAlertQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "rule"],
                                    condition=Q(resolved_at__isnull=True),
                                    name="risk_alert_one_active_per_rule"),
        ]

    def __str__(self):
        return f"{self.severity}: {self.rule} on {self.portfolio or 'account'}"

    def as_event(self) -> dict:
        return {"id": self.pk, "portfolio": self.portfolio_id,
                "portfolio_id": self.portfolio_id, "severity": self.severity,
                "rule": self.rule, "message": self.message, "values": self.values,
                "action_taken": self.action_taken, "created_at": self.created_at.isoformat(),
                "acknowledged": self.acknowledged_at is not None,
                "resolved": self.resolved_at is not None}


class EntryBlockQuerySet(models.QuerySet):
    def active(self):
        return self.filter(cleared_at__isnull=True)

    def covering(self, portfolio, symbol: str):
        return self.active().filter(Q(symbol="") | Q(symbol=symbol), portfolio=portfolio)


class EntryBlock(models.Model):
    """New entries on a portfolio (or one of its symbols) wait until this is cleared. Exits
    never wait. Raised by a breach, an emergency stop, or a circuit breaker."""

    class Source(models.TextChoices):
        BREACH = "breach", "risk limit breached"
        EMERGENCY_STOP = "emergency_stop", "emergency stop"
        CIRCUIT = "circuit", "circuit breaker"

    portfolio = models.ForeignKey("portfolios.Portfolio", on_delete=models.CASCADE,
                                  related_name="entry_blocks")
    symbol = models.CharField(max_length=30, blank=True, help_text="empty: every symbol")
    source = models.CharField(max_length=20, choices=Source.choices)
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    objects = EntryBlockQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "symbol", "source"],
                                    condition=Q(cleared_at__isnull=True),
                                    name="entry_block_one_active"),
        ]

    def __str__(self):
        return f"{self.portfolio}: {self.symbol or 'all symbols'} blocked ({self.source})"


class EmergencyStop(models.Model):
    """One run of the emergency stop: who asked, for what, and (in its steps) what became of
    each bot, order and position."""

    class Status(models.TextChoices):
        RUNNING = "running", "running"
        DONE = "done", "done: nothing left open"
        INCOMPLETE = "incomplete", "incomplete: some orders still open"

    requested_by = models.ForeignKey(USER, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    requested_via = models.CharField(max_length=20, help_text="dashboard, admin, api, command, "
                                     "or monitor")
    portfolio = models.ForeignKey("portfolios.Portfolio", on_delete=models.SET_NULL, null=True,
                                  blank=True, related_name="emergency_stops",
                                  help_text="empty: every portfolio in scope")
    scope = models.CharField(max_length=200)
    close_positions = models.BooleanField(default=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    summary = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        return f"emergency stop of {self.scope} ({self.status})"


class EmergencyStopStep(models.Model):
    """One thing the emergency stop did or tried: the audit trail."""

    class Kind(models.TextChoices):
        BLOCK_ENTRIES = "block_entries", "blocked entries"
        PAUSE_BOT = "pause_bot", "paused a bot"
        CANCEL_ORDER = "cancel_order", "cancelled an order"
        CLOSE_POSITION = "close_position", "closed a position"

    class Outcome(models.TextChoices):
        DONE = "done", "done"
        ALREADY = "already", "nothing to do"
        RETRYING = "retrying", "failed, retrying"
        STILL_OPEN = "still_open", "still open"
        FAILED = "failed", "failed"

    stop = models.ForeignKey(EmergencyStop, on_delete=models.CASCADE, related_name="steps")
    at = models.DateTimeField(auto_now_add=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    target = models.CharField(max_length=200)
    order = models.ForeignKey("orders.Order", on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self):
        return f"{self.kind} {self.target}: {self.outcome}"


class AlertChannel(models.Model):
    """Where a user's risk alerts go besides the pages: email and/or a webhook (JSON POST)."""

    owner = models.OneToOneField(USER, on_delete=models.CASCADE,
                                 related_name="alert_channel")
    email = models.BooleanField(default=False, help_text="email alerts to the account's address")
    min_severity = models.CharField(max_length=10, choices=RiskAlert.Severity.choices,
                                    default=RiskAlert.Severity.WARNING)
    webhook_url = models.URLField(blank=True)

    def __str__(self):
        return f"alert channel of {self.owner}"
