"""The risk control panel: limits (every change recorded with who and when), protections,
alerts to acknowledge, entry blocks to clear, and the emergency stops with each step."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from risk.limits import risk_limit_delete, risk_limit_save
from risk.models import (
    AlertChannel,
    EmergencyStop,
    EmergencyStopStep,
    EntryBlock,
    RiskAlert,
    RiskLimit,
    RiskLimitChange,
    RiskProtection,
)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


class ChangeInline(ReadOnlyInline):
    model = RiskLimitChange
    fields = ["changed_at", "changed_by", "action", "changes"]


@admin.register(RiskLimit)
class RiskLimitAdmin(admin.ModelAdmin):
    list_display = ["__str__", "max_order_notional", "max_position_notional",
                    "max_total_exposure", "max_daily_loss", "max_daily_loss_pct",
                    "max_drawdown_pct", "on_breach", "updated_at", "updated_by"]
    list_filter = ["on_breach"]
    search_fields = ["owner__username", "portfolio__name", "bot__name", "symbol", "note"]
    autocomplete_fields = ["owner", "portfolio", "bot"]
    readonly_fields = ["updated_by", "updated_at"]
    inlines = [ChangeInline]
    fieldsets = [
        ("Scope (empty everywhere: global)", {"fields": ["owner", "portfolio", "bot", "symbol"]}),
        ("Sizes", {"fields": ["max_order_notional", "max_position_notional",
                              "max_open_positions", "max_total_exposure",
                              "max_correlated_exposure", "correlation_threshold",
                              "min_free_balance", "max_leverage", "max_orders_per_minute"]}),
        ("Losses", {"fields": ["max_daily_loss", "max_daily_loss_pct", "max_drawdown_pct"]}),
        (None, {"fields": ["on_breach", "note", "updated_by", "updated_at"]}),
    ]

    def save_model(self, request, obj, form, change):
        try:
            risk_limit_save(limit=obj, by=request.user)
        except ValidationError as invalid:  # the form checked fields; this is the whole row
            self.message_user(request, f"not saved: {'; '.join(invalid.messages)}",
                              messages.ERROR)

    def delete_model(self, request, obj):
        risk_limit_delete(limit=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for limit in queryset:
            risk_limit_delete(limit=limit, by=request.user)


@admin.register(RiskLimitChange)
class RiskLimitChangeAdmin(admin.ModelAdmin):
    list_display = ["changed_at", "scope", "action", "changed_by", "changes"]
    list_filter = ["action"]
    search_fields = ["scope", "changed_by__username"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the audit trail is kept


@admin.register(RiskProtection)
class RiskProtectionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owner", "kind", "params", "enabled"]
    list_filter = ["kind", "enabled"]
    autocomplete_fields = ["owner", "portfolio"]

    def save_model(self, request, obj, form, change):
        from risk.services import protection_from

        try:
            protection_from(obj.kind, obj.params)
        except (TypeError, ValueError) as invalid:
            self.message_user(request, f"not saved: the parameters do not fit "
                              f"{obj.kind}: {invalid}", messages.ERROR)
            return
        super().save_model(request, obj, form, change)


@admin.register(RiskAlert)
class RiskAlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "severity", "owner", "portfolio", "rule", "message",
                    "action_taken", "resolved_at", "acknowledged_by"]
    list_filter = ["severity", "rule", "action_taken", ("resolved_at", admin.EmptyFieldListFilter),
                   ("acknowledged_at", admin.EmptyFieldListFilter)]
    search_fields = ["message", "owner__username", "portfolio__name"]
    readonly_fields = [f.name for f in RiskAlert._meta.fields]
    actions = ["acknowledge"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Acknowledge the selected alerts")
    def acknowledge(self, request, queryset):
        from risk.monitor import risk_alert_acknowledge

        for alert in queryset:
            risk_alert_acknowledge(alert=alert, by=request.user)
        self.message_user(request, f"{queryset.count()} alert(s) acknowledged")


@admin.register(EntryBlock)
class EntryBlockAdmin(admin.ModelAdmin):
    list_display = ["portfolio", "symbol", "source", "reason", "created_at", "cleared_at",
                    "cleared_by"]
    list_filter = ["source", ("cleared_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["cleared_at", "cleared_by"]
    actions = ["clear"]

    @admin.action(description="Clear the selected blocks (entries allowed again)")
    def clear(self, request, queryset):
        from risk.monitor import entry_block_clear

        for block in queryset:
            entry_block_clear(block=block, by=request.user)
        self.message_user(request, f"{queryset.count()} block(s) cleared")


class StepInline(ReadOnlyInline):
    model = EmergencyStopStep
    fields = ["at", "kind", "target", "order", "outcome", "detail"]


@admin.register(EmergencyStop)
class EmergencyStopAdmin(admin.ModelAdmin):
    list_display = ["started_at", "scope", "requested_by", "requested_via", "close_positions",
                    "status", "finished_at"]
    list_filter = ["status", "requested_via"]
    readonly_fields = [f.name for f in EmergencyStop._meta.fields]
    inlines = [StepInline]

    def has_add_permission(self, request):
        return False  # run one from the portfolios' admin action or the dashboard


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    list_display = ["owner", "email", "min_severity", "webhook_url"]
    autocomplete_fields = ["owner"]
