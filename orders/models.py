"""Orders, fills, positions and balances: the books. Every amount is a Decimal.

An order is written with our own `client_order_id` before anything is sent, and its status only
ever moves forward (`Order.can_become`). Fills are one row per exchange trade, so booking the
same trade twice is impossible, and an order's executed quantity is derived from its fills.
"""

import uuid
from decimal import Decimal

from django.db import models
from django.db.models import Q

from marketdata.models import MONEY
from orders.accounting import FillAmounts
from portfolios.models import Portfolio

ZERO = Decimal("0")


def new_client_order_id() -> str:
    # Binance allows ^[a-zA-Z0-9-_]{1,36}$ (spot) and a similar 36-character set (futures).
    return "ts-" + uuid.uuid4().hex[:29]


class OrderStatus(models.TextChoices):
    CREATED = "CREATED", "created (saved, not sent)"
    SUBMITTING = "SUBMITTING", "submitting"
    UNKNOWN = "UNKNOWN", "unknown outcome (being checked)"
    NEW = "NEW", "open"
    PARTIALLY_FILLED = "PARTIALLY_FILLED", "partially filled"
    PENDING_CANCEL = "PENDING_CANCEL", "cancel requested"
    FILLED = "FILLED", "filled"
    CANCELED = "CANCELED", "cancelled"
    REJECTED = "REJECTED", "rejected"
    EXPIRED = "EXPIRED", "expired"


S = OrderStatus
# How far along an order is; a status may only be replaced by one further along.
STATUS_RANK = {S.CREATED: 0, S.SUBMITTING: 1, S.UNKNOWN: 2, S.NEW: 3, S.PARTIALLY_FILLED: 4,
               S.PENDING_CANCEL: 5, S.FILLED: 9, S.CANCELED: 9, S.REJECTED: 9, S.EXPIRED: 9}
TERMINAL_STATUSES = (S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED)
# Binance's statuses mapped onto ours (EXPIRED_IN_MATCH: self-trade prevention).
EXCHANGE_STATUS = {"NEW": S.NEW, "PARTIALLY_FILLED": S.PARTIALLY_FILLED, "FILLED": S.FILLED,
                   "CANCELED": S.CANCELED, "PENDING_CANCEL": S.PENDING_CANCEL,
                   "REJECTED": S.REJECTED, "EXPIRED": S.EXPIRED, "EXPIRED_IN_MATCH": S.EXPIRED}


class OrderQuerySet(models.QuerySet):
    def open(self):
        return self.exclude(status__in=TERMINAL_STATUSES)

    def unresolved(self):
        """Sent, or maybe sent, with no answer we could trust: the reconciler's work."""
        return self.filter(status__in=[S.SUBMITTING, S.UNKNOWN, S.PENDING_CANCEL])

    def owned_by(self, user):
        if not getattr(user, "is_authenticated", False):  # anonymous: owns nothing
            return self.none()
        return self.filter(portfolio__owner=user)


class Order(models.Model):
    class Side(models.TextChoices):
        BUY = "BUY"
        SELL = "SELL"

    class Type(models.TextChoices):
        MARKET = "MARKET"
        LIMIT = "LIMIT"
        LIMIT_MAKER = "LIMIT_MAKER"
        STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
        TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"
        STOP_MARKET = "STOP_MARKET"
        TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"
        TRAILING_STOP_MARKET = "TRAILING_STOP_MARKET"

    class Source(models.TextChoices):
        MANUAL = "manual", "a trader's page"
        API = "api", "the API"
        ADMIN = "admin", "the admin"
        BOT = "bot", "a bot"
        EXTERNAL = "external", "placed outside the platform"

    portfolio = models.ForeignKey(Portfolio, on_delete=models.PROTECT, related_name="orders")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    bot = models.ForeignKey("bots.Bot", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="orders")
    decision = models.ForeignKey("bots.BotDecision", on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="orders")
    tag = models.CharField(max_length=40, blank=True,
                           help_text="a bot's name for the order (entry, exit, grid-3, ...)")
    market = models.CharField(max_length=10, default="spot")
    symbol = models.CharField(max_length=30)
    side = models.CharField(max_length=4, choices=Side.choices)
    type = models.CharField(max_length=25, choices=Type.choices)
    quantity = models.DecimalField(**MONEY, null=True, blank=True)
    quote_quantity = models.DecimalField(**MONEY, null=True, blank=True,
                                         help_text="MARKET orders by amount to spend/receive")
    price = models.DecimalField(**MONEY, null=True, blank=True)
    stop_price = models.DecimalField(**MONEY, null=True, blank=True)
    callback_rate = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True,
                                        help_text="futures trailing stop: percent, 0.1 to 10")
    activation_price = models.DecimalField(**MONEY, null=True, blank=True,
                                           help_text="futures trailing stop: starts trailing "
                                           "once the price reaches this")
    time_in_force = models.CharField(max_length=3, blank=True)
    reduce_only = models.BooleanField(default=False)
    position_side = models.CharField(max_length=5, blank=True)
    client_order_id = models.CharField(max_length=36, unique=True, default=new_client_order_id)
    list_client_order_id = models.CharField(max_length=36, blank=True, db_index=True,
                                            help_text="OCO: our id of the order list; its "
                                            "other leg carries the same")
    exchange_order_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=S.CREATED)
    executed_qty = models.DecimalField(**MONEY, default=ZERO)
    cumulative_quote = models.DecimalField(**MONEY, default=ZERO)
    reason = models.CharField(max_length=300, blank=True,
                              help_text="Why it was rejected, or what is unknown about it")
    resolve_attempts = models.PositiveIntegerField(default=0)
    risk_check = models.CharField(max_length=10, blank=True,
                                  help_text="the pre-trade check: approve, reduce or exit")
    risk_note = models.CharField(max_length=500, blank=True,
                                 help_text="the pre-trade check's verdict, in words")
    stop_triggered = models.BooleanField(default=False, help_text="paper: the stop has fired")
    reserved = models.DecimalField(**MONEY, default=ZERO,
                                   help_text="funds still locked for this order (paper)")
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(
        null=True, blank=True, help_text="when Binance's answer to our send arrived (not set "
                                         "for an order found by a query after an unknown outcome)")
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__isnull=False) | Q(quote_quantity__isnull=False),
                name="order_has_an_amount"),
        ]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["portfolio", "symbol"])]
        ordering = ["-created_at"]

    def __str__(self):
        amount = self.quantity if self.quantity is not None else f"{self.quote_quantity} quote"
        return f"{self.side} {amount} {self.symbol} {self.type} [{self.status}]"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    def can_become(self, status: str) -> bool:
        """Statuses never go backwards: a late PARTIALLY_FILLED cannot undo a FILLED."""
        if self.is_terminal:
            return False
        return STATUS_RANK[status] > STATUS_RANK[self.status]

    @property
    def average_price(self) -> Decimal | None:
        return self.cumulative_quote / self.executed_qty if self.executed_qty else None

    def other_leg(self) -> "Order | None":
        """An OCO leg's sibling (filling or cancelling one ends both)."""
        if not self.list_client_order_id:
            return None
        return (Order.objects.filter(list_client_order_id=self.list_client_order_id)
                .exclude(pk=self.pk).first())


class Fill(models.Model):
    """One exchange trade of one order; unique per venue, symbol and trade id."""

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="fills")
    venue = models.CharField(max_length=80, help_text="live, testnet, local:host:port or paper")
    market = models.CharField(max_length=10, default="spot")
    symbol = models.CharField(max_length=30)
    trade_id = models.BigIntegerField()
    side = models.CharField(max_length=4)
    price = models.DecimalField(**MONEY)
    quantity = models.DecimalField(**MONEY)
    quote_quantity = models.DecimalField(**MONEY)
    commission = models.DecimalField(**MONEY, default=ZERO)
    commission_asset = models.CharField(max_length=20, blank=True)
    is_maker = models.BooleanField(default=False)
    executed_at = models.DateTimeField()
    booked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["venue", "market", "symbol", "trade_id"],
                                    name="fill_once_per_trade"),
        ]
        ordering = ["executed_at", "trade_id"]

    def __str__(self):
        return f"{self.side} {self.quantity} {self.symbol} @ {self.price} (trade {self.trade_id})"

    def amounts(self) -> FillAmounts:
        """This fill as the pure accounting functions take it."""
        return FillAmounts(side=self.side, price=self.price, quantity=self.quantity,
                           quote_quantity=self.quote_quantity, commission=self.commission,
                           commission_asset=self.commission_asset)


class Position(models.Model):
    """Average-cost position of one portfolio in one symbol.

    `cost` is what the held quantity cost in the quote asset, fees included; reducing the
    position takes cost away in proportion, so closing it entirely takes exactly all of it.
    """

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="positions")
    market = models.CharField(max_length=10, default="spot")
    symbol = models.CharField(max_length=30)
    quantity = models.DecimalField(**MONEY, default=ZERO)
    cost = models.DecimalField(**MONEY, default=ZERO)
    realised_pnl = models.DecimalField(**MONEY, default=ZERO)
    fees_paid = models.DecimalField(**MONEY, default=ZERO, help_text="in the quote asset")
    # Futures: what Binance last reported, beside what our fills add up to (never overwritten
    # by it: a report racing a fill would count the fill twice).
    exchange_quantity = models.DecimalField(**MONEY, null=True, blank=True)
    exchange_entry_price = models.DecimalField(**MONEY, null=True, blank=True)
    exchange_checked_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "market", "symbol"],
                                    name="position_unique_symbol"),
        ]
        ordering = ["portfolio_id", "symbol"]

    def __str__(self):
        return f"{self.quantity} {self.symbol} in {self.portfolio}"

    @property
    def average_entry(self) -> Decimal | None:
        return self.cost / self.quantity if self.quantity else None

    def unrealised_pnl(self, last_price: Decimal) -> Decimal:
        # Futures keep a signed cost (see orders.accounting), so one formula fits both sides.
        return self.quantity * last_price - self.cost

    @property
    def differs_from_exchange(self) -> bool:
        return self.exchange_quantity is not None and self.exchange_quantity != self.quantity


class Balance(models.Model):
    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE, related_name="balances")
    asset = models.CharField(max_length=20)
    free = models.DecimalField(**MONEY, default=ZERO)
    locked = models.DecimalField(**MONEY, default=ZERO)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "asset"], name="balance_unique_asset"),
            models.CheckConstraint(condition=Q(free__gte=0) & Q(locked__gte=0),
                                   name="balance_not_negative"),
        ]
        ordering = ["portfolio_id", "asset"]

    def __str__(self):
        return f"{self.asset}: {self.free} free, {self.locked} locked"

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


class FuturesSetting(models.Model):
    """A portfolio's leverage and margin type for one USD-M symbol, as last set on Binance."""

    class MarginType(models.TextChoices):
        CROSSED = "CROSSED", "cross"
        ISOLATED = "ISOLATED", "isolated"

    portfolio = models.ForeignKey(Portfolio, on_delete=models.CASCADE,
                                  related_name="futures_settings")
    symbol = models.CharField(max_length=30)
    leverage = models.PositiveSmallIntegerField(default=1)
    margin_type = models.CharField(max_length=8, choices=MarginType.choices,
                                   default=MarginType.CROSSED)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["portfolio", "symbol"],
                                    name="futures_setting_unique_symbol"),
            models.CheckConstraint(condition=Q(leverage__gte=1) & Q(leverage__lte=125),
                                   name="futures_leverage_1_to_125"),
        ]

    def __str__(self):
        return f"{self.symbol} {self.leverage}x {self.get_margin_type_display()}"
