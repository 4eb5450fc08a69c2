"""List filters for bots, approvals and the AI API (the types and their rules:
tradingsite.filters)."""

from django_filters import rest_framework as filters

from bots.models import AdvisorCall, AISymbolAnalysis, Bot, SentimentItem, TradeApproval
from tradingsite.filters import FoldedCharFilter, FoldedChoiceFilter, IdFilter, TimeFilter


def _symbol():
    return FoldedCharFilter(help_text="e.g. BTCUSDT, in any case")


def _since_until(field_name: str) -> tuple[TimeFilter, TimeFilter]:
    """Inclusive bounds on `field_name`; a time without a zone is UTC."""
    return tuple(TimeFilter(field_name=field_name, lookup_expr=lookup,
                            help_text=f"{field_name} {words} this time (UTC if it names no zone)")
                 for lookup, words in (("gte", "at or after"), ("lte", "at or before")))


class BotFilter(filters.FilterSet):
    status = FoldedChoiceFilter(choices=Bot.Status.choices)
    portfolio = IdFilter(noun="a portfolio")

    class Meta:
        model = Bot
        fields = ("status", "portfolio")


class TradeApprovalFilter(filters.FilterSet):
    status = FoldedChoiceFilter(choices=TradeApproval.Status.choices)
    bot = IdFilter(noun="a bot")

    class Meta:
        model = TradeApproval
        fields = ("status", "bot")


class AnalysisFilter(filters.FilterSet):
    symbol = _symbol()
    market = FoldedCharFilter(fold=str.lower, help_text="spot or futures")
    # Not folded: 1m (minute) is not 1M (month).
    interval = filters.CharFilter(help_text="the candles', e.g. 1h")
    action = FoldedCharFilter(fold=str.lower, help_text="buy, sell or hold")
    since, until = _since_until("as_of")

    class Meta:
        model = AISymbolAnalysis
        fields = ("symbol", "market", "interval", "action", "since", "until")


class AdvisorCallFilter(filters.FilterSet):
    symbol = _symbol()
    outcome = FoldedChoiceFilter(choices=AdvisorCall.Outcome.choices)

    class Meta:
        model = AdvisorCall
        fields = ("symbol", "outcome")


class SentimentItemFilter(filters.FilterSet):
    symbol = _symbol()
    source = FoldedChoiceFilter(choices=SentimentItem.Source.choices)
    since, until = _since_until("published_at")

    class Meta:
        model = SentimentItem
        fields = ("symbol", "source", "since", "until")


class NoteFilter(filters.FilterSet):
    symbol = _symbol()

    class Meta:
        model = SentimentItem
        fields = ("symbol",)
