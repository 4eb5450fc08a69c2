from datetime import datetime

from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_CACHE_KEY = "platform:heartbeat"


@shared_task(name="tradingsite.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Scheduled by beat and run by a worker: its timestamp proves both are alive (/readyz)."""
    cache.set(HEARTBEAT_CACHE_KEY, timezone.now().isoformat(), timeout=None)


def last_heartbeat() -> tuple[str, float] | None:
    """The last heartbeat (its time as stored) and its age in seconds; None before the first
    (/readyz and /metrics read it)."""
    raw = cache.get(HEARTBEAT_CACHE_KEY)
    if raw is None:
        return None
    return raw, (timezone.now() - datetime.fromisoformat(raw)).total_seconds()


@shared_task(name="tradingsite.tasks.ping")
def ping(payload: str = "pong") -> str:
    """Round trip through broker, worker and result backend, for checks and tests."""
    return payload
