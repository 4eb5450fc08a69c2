from celery import shared_task
from django.core.cache import cache
from django.utils import timezone

HEARTBEAT_CACHE_KEY = "platform:heartbeat"


@shared_task(name="tradingsite.tasks.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Scheduled by beat and run by a worker: its timestamp proves both are alive (/readyz)."""
    cache.set(HEARTBEAT_CACHE_KEY, timezone.now().isoformat(), timeout=None)


@shared_task(name="tradingsite.tasks.ping")
def ping(payload: str = "pong") -> str:
    """Round trip through broker, worker and result backend, for checks and tests."""
    return payload
