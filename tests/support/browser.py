"""Headless Debian Chromium driven by Playwright, for tests of the pages as a person sees them."""

import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client

from tests.support.servers import REPO

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
# Without the background-networking flags Chromium keeps dialling Google on this closed network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def log_in(page, server, user):
    """The page's browser context carries a session of ``user``'s (no login form to drive)."""
    login = Client()
    login.force_login(user)
    page.context.add_cookies([{"name": "sessionid", "value": login.cookies["sessionid"].value,
                               "url": server.url}])


def wait_for_js(page, expression: str, *, timeout: float = 30_000) -> None:
    """Page.wait_for_function, polled from here: Playwright's own evaluates the predicate with
    eval inside the page, which the Content-Security-Policy (rightly) refuses."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout / 1000:g} s: {expression}")
        page.wait_for_timeout(100)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def page(monkeypatch):
    """A fresh browser page. Function-scoped on purpose: Playwright's sync API leaves an event
    loop registered on this thread, which would make Django refuse ORM calls in later tests."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs it")
        pytest.skip(f"Chromium not found at {CHROMIUM}: `make test` installs it")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        yield context.new_page()
        context.close()
        browser.close()


def off_the_test_thread(function, **kwargs):
    """Playwright's loop occupies the test thread; workers call services from their own."""
    def call():
        try:
            return function(**kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as worker:
        return worker.submit(call).result()
