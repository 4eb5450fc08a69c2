from decimal import Decimal

from django.db import models
from rest_framework import serializers

from marketdata import live
from marketdata.models import Symbol
from orders.models import Balance, Fill, Order, Position
from portfolios.models import Portfolio

# The types each market takes; the other market's types are refused here, not by Binance.
SPOT_ORDER_TYPES = ["MARKET", "LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]
FUTURES_ORDER_TYPES = ["MARKET", "LIMIT", "STOP_MARKET", "TAKE_PROFIT_MARKET",
                       "TRAILING_STOP_MARKET"]
ORDER_TYPES = {"spot": SPOT_ORDER_TYPES, "futures": FUTURES_ORDER_TYPES}
TIMES_IN_FORCE = ["GTC", "IOC", "FOK"]


def plain(value: Decimal | None) -> str | None:
    """A decimal as a string without exponent or trailing zeros: 0.010000 -> "0.01"."""
    if value is None:
        return None
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class Money(serializers.DecimalField):
    """Decimals as plain strings, whatever the column's scale (ours keep 18 places);
    `places` rounds derived values such as an average entry (cost / quantity repeats)."""

    def __init__(self, max_digits=None, decimal_places=None, places=None, **kwargs):
        super().__init__(max_digits=None, decimal_places=None, **kwargs)
        self.places = places

    def to_representation(self, value):
        if value is not None and self.places is not None:
            value = value.quantize(Decimal(1).scaleb(-self.places))
        return plain(value)


class MoneyModelSerializer(serializers.ModelSerializer):
    serializer_field_mapping = {**serializers.ModelSerializer.serializer_field_mapping,
                                models.DecimalField: Money}


class PortfolioSerializer(MoneyModelSerializer):
    class Meta:
        model = Portfolio
        fields = ["id", "name", "mode", "quote_asset", "exchange_account", "total_budget",
                  "max_budget_per_symbol", "risk_level", "maker_fee", "taker_fee",
                  "slippage_bps", "pay_fees_in_bnb", "active", "created_at"]


class OrderSerializer(MoneyModelSerializer):
    # A method field, not CharField(source="get_status_display"): DRF inspects a callable
    # source's signature on every row, 15 % of an orders page's time.
    status_display = serializers.SerializerMethodField()
    average_price = Money(read_only=True, places=8)
    portfolio_name = serializers.CharField(source="portfolio.name")

    class Meta:
        model = Order
        fields = ["id", "portfolio", "portfolio_name", "client_order_id", "exchange_order_id",
                  "source", "market", "symbol", "side", "type", "quantity", "quote_quantity",
                  "price", "stop_price", "time_in_force", "list_client_order_id",
                  "reduce_only", "callback_rate",
                  "activation_price", "status", "status_display",
                  "executed_qty", "cumulative_quote", "average_price", "reason", "created_at",
                  "submitted_at", "acknowledged_at", "updated_at"]
        read_only_fields = fields

    def get_status_display(self, order: Order) -> str:
        return order.get_status_display()


class OrderPlaceInput(serializers.Serializer):
    """What a client may send to place an order; the portfolio must be the caller's own."""

    portfolio = serializers.IntegerField()
    symbol = serializers.RegexField(r"^[A-Za-z0-9]{2,30}$")
    side = serializers.ChoiceField(choices=Order.Side.choices)
    market = serializers.ChoiceField(choices=Symbol.Market.choices, default="spot")
    type = serializers.ChoiceField(choices=sorted(set(SPOT_ORDER_TYPES + FUTURES_ORDER_TYPES)))
    quantity = serializers.DecimalField(max_digits=36, decimal_places=18, min_value=Decimal(0),
                                        required=False, allow_null=True)
    quote_quantity = serializers.DecimalField(max_digits=36, decimal_places=18,
                                              min_value=Decimal(0), required=False,
                                              allow_null=True)
    price = serializers.DecimalField(max_digits=36, decimal_places=18, min_value=Decimal(0),
                                     required=False, allow_null=True)
    stop_price = serializers.DecimalField(max_digits=36, decimal_places=18,
                                          min_value=Decimal(0), required=False, allow_null=True)
    time_in_force = serializers.ChoiceField(choices=TIMES_IN_FORCE, required=False,
                                            allow_blank=True, default="")
    reduce_only = serializers.BooleanField(default=False, help_text="futures only")
    callback_rate = serializers.DecimalField(max_digits=5, decimal_places=2, required=False,
                                             allow_null=True,
                                             help_text="futures trailing stop, percent")
    activation_price = serializers.DecimalField(max_digits=36, decimal_places=18,
                                                min_value=Decimal(0), required=False,
                                                allow_null=True)

    def validate_portfolio(self, value: int) -> Portfolio:
        portfolio = Portfolio.objects.owned_by(self.context["request"].user).filter(
            pk=value).first()
        if portfolio is None:
            raise serializers.ValidationError("not one of your portfolios")
        return portfolio

    def validate(self, attrs):
        has_quantity = attrs.get("quantity") is not None
        if has_quantity == (attrs.get("quote_quantity") is not None):
            raise serializers.ValidationError("give either a quantity or a quote_quantity")
        if attrs["type"] not in ORDER_TYPES[attrs["market"]]:
            raise serializers.ValidationError({"type": [
                f"{attrs['market']} orders are {', '.join(ORDER_TYPES[attrs['market']])}"]})
        attrs["symbol"] = attrs["symbol"].upper()
        return attrs

    def service_fields(self) -> dict:
        data = dict(self.validated_data)
        data["order_type"] = data.pop("type")
        return data


def _positive_amount(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=36, decimal_places=18, min_value=Decimal(0),
                                    **kwargs)


class OcoPlaceInput(serializers.Serializer):
    """A spot OCO: `price` for the LIMIT_MAKER leg, `stop_price` and `stop_limit_price` for
    the STOP_LOSS_LIMIT leg."""

    portfolio = serializers.IntegerField()
    symbol = serializers.RegexField(r"^[A-Za-z0-9]{2,30}$")
    side = serializers.ChoiceField(choices=Order.Side.choices)
    quantity = _positive_amount()
    price = _positive_amount()
    stop_price = _positive_amount()
    stop_limit_price = _positive_amount()

    validate_portfolio = OrderPlaceInput.validate_portfolio

    def validate_symbol(self, value: str) -> str:
        return value.upper()


class FillSerializer(MoneyModelSerializer):
    class Meta:
        model = Fill
        fields = ["id", "order", "venue", "market", "symbol", "trade_id", "side", "price",
                  "quantity", "quote_quantity", "commission", "commission_asset", "is_maker",
                  "executed_at"]
        read_only_fields = fields


class PositionSerializer(MoneyModelSerializer):
    """A position with its unrealised PnL at the last streamed price (null while unknown)."""

    portfolio_name = serializers.CharField(source="portfolio.name")
    average_entry = Money(read_only=True, places=8)
    last_price = serializers.SerializerMethodField()
    unrealised_pnl = serializers.SerializerMethodField()

    class Meta:
        model = Position
        fields = ["id", "portfolio", "portfolio_name", "market", "symbol", "quantity", "cost",
                  "average_entry", "last_price", "unrealised_pnl", "realised_pnl", "fees_paid",
                  "exchange_quantity", "exchange_entry_price", "exchange_checked_at",
                  "updated_at"]
        read_only_fields = fields

    def _price(self, position: Position) -> Decimal | None:
        return live.last_price(position.market, position.symbol)

    def get_last_price(self, position: Position) -> str | None:
        return plain(self._price(position))

    def get_unrealised_pnl(self, position: Position) -> str | None:
        price = self._price(position)
        if price is None:
            return None
        return plain(position.unrealised_pnl(price).quantize(Decimal("0.00000001")))


class BalanceSerializer(MoneyModelSerializer):
    total = Money(read_only=True)

    class Meta:
        model = Balance
        fields = ["id", "portfolio", "asset", "free", "locked", "total", "updated_at"]
        read_only_fields = fields
