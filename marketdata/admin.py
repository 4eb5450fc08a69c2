from django.contrib import admin, messages
from django.shortcuts import redirect
from django.urls import path

from marketdata import live
from marketdata.exchange.errors import ExchangeError
from marketdata.models import Kline, Symbol, SymbolStatusChange, WatchedSymbol
from marketdata.services import symbols_sync


class StatusChangeInline(admin.TabularInline):
    model = SymbolStatusChange
    extra = 0
    can_delete = False
    readonly_fields = ["old_status", "new_status", "changed_at"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Symbol)
class SymbolAdmin(admin.ModelAdmin):
    change_list_template = "admin/marketdata/symbol/change_list.html"
    list_display = ["name", "market", "status", "base_asset", "quote_asset", "tick_size",
                    "step_size", "min_qty", "min_notional", "synced_at"]
    list_filter = ["market", "status", "quote_asset"]
    search_fields = ["name", "base_asset", "quote_asset"]
    inlines = [StatusChangeInline]
    actions = ["sync_symbols"]

    def has_add_permission(self, request):
        return False  # symbols come from exchangeInfo only

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Symbol._meta.fields]

    def get_urls(self):
        sync = path("sync/<str:market>/", self.admin_site.admin_view(self.sync_view),
                    name="marketdata_symbol_sync")
        return [sync, *super().get_urls()]

    def sync_view(self, request, market):
        if request.method == "POST" and market in Symbol.Market.values:
            self._sync(request, [market])
        return redirect("admin:marketdata_symbol_changelist")

    @admin.action(description="Sync symbols of the selected markets from exchangeInfo")
    def sync_symbols(self, request, queryset):
        self._sync(request, sorted(set(queryset.values_list("market", flat=True))))

    def _sync(self, request, markets):
        for market in markets:
            try:
                self.message_user(request, f"Synced {symbols_sync(market=market)}")
            except ExchangeError as error:
                self.message_user(request, f"Could not sync {market} symbols: {error}",
                                  messages.ERROR)


@admin.register(WatchedSymbol)
class WatchedSymbolAdmin(admin.ModelAdmin):
    list_display = ["symbol", "market", "intervals", "active", "stale", "created_at"]
    list_filter = ["market", "active"]
    list_editable = ["intervals", "active"]
    search_fields = ["symbol"]

    @admin.display(boolean=True, description="stale")
    def stale(self, watched):
        return live.is_stale(watched.market, watched.symbol)


@admin.register(Kline)
class KlineAdmin(admin.ModelAdmin):
    list_display = ["symbol", "market", "interval", "open_time", "open", "high", "low", "close",
                    "volume"]
    list_filter = ["market", "interval", "symbol"]
    date_hierarchy = "open_time"
    show_full_result_count = False  # counting millions of candles on every page is slow

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Kline._meta.fields]

    def has_add_permission(self, request):
        return False
