from django.core.exceptions import ValidationError
from django.db import models

from marketdata.exchange.filters import SymbolRules

MONEY = {"max_digits": 36, "decimal_places": 18}


class SymbolQuerySet(models.QuerySet):
    def trading(self):
        return self.filter(status=Symbol.TRADING)


class Symbol(models.Model):
    """A Binance symbol with its trading rules, as exchangeInfo last described it."""

    TRADING = "TRADING"

    class Market(models.TextChoices):
        SPOT = "spot", "Spot"
        FUTURES = "futures", "USD-M futures"

    market = models.CharField(max_length=10, choices=Market.choices)
    name = models.CharField(max_length=30)
    status = models.CharField(max_length=20)
    base_asset = models.CharField(max_length=20)
    quote_asset = models.CharField(max_length=20)
    # Denormalised from the filters for lists and admin filtering; `rules()` is the authority.
    tick_size = models.DecimalField(**MONEY, null=True)
    step_size = models.DecimalField(**MONEY, null=True)
    min_qty = models.DecimalField(**MONEY, null=True)
    min_notional = models.DecimalField(**MONEY, null=True)
    exchange_info = models.JSONField(help_text="This symbol's entry in exchangeInfo, verbatim.")
    status_changed_at = models.DateTimeField(null=True)
    synced_at = models.DateTimeField()

    objects = SymbolQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "name"], name="symbol_unique_per_market"),
        ]
        ordering = ["market", "name"]

    def __str__(self):
        return f"{self.name} ({self.market})"

    def rules(self) -> SymbolRules:
        return SymbolRules.from_exchange_info(self.exchange_info)

    @property
    def is_trading(self) -> bool:
        return self.status == self.TRADING

    def take_exchange_info(self, entry: dict) -> None:
        """Copy an exchangeInfo entry's fields (without saving)."""
        rules = SymbolRules.from_exchange_info(entry)
        self.exchange_info = entry
        self.status = rules.status
        self.base_asset, self.quote_asset = rules.base_asset, rules.quote_asset
        self.tick_size = rules.price_filter.tick_size if rules.price_filter else None
        self.step_size = rules.lot_size.step_size if rules.lot_size else None
        self.min_qty = rules.lot_size.min_qty if rules.lot_size else None
        self.min_notional = _min_notional(rules)


def _min_notional(rules: SymbolRules):
    if rules.notional is not None:
        return rules.notional.min_notional
    if rules.min_notional is not None:
        return rules.min_notional.min_notional
    return None


class SymbolStatusChange(models.Model):
    """A symbol going to BREAK, HALT, END_OF_DAY… or back to TRADING: new orders stop or resume."""

    symbol = models.ForeignKey(Symbol, on_delete=models.CASCADE, related_name="status_changes")
    old_status = models.CharField(max_length=20)
    new_status = models.CharField(max_length=20)
    changed_at = models.DateTimeField()

    class Meta:
        ordering = ["-changed_at"]

    def __str__(self):
        return f"{self.symbol.name}: {self.old_status} → {self.new_status}"


INTERVALS = ["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d",
             "1w", "1M"]


class Kline(models.Model):
    """One candle, exactly as Binance's klines endpoint and data dumps describe it."""

    market = models.CharField(max_length=10, choices=Symbol.Market.choices, default="spot")
    symbol = models.CharField(max_length=30)
    interval = models.CharField(max_length=3, choices=[(i, i) for i in INTERVALS])
    open_time = models.DateTimeField()
    close_time = models.DateTimeField()
    open = models.DecimalField(**MONEY)
    high = models.DecimalField(**MONEY)
    low = models.DecimalField(**MONEY)
    close = models.DecimalField(**MONEY)
    volume = models.DecimalField(**MONEY)
    quote_volume = models.DecimalField(**MONEY, null=True)
    trades = models.BigIntegerField(null=True)
    taker_buy_base = models.DecimalField(**MONEY, null=True)
    taker_buy_quote = models.DecimalField(**MONEY, null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "symbol", "interval", "open_time"],
                                    name="kline_unique_candle"),
        ]
        ordering = ["market", "symbol", "interval", "open_time"]

    def __str__(self):
        return f"{self.symbol} {self.interval} {self.open_time:%Y-%m-%d %H:%M}"


class WatchedSymbolQuerySet(models.QuerySet):
    def active(self):
        return self.filter(active=True)


class WatchedSymbol(models.Model):
    """A symbol the stream process follows live (the market overview lists these)."""

    market = models.CharField(max_length=10, choices=Symbol.Market.choices, default="spot")
    symbol = models.CharField(max_length=30)
    intervals = models.CharField(max_length=100, default="1m",
                                 help_text="Candle intervals to stream, comma-separated.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WatchedSymbolQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["market", "symbol"], name="watched_symbol_unique"),
        ]
        ordering = ["market", "symbol"]

    def __str__(self):
        return f"{self.symbol} ({self.market}: {self.intervals})"

    def interval_list(self) -> list[str]:
        return [i.strip() for i in self.intervals.split(",") if i.strip()]

    def clean(self):
        unknown = [i for i in self.interval_list() if i not in INTERVALS]
        if unknown or not self.interval_list():
            raise ValidationError({"intervals": f"Use Binance intervals: {', '.join(INTERVALS)}"})
        self.symbol = self.symbol.upper().strip()
