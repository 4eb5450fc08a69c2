from django.contrib import admin, messages

from marketdata.exchange.errors import ExchangeError
from orders.models import Balance, Fill, FuturesSetting, Order, Position
from orders.services import OrderRefused, order_cancel, orders_reconcile
from tradingsite.admin import ReadOnlyAdmin  # the books change only through the order services


class FillInline(admin.TabularInline):
    model = Fill
    extra = 0
    can_delete = False
    fields = ["trade_id", "price", "quantity", "commission", "commission_asset", "is_maker",
              "executed_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ["client_order_id", "portfolio", "market", "symbol", "side", "type",
                    "quantity", "price", "status", "executed_qty", "source", "created_at"]
    list_filter = ["status", "side", "type", "source", "market"]
    search_fields = ["client_order_id", "symbol", "exchange_order_id"]
    inlines = [FillInline]
    actions = ["cancel_orders", "reconcile_now"]

    @admin.action(description="Cancel the selected orders")
    def cancel_orders(self, request, queryset):
        for order in queryset.open():
            try:
                order = order_cancel(order=order)
                self.message_user(request, f"{order.client_order_id}: {order.get_status_display()}")
            except (ExchangeError, OrderRefused) as error:
                self.message_user(request, f"{order.client_order_id}: {error}", messages.ERROR)

    @admin.action(description="Reconcile the selected orders' portfolios now")
    def reconcile_now(self, request, queryset):
        for portfolio in {order.portfolio for order in queryset.select_related("portfolio")}:
            report = orders_reconcile(portfolio=portfolio)
            self.message_user(request, f"{portfolio}: {report['settled']} settled, "
                                       f"{report['expired_intents']} stale intents expired")


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ["trade_id", "symbol", "side", "price", "quantity", "commission",
                    "commission_asset", "venue", "executed_at"]
    list_filter = ["venue", "side", "market"]
    search_fields = ["symbol", "trade_id", "order__client_order_id"]


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ["portfolio", "market", "symbol", "quantity", "average_entry", "cost",
                    "realised_pnl", "fees_paid", "exchange_quantity", "agrees_with_exchange",
                    "updated_at"]
    list_filter = ["market"]

    @admin.display(boolean=True, description="agrees with Binance")
    def agrees_with_exchange(self, position):
        if position.exchange_quantity is None:
            return None
        return not position.differs_from_exchange


@admin.register(FuturesSetting)
class FuturesSettingAdmin(ReadOnlyAdmin):
    """Set through the order services (they ask Binance first); listed here to be seen."""

    list_display = ["portfolio", "symbol", "leverage", "margin_type", "updated_at"]


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ["portfolio", "asset", "free", "locked", "updated_at"]
