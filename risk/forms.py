from django import forms

from bots.models import Bot
from portfolios.models import Portfolio
from risk.models import LIMIT_FIELDS, RiskLimit


class RiskLimitForm(forms.ModelForm):
    """A trader's own limit: scoped to one of their portfolios (or all of them), optionally
    to one symbol or one of their bots."""

    class Meta:
        model = RiskLimit
        fields = ["portfolio", "symbol", "bot", *LIMIT_FIELDS, "on_breach", "note"]

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.owner = owner
        self.fields["portfolio"].queryset = Portfolio.objects.owned_by(owner)
        self.fields["portfolio"].empty_label = "all my portfolios"
        self.fields["bot"].queryset = Bot.objects.owned_by(owner)
        self.fields["bot"].empty_label = "any bot or order"
