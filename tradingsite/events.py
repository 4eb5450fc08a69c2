"""Producers of real-time events: services call these, consumers forward them.

`send_to_user` waits for the channel layer; `publish_to_user` hands the event to one
background thread per process and returns at once, so a trading path never waits on Redis for
a page update (a page that misses one reloads its partials on the next). Events keep their
order: one queue, one sender.
"""

import asyncio
import logging
import os
import queue
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def staff_group() -> str:
    """Every staff member's pages: what the people running the platform must see (risk
    alerts)."""
    return "staff"


# Every event type the socket carries: the README's "Real-time events" table documents each
# one's audience and payload (a test keeps the two equal), and nothing else is sent.
EVENT_TYPES = frozenset({
    "price.update", "candle.update", "ticker.update", "market.status", "ai.analysis",
    "order.update", "fill.new", "position.update", "portfolio.update",
    "bot.status", "bot.decision", "bot.approval", "risk.alert",
    "backtest.progress", "optimisation.progress",
})


def event_message(event_type: str, data: dict[str, Any]) -> dict:
    """The channel-layer message that the consumer forwards as `{"type", "data"}`."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"undocumented event type {event_type!r}: add it to EVENT_TYPES and "
                         f"the README's table first")
    return {"type": "event.forward", "event": {"type": event_type, "data": data}}


def send_to_user(*, user_id: int, event_type: str, data: dict[str, Any]) -> None:
    """Push one typed event (`price.update`, `order.update`, ...) to all of a user's pages."""
    layer = get_channel_layer()
    async_to_sync(layer.group_send)(user_group(user_id), event_message(event_type, data))


class _Publisher(threading.Thread):
    def __init__(self):
        super().__init__(name="event-publisher", daemon=True)
        self.pending: queue.Queue = queue.Queue()

    def run(self) -> None:
        # One loop for the thread's life: a Redis layer keeps its connections per loop.
        loop = asyncio.new_event_loop()
        layer = get_channel_layer()
        while True:
            group, message = self.pending.get()  # blocking: a daemon thread, never joined
            try:
                loop.run_until_complete(layer.group_send(group, message))
            except Exception:  # a lost page update; the books are already committed
                logger.exception("could not push %s", message["event"]["type"])
            finally:
                self.pending.task_done()


_publisher: _Publisher | None = None
_publisher_pid: int | None = None
_publisher_lock = threading.Lock()


def _running_publisher() -> _Publisher:
    """The process's publisher, started on first use (and again in a forked worker child,
    which inherits the object but not the thread)."""
    global _publisher, _publisher_pid
    with _publisher_lock:
        if _publisher is None or _publisher_pid != os.getpid():
            _publisher, _publisher_pid = _Publisher(), os.getpid()
            _publisher.start()
        return _publisher


def publish_to_user(*, user_id: int, event_type: str, data: dict[str, Any]) -> None:
    """Queue one event for the user's pages without waiting for it to be sent."""
    _running_publisher().pending.put((user_group(user_id), event_message(event_type, data)))


def publish_to_user_on_commit(*, user_id: int, event_type: str, data: dict[str, Any]) -> None:
    """Queue the event once the current transaction commits (at once outside one). The payload
    is taken now, inside the transaction; a rolled-back change is never announced."""
    transaction.on_commit(lambda: publish_to_user(user_id=user_id, event_type=event_type,
                                                  data=data))


def publish_to_group_on_commit(*, group: str, event_type: str, data: dict[str, Any]) -> None:
    """`publish_to_user_on_commit` for any group, e.g. `staff_group()`."""
    transaction.on_commit(lambda: _running_publisher().pending.put(
        (group, event_message(event_type, data))))


def flush_published(timeout: float = 5.0) -> bool:
    """Wait until every queued event was handed to the channel layer (tests, shutdown)."""
    if _publisher is None or _publisher_pid != os.getpid():
        return True
    done = threading.Event()
    threading.Thread(target=lambda: (_publisher.pending.join(), done.set()),
                     daemon=True).start()
    return done.wait(timeout)
