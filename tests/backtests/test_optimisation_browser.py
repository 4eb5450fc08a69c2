"""The optimisation pages in Chromium: a trader fills the optimisation form (the combinations
counted as they type), a worker really runs the chunks in the background, the run's page
follows their progress over the WebSocket and then ranks the candidates and maps them as a
heatmap; a walk-forward run from "Run again with changes" then draws its stitched
out-of-sample equity. Screenshots land in tests/artifacts/."""

import re
import threading
import time

import pytest
from django.conf import settings

from backtests import optimisation
from backtests.models import OptimisationRun
from tests.backtests.test_backtests_browser import chart_size, screenshot, store_minutes
from tests.support.browser import log_in, wait_for_js

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
CANDLES = 3_000
S = OptimisationRun.Status
RUN_PAGE = re.compile(r".*/backtests/optimisations/\d+/$")
# Collects every optimisation.progress event the page receives, for the test to read.
RECORD_PROGRESS = """
window.progressSeen = [];
document.addEventListener("platform:optimisation.progress",
                          (e) => window.progressSeen.push(e.detail));
"""


@pytest.fixture
def background_worker(request):
    """The embedded profile's thread worker on the in-process broker (as `runplatform` starts
    it), or the served profile's worker process."""
    if settings.PLATFORM_PROFILE == "served":
        yield request.getfixturevalue("served_worker")
        return
    from tradingsite import embedded
    from tradingsite.celery import app

    app.control.purge()  # tasks other tests queued without a worker
    worker = embedded.start_worker(app, concurrency=2)
    yield worker
    embedded.stop(worker)


@pytest.fixture
def gate(monkeypatch):
    """The chunks wait until the page listens (the gate opens), so it sees every chunk's
    progress rather than a run already done; a little apart, so the bar visibly moves. (The
    embedded worker runs in this process and sees the patch.)"""
    opened = threading.Event()
    evaluate = optimisation.evaluate

    def gated(*args, **kwargs):
        opened.wait(timeout=30)
        time.sleep(0.05)
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(optimisation, "evaluate", gated)
    return opened


def submit(page) -> None:
    """Send the form and land on the run's page (or fail with the form's complaints)."""
    page.click("#optimisation-run")
    wait_for_js(page, "/\\/optimisations\\/\\d+\\/$/.test(location.pathname)"
                " || document.querySelector('.field-error, .ticket-error')",
                timeout=10_000)
    complaints = page.locator(".field-error, .ticket-error").all_inner_texts()
    assert not complaints, complaints
    page.wait_for_url(RUN_PAGE)


def follow_to_done(page, gate) -> list[dict]:
    """Open the gate once the page listens; the progress events it saw until done."""
    page.wait_for_selector("#live-status.online", timeout=10_000)
    gate.set()
    page.wait_for_selector("#optimisation-status[data-status=done]", timeout=60_000)
    return page.evaluate("window.progressSeen")


def test_a_trader_searches_a_grid_then_walks_it_forward(page, asgi_live_server, trader,
                                                         background_worker, gate):
    store_minutes(CANDLES)
    page.add_init_script(RECORD_PROGRESS)
    log_in(page, asgi_live_server, trader)

    page.goto(asgi_live_server.url + "/backtests/")
    page.click("#optimisations-link")
    page.click("#new-optimisation")
    page.wait_for_selector("#optimisation-form")
    page.wait_for_selector("#live-status.online", timeout=10_000)
    # Another strategy's ranges and choices come in by htmx, then the SMA crossover's again.
    page.select_option("#id_strategy", "rsi_reversion")
    page.wait_for_selector("[data-parameter-row=entry_rule] input[type=checkbox]:checked")
    assert page.locator("#id_param_fast_min").count() == 0
    page.select_option("#id_strategy", "sma_cross")
    page.wait_for_selector("#id_param_fast_min")
    assert page.input_value("#id_param_fast_min") == "2"  # the declared range
    for name, values in (("fast", ("5", "15", "5")), ("slow", ("20", "40", "10"))):
        for part, value in zip(("min", "max", "step"), values, strict=True):
            page.fill(f"#id_param_{name}_{part}", value)
    page.fill("#id_symbol", "BTCUSDT")  # moves the focus: the last range change counts
    wait_for_js(page, "document.getElementById('combinations-words')"
                ".dataset.combinations === '9'", timeout=10_000)
    assert ("9 combinations to try: fast 3 values × slow 3 values"
            in page.inner_text("#optimisation-combinations"))
    assert page.is_hidden("[data-field-row=in_sample]")  # a grid: no windows
    page.select_option("#id_interval", "1m")
    page.select_option("#id_objective", "sharpe")
    page.fill("#id_min_trades", "1")
    screenshot(page, "optimisation-form")
    submit(page)

    run = OptimisationRun.objects.get()
    seen = follow_to_done(page, gate)
    if settings.PLATFORM_PROFILE != "served":
        # The page followed the chunks: running, its bar moving from 0 towards 1, then done.
        # (Only a worker in this process waits at the gate; the served profile's worker
        # process may finish before the page listens, which then catches up by polling.)
        running = [p["progress"] for p in seen if p["status"] == "running"]
        assert running == sorted(running)
        assert len({p for p in running if 0 < p < 1}) >= 2
        assert seen[-1] == {"id": run.pk, "status": "done", "progress": 1}
    assert page.locator("#optimisation-progress").count() == 0
    assert page.locator("#optimisation-cancel").count() == 0
    run.refresh_from_db()
    assert (run.status, run.candle_count, run.chunks_done) == (S.DONE, CANDLES, run.chunk_count)

    assert page.locator("#optimisation-ranking tr[data-rank]").count() == 9
    assert page.locator("#optimisation-heatmap td.heat-cell").count() == 9
    assert page.locator("#optimisation-heatmap td.heat-best").count() == 1
    best = ", ".join(f"{name}={value}" for name, value in run.best_params.items())
    assert page.inner_text("#best-params") == best
    # The best cell is green, the worst red: coloured by value, not all alike.
    colours = page.eval_on_selector_all(
        "#optimisation-heatmap td.heat-ranked, #optimisation-heatmap td.heat-best",
        "cells => cells.map(c => getComputedStyle(c).backgroundColor)")
    assert len(set(colours)) > 1
    screenshot(page, "optimisation-run")

    # Walk it forward: the form comes filled in from the run; 3,000 candles make 3 windows
    # of 1,000 in sample and 500 out of sample (after 41 candles of warm-up).
    gate.clear()
    page.click("#run-again-with-changes")
    page.wait_for_selector("#optimisation-form")
    assert page.input_value("#id_param_slow_max") == "40"
    assert page.input_value("#id_interval") == "1m"
    page.check("input[name=kind][value=walk_forward]")
    assert page.is_visible("[data-field-row=in_sample]")
    page.fill("#id_in_sample", "1000")
    page.fill("#id_out_of_sample", "500")
    wait_for_js(page, "document.getElementById('optimisation-combinations')"
                ".innerText.includes('Each walk-forward window tries them all')",
                timeout=10_000)
    submit(page)

    walked = OptimisationRun.objects.exclude(pk=run.pk).get()
    follow_to_done(page, gate)
    walked.refresh_from_db()
    assert (walked.kind, walked.status) == ("walk_forward", S.DONE)
    wait_for_js(page, "document.getElementById('walk-forward-chart').dataset.loaded > 0",
                timeout=20_000)
    size = chart_size(page, "#walk-forward-chart")
    assert size["width"] > 100
    assert size["height"] > 100
    assert page.locator("#walk-forward-windows tr[data-window]").count() == 3
    stability = page.locator("#walk-forward-stability li").all_inner_texts()
    assert [row["words"] for row in walked.results["stability"]] == stability
    assert stability[0].startswith("fast: ")
    assert page.locator("#walk-forward-metrics tr[data-figure=total_return_pct]").count() == 1
    screenshot(page, "walk-forward")

    page.goto(asgi_live_server.url + "/backtests/optimisations/")
    assert page.locator(f"#optimisation-row-{run.pk}[data-status=done]").count() == 1
    assert page.locator(f"#optimisation-row-{walked.pk}[data-status=done]").count() == 1
    screenshot(page, "optimisation-list")
