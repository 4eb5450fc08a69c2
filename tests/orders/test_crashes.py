"""A worker killed with SIGKILL at each point of placing an order, then the platform restarts
(reconciles): one order on the exchange at most, never a second POST, fills booked once."""

import os
import signal
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from orders import services
from orders.models import Order, OrderStatus
from orders.services import order_create, orders_reconcile
from tests.support.servers import REPO, database_url_for_processes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
S = OrderStatus


def killed_worker(order, point):
    env = {**os.environ, "DATABASE_URL": database_url_for_processes()}
    worker = subprocess.run([sys.executable, "-m", "tests.support.crash_worker", str(order.pk),
                             point], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60)
    assert worker.returncode == -signal.SIGKILL, worker.stderr


def intent(portfolio):
    return order_create(portfolio=portfolio, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                        quantity=Decimal("0.01"))


def posts(local_binance, order):
    return local_binance.requests("POST", "/api/v3/order",
                                  newClientOrderId=order.client_order_id)


def restart(portfolio, monkeypatch):
    """Reconcile as a restarted platform does, with the absence rule's clock run forward."""
    monkeypatch.setattr(services, "ABSENT_AFTER", timedelta(0))
    for _ in range(services.ABSENT_AFTER_CHECKS):
        orders_reconcile(portfolio=portfolio)


@pytest.mark.parametrize(("point", "on_exchange", "final"), [
    ("before_send", 0, S.REJECTED),
    ("after_send", 1, S.FILLED),
    ("before_booking", 1, S.FILLED),
])
def test_a_worker_killed_while_placing_never_duplicates_or_loses_an_order(
        portfolio, local_binance, monkeypatch, point, on_exchange, final):
    order = intent(portfolio)

    killed_worker(order, point)
    assert Order.objects.get(pk=order.pk).status == S.SUBMITTING
    restart(portfolio, monkeypatch)

    order.refresh_from_db()
    assert order.status == final
    assert len(posts(local_binance, order)) == on_exchange
    if final == S.FILLED:
        assert order.executed_qty == Decimal("0.01")
        fills = order.fills.count()
        orders_reconcile(portfolio=portfolio)
        assert order.fills.count() == fills


def test_an_intent_left_by_a_worker_killed_before_claiming_it_expires(portfolio,
                                                                      local_binance):
    order = intent(portfolio)  # saved; the worker died before it could claim and send
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    orders_reconcile(portfolio=portfolio)

    assert Order.objects.get(pk=order.pk).status == S.EXPIRED
    assert posts(local_binance, order) == []
