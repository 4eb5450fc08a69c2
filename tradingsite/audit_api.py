"""Reading the audit log: a trader's own rows on /audit/ and GET /api/audit/ (staff: all of them
in the API and the admin). Nothing here writes: the log is only added to by the services."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.views.decorators.http import require_GET
from rest_framework import serializers, viewsets

from tradingsite.filters import AuditEventFilter
from tradingsite.models import AuditEvent

PER_PAGE = 50


def _ip_shown(event: AuditEvent, user) -> str | None:
    """Whose IP a trader may read: their own, or no one's (a failed login on their account);
    not a staff member's who acted on their objects."""
    return event.ip if user.is_staff or event.actor_id in (None, user.pk) else None


class AuditEventSerializer(serializers.ModelSerializer):
    ip = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = ["id", "at", "action", "actor", "actor_name", "owner", "ip", "task",
                  "portfolio_id", "bot_id", "order_id", "client_order_id", "exchange_code",
                  "detail"]

    def get_ip(self, event: AuditEvent) -> str | None:
        return _ip_shown(event, self.context["request"].user)


class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Your audit trail, newest first (`?action=order.sent`); staff read everyone's."""

    serializer_class = AuditEventSerializer
    filterset_class = AuditEventFilter
    ordering_fields = ["at", "id", "action"]

    def get_queryset(self):
        return AuditEvent.objects.visible_to(self.request.user)


@login_required
@require_GET
def audit_page(request):
    events = AuditEvent.objects.filter(owner=request.user)
    action = request.GET.get("action", "")
    if action in AuditEvent.Action.values:
        events = events.filter(action=action)
    page = Paginator(events, PER_PAGE).get_page(request.GET.get("page"))
    for event in page:
        event.ip_shown = _ip_shown(event, request.user)
    return render(request, "audit/list.html", {
        "page": page, "action": action, "actions": AuditEvent.Action.choices})
