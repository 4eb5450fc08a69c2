"""The Content-Security-Policy: sent on every page, and no page breaks it in Chromium (no
inline script or handler, no foreign origin), including the admin and the API docs."""

import pytest
from django.test import Client

from tests.support.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)

TRADER_PAGES = ["/", "/dashboard/", "/market/", "/portfolios/", "/orders/", "/bots/",
                "/bots/approvals/", "/risk/", "/backtests/", "/ai/", "/audit/", "/api-tokens/",
                "/accounts/login/", "/api/docs/"]
STAFF_PAGES = ["/admin/", "/admin/bots/bot/", "/admin/orders/order/", "/admin/auth/user/add/"]


def test_every_response_carries_the_policy(trader):
    client = Client()
    client.force_login(trader)
    policy = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self' 'unsafe-inline'" not in policy


@pytest.mark.slow
def test_no_page_breaks_the_policy(page, asgi_live_server, trader, staff):
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.add_init_script("""document.addEventListener('securitypolicyviolation', e =>
        console.error('Content Security Policy violation: ' + e.violatedDirective + ' '
                      + e.blockedURI + ' at ' + location.pathname));""")

    log_in(page, asgi_live_server, trader)
    for path in TRADER_PAGES:
        response = page.goto(asgi_live_server.url + path, wait_until="networkidle")
        assert response.ok, path
    page.wait_for_selector(".swagger-ui .info", timeout=10_000)  # the docs' script ran

    page.context.clear_cookies()
    log_in(page, asgi_live_server, staff)
    for path in STAFF_PAGES:
        response = page.goto(asgi_live_server.url + path, wait_until="networkidle")
        assert response.ok, path
    assert violations == []


def test_the_token_field_selects_itself_without_an_inline_handler(page, asgi_live_server,
                                                                  trader):
    log_in(page, asgi_live_server, trader)
    page.goto(asgi_live_server.url + "/api-tokens/")
    page.fill("input[name=name]", "csp check")
    page.click("form.inline-form button[type=submit]")
    field = page.wait_for_selector("#token-key")
    field.click()
    selected = page.evaluate("() => { const f = document.getElementById('token-key');"
                             " return f.value.substring(f.selectionStart, f.selectionEnd); }")
    assert selected.startswith("tp_")
