from django import forms
from django.contrib import admin, messages

from bots.ai import news_poll
from bots.approvals import ApprovalRefused, approval_approve, approval_reject
from bots.models import (
    AdvisorCall,
    AISymbolAnalysis,
    Bot,
    BotDecision,
    NewsFeed,
    SentimentItem,
    TechnicalAnalysisRecord,
    TradeApproval,
)
from bots.services import (
    BotRefused,
    approval_rule_errors,
    bot_pause,
    bot_resume,
    bot_start,
    bot_stop,
    bot_validate,
)


class BotAdminForm(forms.ModelForm):
    """Parameters and sizing are checked against the strategy, as on the trader's pages."""

    class Meta:
        model = Bot
        fields = ["portfolio", "name", "market", "symbol", "interval", "strategy", "params",
                  "sizing", "sizing_config", "approval_above_quote",
                  "approval_below_confidence", "approval_minutes"]

    def clean(self):
        data = super().clean()
        try:
            data["params"] = bot_validate(strategy=data.get("strategy", ""),
                                          params=data.get("params") or {},
                                          sizing=data.get("sizing", ""),
                                          sizing_config=data.get("sizing_config") or {})
        except BotRefused as refused:
            problems = [f"{name}: {message}" for name, message in refused.errors.items()]
            raise forms.ValidationError(problems) from refused
        for name, message in approval_rule_errors(
                data.get("approval_above_quote"), data.get("approval_below_confidence"),
                data.get("approval_minutes")).items():
            self.add_error(name, message)
        return data


class DecisionInline(admin.TabularInline):
    model = BotDecision
    extra = 0
    can_delete = False
    fields = ["candle_open_time", "outcome", "reason", "duration_ms"]
    readonly_fields = fields
    ordering = ["-candle_open_time"]
    max_num = 0


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    form = BotAdminForm
    list_display = ["name", "portfolio", "symbol", "interval", "strategy", "status",
                    "status_reason", "last_tick_at"]
    list_filter = ["status", "strategy", "interval"]
    search_fields = ["name", "symbol", "portfolio__name", "portfolio__owner__username"]
    readonly_fields = ["status", "status_reason", "state", "started_at", "last_tick_at"]
    inlines = [DecisionInline]
    actions = ["start", "pause", "resume", "stop", "stop_and_close"]

    def _each(self, request, queryset, act, done: str):
        for bot in queryset:
            try:
                act(bot)
                self.message_user(request, f"{bot.name}: {done}")
            except BotRefused as refused:
                self.message_user(request, f"{bot.name}: {refused}", messages.ERROR)

    @admin.action(description="Start the selected bots")
    def start(self, request, queryset):
        self._each(request, queryset, lambda bot: bot_start(bot=bot), "running")

    @admin.action(description="Pause the selected bots")
    def pause(self, request, queryset):
        self._each(request, queryset, lambda bot: bot_pause(bot=bot, reason="paused by staff"),
                   "paused")

    @admin.action(description="Resume the selected bots")
    def resume(self, request, queryset):
        self._each(request, queryset, lambda bot: bot_resume(bot=bot), "running")

    @admin.action(description="Stop the selected bots (cancel their open orders)")
    def stop(self, request, queryset):
        self._each(request, queryset, lambda bot: bot_stop(bot=bot), "stopped")

    @admin.action(description="Stop the selected bots and close their positions at market")
    def stop_and_close(self, request, queryset):
        self._each(request, queryset, lambda bot: bot_stop(bot=bot, close_position=True),
                   "stopped, position closed")


@admin.register(BotDecision)
class BotDecisionAdmin(admin.ModelAdmin):
    list_display = ["bot", "candle_open_time", "outcome", "reason", "duration_ms"]
    list_filter = ["outcome", "bot"]
    readonly_fields = ["bot", "candle_open_time", "decided_at", "outcome", "reason", "inputs",
                       "actions", "duration_ms"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- AI-assisted analysis ---------------------------------------------------------------------

class ReadOnlyAdmin(admin.ModelAdmin):
    """Point-in-time records: written by the analysis, never edited (a backtest replays them)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(NewsFeed)
class NewsFeedAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "enabled", "last_polled_at", "last_item_count",
                    "last_problem"]
    list_filter = ["enabled"]
    readonly_fields = ["last_polled_at", "last_item_count", "last_problem", "etag", "modified"]
    actions = ["poll_now"]

    @admin.action(description="Poll the selected feeds now")
    def poll_now(self, request, queryset):
        for feed in queryset:
            report = news_poll(feed=feed)
            level = messages.WARNING if report.problem else messages.SUCCESS
            problem = f" ({report.problem})" if report.problem else ""
            self.message_user(request, f"{report.feed}: {report.headlines} headlines, "
                                       f"{report.new_items} new items{problem}", level)


@admin.register(SentimentItem)
class SentimentItemAdmin(ReadOnlyAdmin):
    list_display = ["published_at", "symbol", "source", "score", "text", "feed"]
    list_filter = ["source", "symbol"]
    search_fields = ["text", "symbol"]
    date_hierarchy = "published_at"


@admin.register(TechnicalAnalysisRecord)
class TechnicalAnalysisAdmin(ReadOnlyAdmin):
    list_display = ["as_of", "symbol", "interval", "close", "trend", "strength", "score"]
    list_filter = ["symbol", "interval", "trend"]


@admin.register(AdvisorCall)
class AdvisorCallAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "symbol", "model", "outcome", "latency_ms", "error"]
    list_filter = ["outcome", "symbol", "model"]


@admin.register(AISymbolAnalysis)
class AISymbolAnalysisAdmin(ReadOnlyAdmin):
    list_display = ["as_of", "symbol", "interval", "action", "combined_score",
                    "technical_score", "sentiment_score", "sentiment_confidence", "confidence"]
    list_filter = ["symbol", "action"]


@admin.register(TradeApproval)
class TradeApprovalAdmin(ReadOnlyAdmin):
    """The approval queue, for staff: approve or reject (as the bot's owner would, through
    the same checks); the records themselves are never edited."""

    list_display = ["bot", "side", "quote_amount", "confidence", "status", "created_at",
                    "expires_at", "decided_by"]
    list_filter = ["status"]
    search_fields = ["bot__name", "bot__symbol", "bot__portfolio__owner__username"]
    actions = ["approve", "reject"]

    def _each(self, request, queryset, act, done: str):
        for approval in queryset:
            try:
                approval = act(approval=approval, user=request.user)
                self.message_user(request, f"#{approval.pk}: {done} "
                                           f"({approval.get_status_display()})")
            except ApprovalRefused as refused:
                self.message_user(request, f"#{approval.pk}: {refused}", messages.ERROR)

    @admin.action(description="Approve the selected entries (place their orders)")
    def approve(self, request, queryset):
        self._each(request, queryset, approval_approve, "approved")

    @admin.action(description="Reject the selected entries")
    def reject(self, request, queryset):
        self._each(request, queryset, approval_reject, "rejected")
