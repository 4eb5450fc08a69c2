"""The symbols list's filters (the types and their rules: tradingsite.filters)."""

from django_filters import rest_framework as filters

from marketdata.models import Symbol
from tradingsite.filters import FoldedCharFilter, FoldedChoiceFilter


class SymbolFilter(filters.FilterSet):
    market = FoldedChoiceFilter(choices=Symbol.Market.choices)
    status = FoldedCharFilter(help_text="Binance's status, e.g. TRADING, BREAK")
    quote = FoldedCharFilter(field_name="quote_asset", help_text="the quote asset, e.g. USDT")
    q = filters.CharFilter(field_name="name", lookup_expr="icontains",
                           help_text="part of the symbol's name, e.g. BTC")

    class Meta:
        model = Symbol
        fields = ("market", "status", "quote", "q")
