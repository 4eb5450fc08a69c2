"""Producers of real-time events: services call these, consumers forward them."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def send_to_user(*, user_id: int, event_type: str, data: dict[str, Any]) -> None:
    """Push one typed event (`price.update`, `order.update`, ...) to all of a user's pages."""
    layer = get_channel_layer()
    message = {"type": "event.forward", "event": {"type": event_type, "data": data}}
    async_to_sync(layer.group_send)(user_group(user_id), message)
