from django.contrib import admin

from tradingsite.models import AuditEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that change only through their services, never by hand: the books, the log."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only for staff: the log is only ever added to (by the services)."""

    list_display = ["at", "action", "actor_name", "owner", "ip", "task", "portfolio_id",
                    "bot_id", "order_id", "client_order_id", "exchange_code"]
    list_filter = ["action", "at"]
    list_select_related = ["owner"]
    search_fields = ["actor_name", "client_order_id"]
    date_hierarchy = "at"
    actions = None  # no "delete selected"

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request):
        return self.has_view_permission(request)
