"""The pages in a real browser: log in, see the dashboard, watch a pushed event arrive."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.browser import screenshot
from tradingsite.events import send_to_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_trader_logs_in_and_the_dashboard_shows_live_events(page, asgi_live_server, trader):
    page.goto(asgi_live_server.url + "/")
    page.fill("input[name=login]", "trader")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")

    page.wait_for_selector("h1:has-text('Dashboard')")
    page.wait_for_selector("#live-status.online", timeout=10_000)
    # Off the test thread, as a worker would: Playwright's loop occupies this one.
    with ThreadPoolExecutor(1) as producer:
        producer.submit(send_to_user, user_id=trader.pk, event_type="order.update",
                        data={"client_order_id": "ours-42", "status": "FILLED"}).result()
    page.wait_for_selector("#event-log li:has-text('ours-42')", timeout=10_000)
    screenshot(page, "dashboard-live-event")


def test_the_login_page_renders_inside_the_platform_layout(page, asgi_live_server):
    page.goto(asgi_live_server.url + "/accounts/login/")

    assert page.locator("header.topbar .brand").inner_text() == "Trading platform"
    assert page.locator("input[name=login]").is_visible()
    screenshot(page, "login")
