"""Bots: a strategy with parameters, trading one symbol of one portfolio on closed candles,
and the log of what it decided on each candle (at most one decision per bot and candle)."""

from django.db import models

from marketdata.models import INTERVALS
from portfolios.models import Portfolio


class BotQuerySet(models.QuerySet):
    def owned_by(self, user):
        return self.filter(portfolio__owner=user)

    def running(self):
        return self.filter(status=Bot.Status.RUNNING)


class Bot(models.Model):
    class Status(models.TextChoices):
        STOPPED = "stopped", "stopped"
        RUNNING = "running", "running"
        PAUSED = "paused", "paused"
        ERROR = "error", "error"

    class Sizing(models.TextChoices):
        FIXED_QUOTE = "fixed_quote", "a fixed quote amount per entry"
        ALLOCATION_FRACTION = "allocation_fraction", "a fraction of the symbol's allocation"
        RISK_PER_TRADE = "risk_per_trade", "risk a fraction of equity down to the stop"

    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="bots")
    name = models.CharField(max_length=100)
    market = models.CharField(max_length=10, default="spot")
    symbol = models.CharField(max_length=30)
    interval = models.CharField(max_length=3, choices=[(i, i) for i in INTERVALS],
                                default="1m")
    strategy = models.CharField(max_length=60, help_text="a registered strategy's name")
    params = models.JSONField(default=dict, blank=True,
                              help_text="validated against the strategy's parameters")
    sizing = models.CharField(max_length=20, choices=Sizing.choices,
                              default=Sizing.FIXED_QUOTE)
    sizing_config = models.JSONField(default=dict, blank=True,
                                     help_text='e.g. {"amount": "100"} or {"fraction": "0.5"}')
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STOPPED)
    status_reason = models.CharField(max_length=300, blank=True)
    state = models.JSONField(default=dict, blank=True, help_text="the strategy's memory")
    started_at = models.DateTimeField(null=True, blank=True)
    last_tick_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BotQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "name"], name="bot_unique_name"),
        ]
        indexes = [models.Index(fields=["status", "market", "symbol", "interval"])]
        ordering = ["portfolio_id", "name"]

    def __str__(self):
        return f"{self.name} ({self.strategy} on {self.symbol} {self.interval})"

    @property
    def owner_id(self) -> int:
        return self.portfolio.owner_id


class BotDecision(models.Model):
    """What a bot decided on one closed candle: the unique key makes a second tick for the
    same candle (a duplicate, a retry, a late task) a no-op."""

    class Outcome(models.TextChoices):
        ENTER = "enter", "entered"
        EXIT = "exit", "exited"
        ORDERS = "orders", "placed orders"
        HOLD = "hold", "nothing to do"
        SKIPPED = "skipped", "skipped"
        REFUSED = "refused", "refused by a check"
        ERROR = "error", "failed"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="decisions")
    candle_open_time = models.DateTimeField()
    decided_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.HOLD)
    reason = models.TextField(blank=True)
    inputs = models.JSONField(default=dict, blank=True,
                              help_text="the candle and indicator values the strategy saw")
    actions = models.JSONField(default=list, blank=True,
                               help_text="what the strategy asked for, and what became of it")
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "candle_open_time"],
                                    name="decision_once_per_candle"),
        ]
        ordering = ["-candle_open_time"]

    def __str__(self):
        return f"{self.bot.name} @ {self.candle_open_time:%Y-%m-%d %H:%M}: {self.outcome}"
