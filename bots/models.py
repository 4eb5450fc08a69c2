"""Bots: a strategy with parameters, trading one symbol of one portfolio on closed candles,
and the log of what it decided on each candle (at most one decision per bot and candle)."""

from django.conf import settings
from django.db import models

from marketdata.models import INTERVALS
from portfolios.models import Portfolio


class BotQuerySet(models.QuerySet):
    def owned_by(self, user):
        if not getattr(user, "is_authenticated", False):  # anonymous: owns nothing
            return self.none()
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
    # Human in the loop: entries above this quote amount, or below this confidence (for a
    # strategy that has one, such as ai_combined), wait for the owner's approval.
    approval_above_quote = models.DecimalField(
        max_digits=30, decimal_places=10, null=True, blank=True,
        help_text="entries spending more than this (quote) wait for approval; empty: none")
    approval_below_confidence = models.FloatField(
        null=True, blank=True,
        help_text="entries with a confidence below this (0..1) wait for approval; empty: none")
    approval_minutes = models.PositiveIntegerField(
        default=15, help_text="a waiting entry expires after this many minutes")
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
        QUEUED = "queued", "waits for approval"
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


class TradeApprovalQuerySet(models.QuerySet):
    def owned_by(self, user):
        if not getattr(user, "is_authenticated", False):  # anonymous: owns nothing
            return self.none()
        return self.filter(bot__portfolio__owner=user)

    def pending(self):
        return self.filter(status=TradeApproval.Status.PENDING)

    def due(self, now):
        return self.pending().filter(expires_at__lte=now)


class TradeApproval(models.Model):
    """An entry a bot proposed that waits for its owner (above the bot's size threshold or
    below its confidence threshold). Approving it places the order then, after the same
    pre-trade checks; it expires if nobody decides in time."""

    class Status(models.TextChoices):
        PENDING = "pending", "waiting for approval"
        APPROVED = "approved", "approved: order placed"
        REJECTED = "rejected", "rejected"
        EXPIRED = "expired", "expired"
        WITHDRAWN = "withdrawn", "withdrawn by the bot"
        REFUSED = "refused", "approved, but refused by a check"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="approvals")
    decision = models.ForeignKey(BotDecision, on_delete=models.CASCADE,
                                 related_name="approvals")
    side = models.CharField(max_length=4)
    order_type = models.CharField(max_length=6)
    tag = models.CharField(max_length=40, blank=True)
    quote_amount = models.DecimalField(max_digits=30, decimal_places=10,
                                       help_text="what the entry would spend (quote)")
    price = models.DecimalField(max_digits=30, decimal_places=10, null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    reason = models.TextField(help_text="why the strategy wants it")
    waits_because = models.CharField(max_length=300)
    analysis = models.ForeignKey("AISymbolAnalysis", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="approvals",
                                 help_text="the stored AI analysis the bot read")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    outcome_note = models.CharField(max_length=500, blank=True)
    order = models.OneToOneField("orders.Order", null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="approval")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TradeApprovalQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["status", "expires_at"])]
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.bot.name}: {self.side} {self.quote_amount} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


# --- AI-assisted analysis (bots.ai stores what bots.analysis computes) -------------------------

class NewsFeed(models.Model):
    """An RSS or Atom feed polled for headlines (configured by staff in the admin)."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500, unique=True)
    enabled = models.BooleanField(default=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_problem = models.CharField(max_length=500, blank=True,
                                    help_text="why the last poll failed or was malformed")
    last_item_count = models.PositiveIntegerField(default=0)
    etag = models.CharField(max_length=200, blank=True)  # conditional GET: unchanged = 304
    modified = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class SentimentItemQuerySet(models.QuerySet):
    def about(self, symbol: str):
        return self.filter(symbol=symbol)

    def between(self, start, end):
        return self.filter(published_at__gt=start, published_at__lte=end)


class SentimentItem(models.Model):
    """One scored input about one symbol, as known at ``published_at`` (point in time: a
    backtest replays these, never rescoring with hindsight)."""

    class Source(models.TextChoices):
        NEWS = "news", "news"
        MARKET = "market", "market (price action)"
        MANUAL = "manual", "manual note"

    source = models.CharField(max_length=10, choices=Source.choices)
    symbol = models.CharField(max_length=30)
    score = models.FloatField(help_text="-1 (negative) .. 1 (positive)")
    text = models.TextField()
    link = models.URLField(max_length=1000, blank=True)
    guid = models.CharField(max_length=300, blank=True, help_text="the feed entry's id")
    feed = models.ForeignKey(NewsFeed, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="items")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="sentiment_notes")
    published_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SentimentItemQuerySet.as_manager()

    class Meta:
        constraints = [
            # A headline is stored once per symbol, however often its feed is polled.
            models.UniqueConstraint(fields=["source", "guid", "symbol"],
                                    condition=~models.Q(guid=""),
                                    name="sentiment_item_once_per_symbol"),
            models.CheckConstraint(condition=models.Q(score__gte=-1) & models.Q(score__lte=1),
                                   name="sentiment_score_in_range"),
        ]
        indexes = [models.Index(fields=["symbol", "published_at"])]
        ordering = ["-published_at"]

    def __str__(self):
        return f"{self.symbol} {self.source} {self.score:+.2f}: {self.text[:60]}"


class TechnicalAnalysisRecord(models.Model):
    """``bots.analysis.technical.TechnicalAnalysis`` of one symbol and interval at one candle
    close, stored whole in ``data``; the columns are what lists filter and sort by."""

    symbol = models.CharField(max_length=30)
    market = models.CharField(max_length=10, default="spot")
    interval = models.CharField(max_length=3)
    as_of = models.DateTimeField(help_text="the close of the last candle analysed")
    close = models.DecimalField(max_digits=30, decimal_places=10)
    trend = models.CharField(max_length=10)
    strength = models.FloatField()
    score = models.FloatField(help_text="signed trend strength, -1..1")
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "symbol", "interval", "as_of"],
                                    name="technical_analysis_once_per_close"),
        ]
        ordering = ["-as_of"]

    def __str__(self):
        return f"{self.symbol} {self.interval} @ {self.as_of:%Y-%m-%d %H:%M}: {self.trend}"


class AdvisorCall(models.Model):
    """One question to the local LLM advisor and what came of it, whatever happened."""

    class Outcome(models.TextChoices):
        ANSWERED = "answered", "answered"
        INVALID_JSON = "invalid_json", "answer was not JSON"
        INVALID_ANSWER = "invalid_answer", "answer broke the schema"
        TIMEOUT = "timeout", "timed out"
        UNREACHABLE = "unreachable", "server unreachable"
        ERROR = "error", "error"
        DISABLED = "disabled", "advisor off"

    symbol = models.CharField(max_length=30)
    outcome = models.CharField(max_length=15, choices=Outcome.choices)
    prompt_version = models.CharField(max_length=30)
    messages = models.JSONField(default=list, help_text="the prompt as sent")
    inputs = models.JSONField(default=dict, help_text="what the prompt was built from")
    model = models.CharField(max_length=100, blank=True)
    model_digest = models.CharField(max_length=100, blank=True)
    raw_output = models.TextField(blank=True)
    advice = models.JSONField(null=True, blank=True, help_text="the parsed, validated answer")
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["symbol", "created_at"])]
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.symbol} {self.model or 'advisor'}: {self.outcome}"

    @property
    def fell_back(self) -> bool:
        return self.outcome != self.Outcome.ANSWERED


class AISymbolAnalysis(models.Model):
    """The combined view of one symbol at one moment: the technical score, the sentiment
    aggregate (score, confidence, per source, the items it read), the advisor's answer and the
    combined result, with the reasoning in words. Point in time: ``as_of``."""

    symbol = models.CharField(max_length=30)
    market = models.CharField(max_length=10, default="spot")
    interval = models.CharField(max_length=3)
    as_of = models.DateTimeField()
    technical = models.ForeignKey(TechnicalAnalysisRecord, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="analyses")
    technical_score = models.FloatField(default=0.0)
    sentiment_score = models.FloatField(default=0.0)
    sentiment_confidence = models.FloatField(default=0.0)
    per_source = models.JSONField(default=dict, blank=True)
    sources = models.JSONField(default=list, blank=True,
                               help_text="the sentiment items read: id, source, score, text")
    advisor = models.ForeignKey(AdvisorCall, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="analyses")
    combined_score = models.FloatField(default=0.0)
    action = models.CharField(max_length=4, default="hold")
    confidence = models.FloatField(default=0.0)
    reasoning = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["market", "symbol", "interval", "as_of"])]
        ordering = ["-as_of"]
        verbose_name_plural = "AI symbol analyses"

    def __str__(self):
        score = f"{self.combined_score:+.2f}"
        return f"{self.symbol} @ {self.as_of:%Y-%m-%d %H:%M}: {self.action} ({score})"
