"""The audit log: one append-only row per trading action (tradingsite.audit writes them).

Append-only at every layer: a saved row refuses save() and delete(), the default QuerySet
refuses update() and delete(), the admin and the API only read, and on PostgreSQL a trigger
refuses UPDATE and DELETE (migration 0001). The one change allowed anywhere is Django's
ON DELETE SET NULL of `actor` or `owner` when a user is deleted: `actor_name` keeps who it was.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AppendOnly(Exception):
    """The audit log is never changed or deleted, only added to."""


class AuditEventQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Staff read every row; a trader the rows about their own objects."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self if user.is_staff else self.filter(owner=user)

    def update(self, **kwargs):
        raise AppendOnly("audit events cannot be updated")

    def delete(self):
        raise AppendOnly("audit events cannot be deleted")


def _user_link(related_name: str):
    # No database constraint: an audit row must never make the action it records fail at
    # COMMIT (a deferred FK check on a user deleted meanwhile). Django's SET_NULL still runs.
    return models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                             blank=True, db_constraint=False, related_name=related_name)


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        ORDER_SENT = "order.sent", "order sent"
        ORDER_CANCELLED = "order.cancelled", "order cancel requested"
        ORDER_REJECTED = "order.rejected", "order rejected"
        ORDER_UNKNOWN = "order.unknown", "order outcome unknown"
        FILL_BOOKED = "fill.booked", "fill booked"
        BOT_STARTED = "bot.started", "bot started"
        BOT_PAUSED = "bot.paused", "bot paused"
        BOT_RESUMED = "bot.resumed", "bot resumed"
        BOT_STOPPED = "bot.stopped", "bot stopped"
        BOT_ERROR = "bot.error", "bot stopped by an error"
        LIMIT_CREATED = "limit.created", "risk limit created"
        LIMIT_CHANGED = "limit.changed", "risk limit changed"
        LIMIT_DELETED = "limit.deleted", "risk limit deleted"
        EMERGENCY_STOP = "emergency.stop", "emergency stop"
        ENTRIES_BLOCKED = "entries.blocked", "entries blocked by a risk breach"
        ENTRIES_RESUMED = "entries.resumed", "entries resumed"
        KEY_ADDED = "key.added", "exchange key added"
        KEY_ROTATED = "key.rotated", "exchange key rotated"
        KEY_REMOVED = "key.removed", "exchange key removed"
        LOGIN = "login", "login"
        LOGIN_FAILED = "login.failed", "failed login"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=30, choices=Action.choices, db_index=True)
    actor = _user_link("audit_events_done")
    actor_name = models.CharField(max_length=150, blank=True)
    owner = _user_link("audit_events_about")
    ip = models.GenericIPAddressField(null=True, blank=True)
    task = models.CharField(max_length=200, blank=True,
                            help_text="the Celery task, stream or command, when no request")
    # Plain integers, not foreign keys: deleting a portfolio, bot or order never touches the log.
    portfolio_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    bot_id = models.BigIntegerField(null=True, blank=True)
    order_id = models.BigIntegerField(null=True, blank=True)
    client_order_id = models.CharField(max_length=64, blank=True, db_index=True)
    exchange_code = models.CharField(max_length=40, blank=True,
                                     help_text="Binance's error code, status or trade id")
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["owner", "-at"], name="audit_owner_at")]

    def __str__(self):
        who = self.actor_name or self.task or "system"
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} by {who}"

    def save(self, *args, **kwargs):
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields"):
            raise AppendOnly("audit events cannot be changed")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("audit events cannot be deleted")
