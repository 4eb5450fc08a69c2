from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from marketdata.exchange.clients import Venue
from marketdata.models import MONEY
from tradingsite import crypto

ZERO = Decimal("0")


class ExchangeAccount(models.Model):
    """A trader's Binance API key. The key and secret are stored encrypted (tradingsite.crypto)
    and shown nowhere but as their last four characters."""

    class Mode(models.TextChoices):
        LIVE = "live", "Binance live"
        TESTNET = "testnet", "Binance testnet"
        LOCAL = "local", "Local Binance (custom base URL)"

    class Market(models.TextChoices):
        SPOT = "spot", "Spot"
        FUTURES = "futures", "USD-M futures"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="exchange_accounts")
    name = models.CharField(max_length=100)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.TESTNET)
    market = models.CharField(max_length=10, choices=Market.choices, default=Market.SPOT)
    base_url = models.URLField(blank=True, help_text="Only for a local Binance, e.g. "
                               "http://127.0.0.1:9100")
    api_key_encrypted = models.TextField(editable=False)
    api_secret_encrypted = models.TextField(editable=False)
    api_key_last4 = models.CharField(max_length=4, editable=False)
    api_secret_last4 = models.CharField(max_length=4, editable=False)
    # What Binance said of the key when it was saved (GET /sapi/v1/account/apiRestrictions).
    can_trade = models.BooleanField(null=True, editable=False)
    can_trade_futures = models.BooleanField(null=True, editable=False)
    ip_restricted = models.BooleanField(null=True, editable=False)
    restrictions_checked_at = models.DateTimeField(null=True, editable=False)
    warning = models.CharField(max_length=300, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="exchange_account_unique_name"),
            models.CheckConstraint(
                condition=~Q(mode="local") | ~Q(base_url=""),
                name="exchange_account_local_needs_base_url",
            ),
        ]
        ordering = ["owner_id", "name"]

    def __str__(self):
        return f"{self.name} ({self.get_mode_display()}, {self.get_market_display()})"

    def set_credentials(self, *, api_key: str, api_secret: str) -> None:
        self.api_key_encrypted = crypto.encrypt(api_key)
        self.api_secret_encrypted = crypto.encrypt(api_secret)
        self.api_key_last4 = crypto.last4(api_key)
        self.api_secret_last4 = crypto.last4(api_secret)

    def credentials(self) -> tuple[str, str]:
        """The plaintext key and secret, for building a client; never for display or logs."""
        return crypto.decrypt(self.api_key_encrypted), crypto.decrypt(self.api_secret_encrypted)

    def reencrypt(self) -> None:
        self.api_key_encrypted = crypto.reencrypt(self.api_key_encrypted)
        self.api_secret_encrypted = crypto.reencrypt(self.api_secret_encrypted)

    @property
    def masked_key(self) -> str:
        return f"…{self.api_key_last4}" if self.api_key_last4 else "…"

    @property
    def masked_secret(self) -> str:
        return f"…{self.api_secret_last4}" if self.api_secret_last4 else "…"

    def venue(self) -> Venue:
        return Venue(mode=self.mode, base_url=self.base_url)


class PortfolioQuerySet(models.QuerySet):
    def owned_by(self, user):
        if not getattr(user, "is_authenticated", False):  # anonymous: owns nothing
            return self.none()
        return self.filter(owner=user)


class Portfolio(models.Model):
    """Money a trader puts to work: paper (simulated fills on real prices), testnet or live."""

    class Mode(models.TextChoices):
        PAPER = "paper", "Paper (simulated fills on real market data)"
        TESTNET = "testnet", "Binance testnet"
        LIVE = "live", "Binance live"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                              related_name="portfolios")
    name = models.CharField(max_length=100)
    quote_asset = models.CharField(max_length=20, default="USDT")
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.PAPER)
    exchange_account = models.ForeignKey(ExchangeAccount, on_delete=models.PROTECT, null=True,
                                         blank=True, related_name="portfolios")
    # Binance's standard spot rates; paper fills charge these too.
    maker_fee = models.DecimalField(max_digits=10, decimal_places=8, default=Decimal("0.001"))
    taker_fee = models.DecimalField(max_digits=10, decimal_places=8, default=Decimal("0.001"))
    pay_fees_in_bnb = models.BooleanField(
        default=False, help_text="paper: pay fees in BNB at Binance's 25% discount while the "
        "portfolio holds enough BNB (otherwise in the received asset, as Binance does)")
    slippage_bps = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0"),
                                       help_text="paper: market fills this much worse, in bps")
    class RiskLevel(models.TextChoices):
        LOW = "low", "low"
        MEDIUM = "medium", "medium"
        HIGH = "high", "high"

    total_budget = models.DecimalField(
        **MONEY, default=ZERO, help_text="in the quote asset: what the portfolio's bots may "
        "commit together (open buy orders plus the cost of what they hold); 0 = none yet")
    max_budget_per_symbol = models.DecimalField(
        **MONEY, default=ZERO, help_text="cap for any one symbol; 0 = only the total budget "
        "(and the symbol's allocation, if it has one)")
    risk_level = models.CharField(max_length=10, choices=RiskLevel.choices,
                                  default=RiskLevel.MEDIUM)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = PortfolioQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="portfolio_unique_name"),
            models.CheckConstraint(
                condition=Q(mode="paper") | Q(exchange_account__isnull=False),
                name="portfolio_exchange_needs_account",
            ),
        ]
        ordering = ["owner_id", "name"]

    def __str__(self):
        return f"{self.name} ({self.get_mode_display()})"

    @property
    def is_paper(self) -> bool:
        return self.mode == self.Mode.PAPER


class SymbolAllocation(models.Model):
    """A share of a portfolio's budget set aside for one symbol: its bots together may commit
    no more than this."""

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE,
                                  related_name="allocations")
    symbol = models.CharField(max_length=30)
    allocated_budget = models.DecimalField(**MONEY)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "symbol"],
                                    name="allocation_unique_symbol"),
            models.CheckConstraint(condition=Q(allocated_budget__gte=0),
                                   name="allocation_not_negative"),
        ]
        ordering = ["portfolio_id", "symbol"]

    def __str__(self):
        return f"{self.symbol}: {self.allocated_budget} of {self.portfolio}"


class EquitySnapshot(models.Model):
    """The portfolio's value at one moment (a beat task takes them): the equity curve."""

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE,
                                  related_name="snapshots")
    taken_at = models.DateTimeField()
    equity = models.DecimalField(**MONEY)
    cash = models.DecimalField(**MONEY)
    positions_value = models.DecimalField(**MONEY)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "taken_at"],
                                    name="snapshot_once_per_moment"),
        ]
        ordering = ["portfolio_id", "taken_at"]

    def __str__(self):
        return f"{self.portfolio} {self.equity} at {self.taken_at:%Y-%m-%d %H:%M}"


class ApiTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A personal API token. Only a hash of it is stored: the token is shown once, when it is
    made, and a lost one is revoked and replaced, never shown again. ``prefix`` (its first
    characters) tells a user's tokens apart on the page and in logs."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="the token's first characters")
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the token")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
