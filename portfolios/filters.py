"""List filters for exchange keys and portfolios (the types and their rules:
tradingsite.filters)."""

from django_filters import rest_framework as filters

from portfolios.models import ExchangeAccount, Portfolio
from tradingsite.filters import FoldedChoiceFilter, YesNoFilter


class ExchangeAccountFilter(filters.FilterSet):
    mode = FoldedChoiceFilter(choices=ExchangeAccount.Mode.choices)
    market = FoldedChoiceFilter(choices=ExchangeAccount.Market.choices)

    class Meta:
        model = ExchangeAccount
        fields = ("mode", "market")


class PortfolioFilter(filters.FilterSet):
    mode = FoldedChoiceFilter(choices=Portfolio.Mode.choices)
    active = YesNoFilter(help_text="true: the active portfolios, false: the inactive ones")

    class Meta:
        model = Portfolio
        fields = ("mode", "active")
