import logging

from celery import shared_task
from django.core.cache import cache

from marketdata.exchange.errors import ExchangeError
from orders.services import orders_reconcile
from portfolios.models import Portfolio

logger = logging.getLogger(__name__)
RECONCILE_LOCK_SECONDS = 120


@shared_task(name="orders.tasks.orders_reconcile_task", soft_time_limit=100, time_limit=110)
def orders_reconcile_task() -> dict:
    """Settle every order in doubt (beat, every 30 s). One run at a time across workers."""
    if not cache.add("orders:reconcile:lock", 1, RECONCILE_LOCK_SECONDS):
        return {"skipped": "another reconcile is running"}
    try:
        reports = {}
        for portfolio in Portfolio.objects.filter(active=True).exclude(mode="paper"):
            try:
                reports[portfolio.pk] = orders_reconcile(portfolio=portfolio)
            except ExchangeError as error:  # this portfolio stays closed for new orders
                logger.warning("reconciling %s failed: %s", portfolio, error)
                reports[portfolio.pk] = {"error": str(error)}
        return reports
    finally:
        cache.delete("orders:reconcile:lock")
