"""The approval queue in Chromium: a bot's entry arrives in the queue live (bot.approval), with
its reasoning and the AI analysis it read; the trader approves it and the order executes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from bots.models import TradeApproval
from bots.services import bot_tick
from orders.models import Order, OrderStatus
from tests.bots.conftest import market_is_live, store_candles
from tests.bots.test_ai_trading import RISING, ai_bot, closing, inject_and_analyse
from tests.support.browser import log_in, off_the_test_thread, screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_trader_approves_a_waiting_entry_and_it_executes(
        page, asgi_live_server, trader, paper_portfolio, fake_ollama):
    # Candles up to the minute that just closed: the entry's expiry lies ahead of the clock.
    last = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)
    store_candles(RISING, start=last - timedelta(minutes=len(RISING) - 1))
    analysis = inject_and_analyse(last, fake_ollama)
    bot = ai_bot(paper_portfolio, above=20)
    log_in(page, asgi_live_server, trader)
    page.goto(asgi_live_server.url + "/bots/approvals/")
    page.wait_for_selector("#live-status.online", timeout=10_000)
    page.wait_for_selector("#approvals .empty")

    market_is_live()
    off_the_test_thread(bot_tick, bot_id=bot.pk, candle_open_time=last, now=closing(last))
    card = page.wait_for_selector(".approval-pending", timeout=10_000)  # pushed, no reload
    text = card.inner_text()
    assert "above the bot's approval threshold" in text
    assert "combined score" in text  # the bot's reasoning
    assert analysis.reasoning[:30] in text
    screenshot(page, "approval-waiting")

    market_is_live()
    page.click(".approval-pending .btn-approve")
    page.wait_for_selector(".approval-done", timeout=10_000)
    row = page.wait_for_selector("tr[data-status=approved]", timeout=10_000)
    assert row.query_selector("a.order-link") is not None
    screenshot(page, "approval-approved")

    approval = TradeApproval.objects.get()
    assert (approval.status, approval.decided_by) == (TradeApproval.Status.APPROVED, trader)
    order = Order.objects.get(bot=bot)
    assert order.status == OrderStatus.FILLED
