"""Closing event sockets whose right to exist has ended: a logout closes that session's
sockets; a password change or a disabled account closes every socket of the user (their other
sessions are no longer valid, so a reconnect is refused too; the session that changed its own
password reconnects at once, with its refreshed session)."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from tradingsite.events import user_group

CLOSE = {"type": "account.close"}


def session_group(session_key: str) -> str:
    return f"session-{session_key}"


def _close(group: str) -> None:
    async_to_sync(get_channel_layer().group_send)(group, CLOSE)


def logged_out(sender, request, user, **kwargs) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        _close(session_group(session_key))


def user_saving(sender, instance, **kwargs) -> None:
    """Before a user row is saved: if its password changed or it was disabled, close all of
    its sockets once the change commits."""
    if instance.pk is None:
        return
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    if before["password"] != instance.password or (before["is_active"]
                                                  and not instance.is_active):
        group = user_group(instance.pk)
        transaction.on_commit(lambda: _close(group))
