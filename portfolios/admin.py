from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from portfolios.models import EquitySnapshot, ExchangeAccount, Portfolio, SymbolAllocation
from portfolios.services import ExchangeAccountRefused, exchange_account_prepare


class ExchangeAccountForm(forms.ModelForm):
    # A local Binance listens on plain http on loopback; do not assume https.
    base_url = forms.URLField(required=False, assume_scheme="http",
                              help_text=ExchangeAccount._meta.get_field("base_url").help_text)
    # Write-only: what is typed is encrypted on save; nothing is ever rendered back.
    api_key = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False,
                              help_text="Leave empty to keep the stored key.")
    api_secret = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False,
                                 help_text="Leave empty to keep the stored secret.")

    class Meta:
        model = ExchangeAccount
        fields = ["owner", "name", "mode", "market", "base_url"]

    def _post_clean(self):
        super()._post_clean()  # self.instance now carries the form's fields
        if self.errors:
            return
        key, secret = self.cleaned_data.get("api_key"), self.cleaned_data.get("api_secret")
        if self.instance.pk is None and not (key and secret):
            self.add_error(None, "A new account needs both the API key and its secret.")
            return
        try:
            exchange_account_prepare(account=self.instance, api_key=key or None,
                                     api_secret=secret or None)
        except ExchangeAccountRefused as refused:
            self.add_error(None, str(refused))


@admin.register(ExchangeAccount)
class ExchangeAccountAdmin(admin.ModelAdmin):
    form = ExchangeAccountForm
    list_display = ["name", "owner", "mode", "market", "masked_key", "ip_restricted",
                    "warning", "updated_at"]
    list_filter = ["mode", "market"]
    search_fields = ["name", "owner__username"]
    readonly_fields = ["masked_key", "masked_secret", "can_trade", "can_trade_futures",
                       "ip_restricted", "restrictions_checked_at", "warning"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)  # the form already checked the key
        if obj.warning:
            self.message_user(request, obj.warning, messages.WARNING)


class SymbolAllocationInline(admin.TabularInline):
    model = SymbolAllocation
    extra = 1


@admin.register(Portfolio)
class PortfolioAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "mode", "quote_asset", "total_budget",
                    "max_budget_per_symbol", "risk_level", "exchange_account", "active",
                    "created_at"]
    list_filter = ["mode", "active", "risk_level"]
    search_fields = ["name", "owner__username"]
    inlines = [SymbolAllocationInline]
    actions = ["emergency_stop"]

    @admin.action(description="Emergency stop the selected portfolios…")
    def emergency_stop(self, request, queryset):
        """Asks first (a page listing what will stop, with the close-positions choice), then
        runs the stop and shows its outcome; the audit is under Risk › Emergency stops."""
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(request, "admin/risk/emergency_stop_confirm.html", {
                **self.admin_site.each_context(request), "portfolios": queryset,
                "title": "Emergency stop", "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME})
        from risk.emergency import emergency_stop

        stop = emergency_stop(portfolios=list(queryset), requested_by=request.user,
                              via="admin", close_positions=request.POST.get("close") == "on")
        level = messages.SUCCESS if stop.status == stop.Status.DONE else messages.WARNING
        self.message_user(request, f"Emergency stop #{stop.pk}: {stop.summary}", level)
        return None


@admin.register(EquitySnapshot)
class EquitySnapshotAdmin(admin.ModelAdmin):
    list_display = ["portfolio", "taken_at", "equity", "cash", "positions_value"]
    list_filter = ["portfolio"]
    date_hierarchy = "taken_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
