"""In Chromium: a breach's alert arrives on the dashboard without a reload, and the trader
runs the emergency stop from the dashboard: asked to confirm, then shown each step."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from bots.models import Bot
from orders.models import Order, OrderStatus
from orders.services import order_create, order_submit
from portfolios.models import EquitySnapshot
from risk.models import EmergencyStop, EntryBlock, RiskLimit
from risk.monitor import portfolio_evaluate
from tests.bots.test_ticks import sma_bot
from tests.support.browser import log_in, off_the_test_thread, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_an_alert_arrives_live_and_the_emergency_stop_runs_from_the_dashboard(
        page, asgi_live_server, trader, paper_portfolio):
    bot = sma_bot(paper_portfolio)
    resting = order_create(portfolio=paper_portfolio, symbol="BTCUSDT", side="BUY",
                           order_type="LIMIT", quantity=D("0.2"), price=D("100"))
    order_submit(order=resting)
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    EquitySnapshot.objects.create(portfolio=paper_portfolio, taken_at=midnight - timedelta(
        hours=1), equity=D("20000"), cash=D("20000"), positions_value=D(0))
    RiskLimit.objects.create(portfolio=paper_portfolio, max_daily_loss=D("500"))
    log_in(page, asgi_live_server, trader)
    page.goto(asgi_live_server.url + f"/dashboard/?portfolio={paper_portfolio.pk}")
    page.wait_for_selector("#live-status.online", timeout=10_000)
    page.wait_for_selector("#alerts-list li.muted:has-text('No alerts')")

    off_the_test_thread(portfolio_evaluate, portfolio=paper_portfolio)
    page.wait_for_selector("#alerts-list li.alert-critical", timeout=10_000)
    assert "max daily loss" in page.inner_text("#alerts-list").lower()
    screenshot(page, "risk-alert-live")

    page.click("#emergency-stop")
    page.wait_for_selector("#emergency-form")
    assert "cancel 1 open order" in page.inner_text("main")
    assert not EmergencyStop.objects.exists()  # asking is not doing
    page.click("#confirm-emergency-stop")
    page.wait_for_selector("#stop-status[data-status=done]", timeout=20_000)
    assert page.locator("#stop-steps tr[data-outcome=done]").count() >= 3
    screenshot(page, "emergency-stop-done")

    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.PAUSED
    assert Order.objects.get(pk=resting.pk).status == OrderStatus.CANCELED
    assert EntryBlock.objects.active().filter(source="emergency_stop").count() == 1
    page.goto(asgi_live_server.url + f"/dashboard/?portfolio={paper_portfolio.pk}")
    page.click("#risk-panel [data-block=emergency_stop] button")
    page.wait_for_selector("#risk-panel:not(:has([data-block=emergency_stop]))")
    assert not EntryBlock.objects.active().filter(source="emergency_stop").exists()
