"""The risk API's list filters (the types and their rules: tradingsite.filters)."""

from django_filters import rest_framework as filters

from risk.models import EmergencyStop, EntryBlock, RiskAlert, RiskLimit
from tradingsite.filters import FoldedChoiceFilter, IdFilter, YesNoFilter


def _portfolio():
    return IdFilter(noun="a portfolio")


class RiskLimitFilter(filters.FilterSet):
    portfolio = _portfolio()

    class Meta:
        model = RiskLimit
        fields = ("portfolio",)


class RiskAlertFilter(filters.FilterSet):
    active = YesNoFilter(field_name="resolved_at", lookup_expr="isnull",
                         help_text="true: the alerts whose breach lasts, false: the resolved")
    portfolio = _portfolio()
    severity = FoldedChoiceFilter(choices=RiskAlert.Severity.choices)

    class Meta:
        model = RiskAlert
        fields = ("active", "portfolio", "severity")


class EntryBlockFilter(filters.FilterSet):
    all = YesNoFilter(method="filter_all",
                      help_text="true: the cleared blocks too (by default the active ones)")
    portfolio = _portfolio()

    class Meta:
        model = EntryBlock
        fields = ("all", "portfolio")

    def filter_queryset(self, queryset):
        # The list's default, not a filter on a field: absent or false, the active blocks.
        if not self.form.cleaned_data.get("all"):
            queryset = queryset.active()
        return super().filter_queryset(queryset)

    def filter_all(self, queryset, name, value: bool):
        return queryset  # applied in filter_queryset, where "absent" is seen too


class EmergencyStopFilter(filters.FilterSet):
    status = FoldedChoiceFilter(choices=EmergencyStop.Status.choices)
    portfolio = _portfolio()

    class Meta:
        model = EmergencyStop
        fields = ("status", "portfolio")
