"""The bot page and the dashboard in Chromium: start a bot with its button, watch its status
follow bot.status events, then a tick's decision, fill and chart arrow arrive without a
reload, on the bot page and on the dashboard open beside it."""

from datetime import timedelta

import pytest

from bots.models import Bot
from bots.services import bot_create, bot_pause, bot_resume, bot_tick
from tests.bots.conftest import market_is_live
from tests.support.browser import log_in, off_the_test_thread, screenshot, wait_for_js

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_trader_starts_a_bot_and_watches_it_decide_and_trade_live(
        page, asgi_live_server, trader, paper_portfolio, crossing_candle):
    bot = bot_create(portfolio=paper_portfolio, name="crossing", symbol="BTCUSDT",
                     strategy="sma_cross", params={"fast": 2, "slow": 3},
                     sizing_config={"amount": "100"})
    log_in(page, asgi_live_server, trader)
    dashboard = page.context.new_page()
    dashboard.goto(asgi_live_server.url + "/dashboard/")
    dashboard.wait_for_selector("#live-status.online", timeout=10_000)
    dashboard.wait_for_selector("#fills tr.empty")  # the orders partial, loaded by its URL
    row = f"#bots-table tr[data-bot-id='{bot.pk}']"

    page.goto(asgi_live_server.url + f"/bots/{bot.pk}/")
    page.wait_for_selector("#live-status.online", timeout=10_000)
    wait_for_js(page, "document.getElementById('bot-chart').dataset.loaded === '11'")
    assert page.locator("#bot-chart canvas").count() > 0
    page.evaluate("window.stillTheSamePage = true")

    page.click("#bot-status-card [data-control=start]")
    page.wait_for_selector("#bot-status[data-status=running]")
    dashboard.wait_for_selector(f"{row}[data-status=running]", timeout=10_000)
    assert Bot.objects.get().status == Bot.Status.RUNNING

    # Changes made elsewhere reach the page by their bot.status events alone.
    off_the_test_thread(bot_pause, bot=bot, reason="paused for the test")
    page.wait_for_selector("#bot-status[data-status=paused]", timeout=10_000)
    assert page.inner_text("#bot-status-reason") == "paused for the test"
    dashboard.wait_for_selector(f"{row}[data-status=paused]", timeout=10_000)
    off_the_test_thread(bot_resume, bot=bot)
    page.wait_for_selector("#bot-status[data-status=running]", timeout=10_000)
    screenshot(page, "bot-running")

    market_is_live()  # fresh again: the tick must not find the market data stale
    off_the_test_thread(bot_tick, bot_id=bot.pk, candle_open_time=crossing_candle,
                        now=crossing_candle + timedelta(minutes=1, seconds=1))
    decision = "#bot-decisions tr[data-outcome=enter]"
    page.wait_for_selector(decision, timeout=10_000)
    assert "SMA(2) 110.5 crossed above SMA(3) 107.66667" in page.inner_text(decision)
    assert page.locator(f"{decision} a.order-link").count() == 1
    wait_for_js(page, "document.getElementById('bot-chart').dataset.markers === '1'",
                timeout=10_000)
    page.wait_for_selector("#bot-position:has-text('BTC at')", timeout=10_000)
    assert page.evaluate("window.stillTheSamePage") is True
    screenshot(page, "bot-decided")

    dashboard.wait_for_selector("#fills tr[data-trade-id]", timeout=10_000)
    dashboard.wait_for_selector(f"{row} .outcome-enter", timeout=10_000)
    dashboard.wait_for_selector("#positions tr[data-position-symbol='BTCUSDT']",
                                timeout=10_000)
    screenshot(dashboard, "dashboard-bot-traded")


def test_the_bot_form_follows_the_chosen_strategy_and_says_what_is_wrong(
        page, asgi_live_server, trader, paper_portfolio):
    log_in(page, asgi_live_server, trader)
    page.goto(asgi_live_server.url + "/bots/new/")
    assert page.is_visible("[data-field-row=sizing_amount]")
    assert page.is_hidden("[data-field-row=sizing_fraction]")

    page.select_option("#id_strategy", "grid")  # HTMX GETs the grid's parameter fields
    page.wait_for_selector("#id_param_lower_price")
    assert page.locator("#id_param_fast").count() == 0
    page.select_option("#id_sizing", "allocation_fraction")
    assert page.is_visible("[data-field-row=sizing_fraction]")
    assert page.is_hidden("[data-field-row=sizing_amount]")

    page.select_option("#id_strategy", "sma_cross")
    page.wait_for_selector("#id_param_fast")
    page.fill("#id_name", "from the form")
    page.fill("#id_param_fast", "30")
    page.fill("#id_param_slow", "10")
    page.click("#bot-save")
    error = "[data-field-row=param_fast] .field-error"
    page.wait_for_selector(error)
    assert page.inner_text(error) == "fast must be smaller than slow"
    screenshot(page, "bot-form-refused")

    page.fill("#id_param_fast", "2")
    page.fill("#id_param_slow", "3")
    page.click("#bot-save")
    page.wait_for_selector("#bot-status[data-status=stopped]")
    bot = Bot.objects.get()
    assert page.url == f"{asgi_live_server.url}/bots/{bot.pk}/"
    assert (bot.strategy, bot.params["fast"], bot.sizing) == ("sma_cross", 2,
                                                               "allocation_fraction")
