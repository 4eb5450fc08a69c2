"""The backtest pages in Chromium: a trader fills the form, a worker really runs the backtest in
the background, the run's page follows its progress over the WebSocket and then shows the
figures, the trades and the equity, drawdown and candle charts; a second run from "Run again
with changes" is compared with the first. Screenshots land in tests/artifacts/."""

import re
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.conf import settings

from backtests import services
from backtests.engine import load_csv, simulator
from backtests.models import BacktestRun
from marketdata.models import Kline
from tests.support.browser import log_in, wait_for_js

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
CSV = Path(__file__).resolve().parents[3] / "shared/data/klines/BTCUSDT-1m-taeminlee_cp-spot.csv"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CANDLES = 20_000
R = BacktestRun.Status
RUN_PAGE = re.compile(r".*/backtests/\d+/$")
# Collects every backtest.progress event the page receives, for the test to read.
RECORD_PROGRESS = """
window.progressSeen = [];
document.addEventListener("platform:backtest.progress", (e) => window.progressSeen.push(e.detail));
"""


@pytest.fixture
def background_worker(request):
    """A Celery worker consuming the platform's queue: the embedded profile's thread worker on
    the in-process broker (as `runplatform` starts it), or the served profile's process."""
    if settings.PLATFORM_PROFILE == "served":
        yield request.getfixturevalue("served_worker")
        return
    from tradingsite import embedded
    from tradingsite.celery import app

    worker = embedded.start_worker(app, concurrency=2)
    yield worker
    worker.stop(in_sighandler=False)


@pytest.fixture
def frequent_progress(monkeypatch):
    """Progress every 250 bars, each one saved and pushed: the signal loop crosses 20,000
    candles in a few hundredths of a second, too fast for the 0.5 s throttle to report
    between its start and its end. (The worker runs in this process and sees these values.)
    About 80 events: under the in-memory channel layer's 100 per socket, so none is dropped."""
    monkeypatch.setattr(simulator, "PROGRESS_EVERY", 250)
    monkeypatch.setattr(services, "PROGRESS_SECONDS", 0)


def store_minutes(count: int) -> None:
    candles = load_csv(CSV).iloc[:count]
    Kline.objects.bulk_create(
        (Kline(market="spot", symbol="BTCUSDT", interval="1m", open_time=row.open_time,
               close_time=row.open_time + timedelta(seconds=59, microseconds=999000),
               open=D(str(row.open)), high=D(str(row.high)), low=D(str(row.low)),
               close=D(str(row.close)), volume=D(str(row.volume)))
         for row in candles.itertuples()), batch_size=2_000)


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def chart_size(page, selector: str) -> dict:
    """The size of the chart's canvas (lightweight-charts draws into canvases)."""
    page.wait_for_selector(f"{selector} canvas", timeout=10_000)
    return page.eval_on_selector(
        f"{selector} canvas", "c => ({width: c.clientWidth, height: c.clientHeight})")


def submit(page) -> None:
    """Send the form and land on the run's page (or fail with the form's complaints)."""
    page.click("#backtest-run")
    wait_for_js(page, "/\\/backtests\\/\\d+\\/$/.test(location.pathname)"
                " || document.querySelector('.field-error, .ticket-error')",
                timeout=10_000)
    complaints = page.locator(".field-error, .ticket-error").all_inner_texts()
    assert not complaints, complaints
    page.wait_for_url(RUN_PAGE)


def wait_until_done(page, timeout=60_000):
    page.wait_for_selector("#backtest-status[data-status=done]", timeout=timeout)


def test_a_trader_runs_a_backtest_watches_it_progress_and_compares_two(
        page, asgi_live_server, trader, background_worker, frequent_progress):
    store_minutes(CANDLES)
    page.add_init_script(RECORD_PROGRESS)
    log_in(page, asgi_live_server, trader)

    page.goto(asgi_live_server.url + "/backtests/new/")
    page.wait_for_selector("#live-status.online", timeout=10_000)
    # Another strategy's parameters come in by htmx, then the SMA crossover's again.
    page.select_option("#id_strategy", "rsi_reversion")
    page.wait_for_selector("#id_param_oversold")
    assert page.locator("#id_param_fast").count() == 0
    page.select_option("#id_strategy", "sma_cross")
    page.wait_for_selector("#id_param_fast")
    assert page.locator("#id_param_oversold").count() == 0
    page.fill("#id_param_fast", "5")
    page.fill("#id_param_slow", "20")
    page.fill("#id_symbol", "BTCUSDT")
    page.select_option("#id_interval", "1m")
    page.fill("#id_start", "2024-03-01")
    page.fill("#id_end", "2024-03-31")
    page.fill("#id_cash", "10000")
    page.fill("#id_fee", "0.001")
    page.fill("#id_slippage_bps", "1")
    assert page.is_visible("[data-field-row=sizing_fraction]")  # all-in by default
    assert page.is_hidden("[data-field-row=sizing_amount]")
    screenshot(page, "backtest-form")
    submit(page)

    run = BacktestRun.objects.get()
    page.wait_for_selector("#live-status.online", timeout=10_000)
    wait_until_done(page)
    # The page followed the run: running, its bar moving from 0 towards 1, then done.
    seen = page.evaluate("window.progressSeen")
    running = [p["progress"] for p in seen if p["status"] == "running"]
    assert running == sorted(running)
    if settings.PLATFORM_PROFILE != "served":
        # Only a worker in this process sees `frequent_progress`; the served profile's worker
        # process reports on its own 0.5 s throttle, longer than this run.
        assert len({p for p in running if 0 < p < 1}) >= 2
    assert seen[-1] == {"id": run.pk, "status": "done", "progress": 1}
    assert page.locator("#backtest-progress").count() == 0
    assert page.locator("#backtest-cancel").count() == 0

    run.refresh_from_db()
    assert (run.status, run.candle_count) == (R.DONE, CANDLES)
    assert page.locator("#backtest-metrics tr[data-figure=total_return_pct]").count() == 1
    assert page.locator("#backtest-metrics tr[data-figure=sharpe]").count() == 1
    trades = min(len(run.trades()), 500)
    assert trades > 50
    assert page.locator("#backtest-trades tr[data-trade]").count() == trades
    assert "No lookahead" in page.inner_text("[data-check=lookahead]")
    assert page.locator("[data-check=warmup][data-passed=yes]").count() == 1
    wait_for_js(page, "document.getElementById('candle-chart').dataset.loaded > 0",
                timeout=20_000)
    for chart in ("#equity-chart", "#drawdown-chart", "#candle-chart"):
        size = chart_size(page, chart)
        assert size["width"] > 100, chart
        assert size["height"] > 100, chart
    assert int(page.get_attribute("#candle-chart", "data-loaded")) == 5_000  # merged 4 to 1
    assert int(page.get_attribute("#candle-chart", "data-markers")) > trades
    assert "20,000 candles, drawn 4 to a bar." in page.inner_text("#candle-chart-note")
    assert page.get_attribute("#candle-chart", "data-marker-words") == "false"  # too many
    screenshot(page, "backtest-run")

    # Run again with changes: the form comes filled in from the run.
    page.click("#run-again-with-changes")
    page.wait_for_selector("#backtest-form")
    assert page.input_value("#id_param_fast") == "5"
    assert page.input_value("#id_interval") == "1m"
    page.fill("#id_param_fast", "10")
    page.fill("#id_param_slow", "40")
    page.fill("#id_cash", "2000")
    page.select_option("#id_sizing", "fixed_quote")
    assert page.is_visible("[data-field-row=sizing_amount]")
    page.fill("#id_sizing_amount", "500")
    submit(page)
    second = BacktestRun.objects.exclude(pk=run.pk).get()
    assert (second.params["fast"], second.settings["sizing_config"]) == (10, {"amount": "500"})
    page.goto(asgi_live_server.url + "/backtests/")
    page.wait_for_selector(f"#backtest-row-{second.pk}[data-status=done]", timeout=60_000)

    page.check(f"#backtest-row-{run.pk} input[name=ids]")
    page.check(f"#backtest-row-{second.pk} input[name=ids]")
    screenshot(page, "backtest-list")
    page.click("#compare-selected")
    page.wait_for_selector("#compare-table")
    assert page.locator("#compare-table th[data-run]").count() == 2
    assert page.locator("#compare-table tr[data-figure=total_return_pct] td.best").count() == 1
    size = chart_size(page, "#compare-chart")
    assert size["width"] > 100
    assert page.locator("#compare-legend li").count() == 2
    screenshot(page, "backtest-compare")
