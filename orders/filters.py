"""The orders API's list filters (the types and their rules: tradingsite.filters)."""

from django_filters import rest_framework as filters

from orders.models import Balance, Fill, Order, OrderStatus, Position
from tradingsite.filters import FoldedCharFilter, FoldedChoiceFilter, IdFilter

OPEN = "open"
STATUSES = [(OPEN, "open: not filled, cancelled, rejected or expired yet"),
            *OrderStatus.choices]


def _symbol(field_name="symbol"):
    return FoldedCharFilter(field_name=field_name, help_text="e.g. BTCUSDT, in any case")


def _portfolio(field_name="portfolio"):
    return IdFilter(field_name=field_name, noun="a portfolio")


class OrderFilter(filters.FilterSet):
    status = FoldedChoiceFilter(
        choices=STATUSES, method="filter_status", help_text="open, or a status, in any case",
        error_messages={"invalid_choice": "must be open or one of "
                                          + ", ".join(OrderStatus.values)})
    symbol = _symbol()
    portfolio = _portfolio()

    class Meta:
        model = Order
        fields = ("status", "symbol", "portfolio")

    def filter_status(self, queryset, name, value: str):
        return queryset.open() if value == OPEN else queryset.filter(status=value)


class FillFilter(filters.FilterSet):
    symbol = _symbol()
    portfolio = _portfolio("order__portfolio")
    order = IdFilter(noun="an order")

    class Meta:
        model = Fill
        fields = ("symbol", "portfolio", "order")


class PositionFilter(filters.FilterSet):
    symbol = _symbol()
    portfolio = _portfolio()

    class Meta:
        model = Position
        fields = ("symbol", "portfolio")


class BalanceFilter(filters.FilterSet):
    symbol = FoldedCharFilter(field_name="asset", help_text="the asset, e.g. USDT")
    portfolio = _portfolio()

    class Meta:
        model = Balance
        fields = ("symbol", "portfolio")
