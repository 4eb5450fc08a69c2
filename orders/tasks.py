from celery import shared_task
from django.core.cache import cache

from orders.services import orders_reconcile
from portfolios.models import Portfolio

RECONCILE_LOCK_SECONDS = 120


@shared_task(name="orders.tasks.orders_reconcile_task", soft_time_limit=100, time_limit=110)
def orders_reconcile_task() -> dict:
    """Settle every order in doubt (beat, every 30 s). One run at a time across workers."""
    if not cache.add("orders:reconcile:lock", 1, RECONCILE_LOCK_SECONDS):
        return {"skipped": "another reconcile is running"}
    try:
        reports = {}
        for portfolio in Portfolio.objects.filter(active=True).exclude(mode="paper"):
            reports[portfolio.pk] = orders_reconcile(portfolio=portfolio)
        return reports
    finally:
        cache.delete("orders:reconcile:lock")
