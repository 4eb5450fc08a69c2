"""The backtest and optimisation lists' filters (the types and their rules:
tradingsite.filters)."""

from django_filters import rest_framework as filters

from backtests.models import BacktestRun, OptimisationRun, WorkerRun
from tradingsite.filters import FoldedCharFilter, FoldedChoiceFilter


class BacktestRunFilter(filters.FilterSet):
    status = FoldedChoiceFilter(choices=WorkerRun.Status.choices)
    # Not folded: a strategy's name is what it was registered as (sma_cross).
    strategy = filters.CharFilter(help_text="a registered strategy's name, e.g. sma_cross")
    symbol = FoldedCharFilter(help_text="e.g. BTCUSDT, in any case")

    class Meta:
        model = BacktestRun
        fields = ("status", "strategy", "symbol")


class OptimisationRunFilter(BacktestRunFilter):
    kind = FoldedChoiceFilter(choices=OptimisationRun.Kind.choices)

    class Meta:
        model = OptimisationRun
        fields = ("status", "kind", "strategy", "symbol")
