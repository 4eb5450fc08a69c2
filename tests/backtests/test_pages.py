"""The trader's backtest pages: the list, the form (each strategy's parameters, refusals in
words beside their field), a run's page with its figures, checks, trades and charts, runs
compared, a bot's drift; each for the owner only."""

from datetime import timedelta

import pytest

from backtests import services, views
from backtests.models import BacktestRun
from backtests.services import backtest_run_create, backtest_run_execute
from bots.models import Bot
from bots.services import bot_create, bot_start
from tests.backtests.test_live_matches_backtest import CSV as MINUTES_CSV
from tests.backtests.test_live_matches_backtest import replay, store
from tests.backtests.test_runs import FIRST, store_candles

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
R = BacktestRun.Status
SMA = {"fast": 5, "slow": 20}


@pytest.fixture
def candles(db):
    """400 real hourly BTCUSDT candles from 2023-06-01."""
    return store_candles(400)


def run_for(user, *, execute=True, **changes) -> BacktestRun:
    asked = {"owner": user, "strategy": "sma_cross", "params": SMA, "symbol": "BTCUSDT",
             "interval": "1h", "start": None, "end": None, "settings": {}, **changes}
    run = backtest_run_create(**asked)
    if execute:
        backtest_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


def backtest_form(**extra) -> dict:
    return {"strategy": "sma_cross", "param_fast": "5", "param_slow": "20",
            "param_stop_loss_pct": "", "param_take_profit_pct": "",
            "param_trailing_stop_pct": "", "symbol": "btcusdt", "interval": "1h",
            "start": "2023-06-02", "end": "2023-06-15", "cash": "5000", "fee": "0.001",
            "fee_asset": "received", "slippage_bps": "1", "sizing": "allocation_fraction",
            "sizing_amount": "100", "sizing_fraction": "1", "sizing_risk_fraction": "0.01",
            **extra}


def field_row(html: str, name: str) -> str:
    """The form row of one field, where its error is shown."""
    return html.split(f'data-field-row="{name}"')[1].split('<div class="form-row"')[0]


# --- the list ------------------------------------------------------------------------------

def test_the_list_shows_the_traders_runs_with_their_figures(owner, trader, other_trader,
                                                             candles):
    done = run_for(trader)
    queued = run_for(trader, execute=False)
    BacktestRun.objects.filter(pk=queued.pk).update(status=R.RUNNING, progress=0.4)
    theirs = run_for(other_trader, execute=False)

    page = owner.get("/backtests/").content.decode()

    row = page.split(f'id="backtest-row-{done.pk}"')[1].split("</tr>")[0]
    assert 'data-status="done"' in page
    assert f'href="/backtests/{done.pk}/"' in row
    assert "fast=5, slow=20" in row
    assert f"{float(done.metrics['total_return_pct']):,.2f} %" in row
    assert f"{done.metrics['trade_count']:,}" in row
    running = page.split(f'id="backtest-row-{queued.pk}"')[1].split("</tr>")[0]
    assert 'data-status="running"' in page
    assert '<progress class="run-progress" value="0.4" max="1">' in running
    assert "40 %" in running
    assert f"/backtests/{queued.pk}/row/" in page
    assert f'id="backtest-row-{theirs.pk}"' not in page
    assert 'name="ids"' in page
    assert 'id="compare-selected"' in page
    assert 'href="/backtests/new/"' in page
    assert 'href="/backtests/"' in owner.get("/dashboard/").content.decode()  # the nav


def test_a_row_renders_alone_for_its_refresh(owner, trader, other_trader, candles):
    run = run_for(trader)

    answer = owner.get(f"/backtests/{run.pk}/row/", **HTMX)

    html = answer.content.decode()
    assert answer.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith(f'<tr id="backtest-row-{run.pk}"')


def test_pages_need_a_login(client, trader, candles):
    run = run_for(trader, execute=False)
    for url in ("/backtests/", "/backtests/new/", f"/backtests/{run.pk}/",
                f"/backtests/{run.pk}/chart.json", f"/backtests/compare/?ids={run.pk}"):
        answer = client.get(url)
        assert answer.status_code == 302
        assert answer.url.startswith("/accounts/login/")


# --- the form ------------------------------------------------------------------------------

def test_the_form_offers_the_strategies_and_the_chosen_ones_parameters(owner):
    page = owner.get("/backtests/new/").content.decode()

    assert '<option value="sma_cross" selected>SMA crossover</option>' in page
    assert '<option value="ema_cross">EMA crossover</option>' in page
    assert 'hx-get="/backtests/parameters/"' in page
    fast = field_row(page, "param_fast")
    assert 'type="number" name="param_fast" value="10" step="1"' in fast
    assert 'min="2" max="100"' in fast
    assert "Bars in the slow moving average; must be more than fast." in page
    for name in ("symbol", "interval", "start", "end", "cash", "fee", "fee_asset",
                 "slippage_bps", "sizing", "sizing_fraction"):
        assert f'data-field-row="{name}"' in page
    assert 'type="date" name="start"' in page
    assert 'name="cash" value="10000"' in page
    assert '<option value="allocation_fraction" selected>' in page
    assert 'name="sizing_fraction" value="1"' in page


def test_choosing_another_strategy_renders_its_parameter_fields(owner):
    answer = owner.get("/backtests/parameters/", {"strategy": "rsi_reversion"}, **HTMX)

    html = answer.content.decode()
    assert answer.status_code == 200
    assert "<html" not in html
    assert 'id="strategy-parameters"' in html
    assert 'name="param_oversold"' in html
    assert "param_fast" not in html
    assert owner.get("/backtests/parameters/", {"strategy": "nope"}).status_code == 404
    without_htmx = owner.get("/backtests/new/", {"strategy": "rsi_reversion"}).content.decode()
    assert 'name="param_oversold"' in without_htmx


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"param_fast": "30", "param_slow": "10"}, "param_fast", "fast must be smaller than slow"),
    ({"param_fast": "1"}, "param_fast", "fast must be at least 2"),
    ({"param_slow": "ten"}, "param_slow", "slow must be a whole number"),
    ({"symbol": "BTC/USDT"}, "symbol", "Give a symbol such as BTCUSDT."),
    ({"symbol": "ETHUSDT"}, "symbol", "no stored 1h candles of ETHUSDT in that range"),
    ({"start": "2030-01-01", "end": ""}, "symbol", "no stored 1h candles of BTCUSDT"),
    ({"start": "2023-06-10", "end": "2023-06-01"}, "end", "the end must be after the start"),
    ({"end": "someday"}, "end", "Enter a valid date."),
    ({"cash": "0"}, "cash", "must be above 0"),
    ({"cash": "lots"}, "cash", "&#x27;lots&#x27; is not a number"),
    ({"fee": "1"}, "fee", "must be at least 0 and below 1"),
    ({"slippage_bps": "-1"}, "slippage_bps", "must be at least 0"),
    ({"sizing": "fixed_quote", "sizing_amount": "-5"}, "sizing_amount",
     "amount must be positive"),
    ({"sizing": "risk_per_trade"}, "sizing", "set the strategy&#x27;s stop_loss_pct"),
    ({"leverage": "3"}, "leverage", "spot is long-only without leverage"),
    ({"market": "futures"}, "symbol", "no stored futures 1h candles of BTCUSDT"),
])
def test_what_cannot_run_is_refused_in_words_beside_its_field(owner, candles, fields, field,
                                                              words):
    answer = owner.post("/backtests/new/", backtest_form(**fields))

    assert answer.status_code == 400
    assert words in field_row(answer.content.decode(), field)
    assert not BacktestRun.objects.exists()


def test_a_backtest_from_the_form_runs_and_its_page_shows_the_results(
        owner, trader, candles, tasks_run_inline, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = owner.post("/backtests/new/", backtest_form())

    run = BacktestRun.objects.get()
    assert answer.status_code == 302
    assert answer.url == f"/backtests/{run.pk}/"
    assert (run.owner, run.status, run.symbol, run.interval) == (trader, R.DONE, "BTCUSDT", "1h")
    assert run.params == {"fast": 5, "slow": 20, "stop_loss_pct": "0", "take_profit_pct": "0",
                          "trailing_stop_pct": "0"}
    assert (run.start.isoformat(), run.end.isoformat()) == (
        "2023-06-02T00:00:00+00:00", "2023-06-16T00:00:00+00:00")  # the end day included
    assert run.settings == {"cash": "5000", "fee": "0.001", "fee_asset": "received",
                            "slippage_bps": "1", "sizing": "allocation_fraction",
                            "sizing_config": {"fraction": "1"}, "leverage": 1,
                            "direction": "long", "maintenance_margin": "0.004"}
    checks = run.results["checks"]
    assert checks["lookahead"]["passed"] is True
    assert checks["warmup"]["passed"] is True

    page = owner.get(answer.url).content.decode()
    assert 'id="backtest-status" class="badge status run-status-done"' in page
    metrics = page.split('id="backtest-metrics"')[1].split("</section>")[0]
    for group in ("Returns", "Risk", "Trades", "Period"):
        assert f'data-group="{group}"' in metrics
    for name in run.metrics:
        assert f'data-figure="{name}"' in metrics
    assert f"{float(run.metrics['total_return_pct']):,.2f} %" in metrics
    assert checks["lookahead"]["summary"] in page
    assert checks["warmup"]["summary"] in page
    assert page.count('class="badge check-pass">pass') == 2
    trades = page.split('id="backtest-trades"')[1].split("</section>")[0]
    first = run.results["trades"][0]
    assert trades.count("<tr data-trade=") == len(run.trades())
    assert first["entry_price"] in trades
    assert first["entry_words"] in trades  # the strategy's words, as a tooltip
    assert f'href="/api/backtests/{run.pk}/trades.csv"' in trades
    assert 'data-year="2023"' in page
    assert "Decisions are made on closed candles" in page.split('id="backtest-notes"')[1]
    assert 'id="equity-chart"' in page
    assert 'id="backtest-equity"' in page
    assert 'id="drawdown-chart"' in page
    assert 'id="candle-chart"' in page
    assert f"/backtests/{run.pk}/chart.json" in page
    assert f"reproducible: data {run.data_hash[:12]}, code {run.code_version}" in page
    assert f'href="/backtests/new/?from={run.pk}"' in page


def test_run_again_with_changes_fills_the_form_from_the_run(owner, trader, candles):
    run = run_for(trader, execute=False, params={"fast": 7, "slow": 30},
                  start=FIRST + timedelta(days=1), end=FIRST + timedelta(days=10),
                  settings={"cash": "2500", "fee_asset": "quote", "sizing": "fixed_quote",
                            "sizing_config": {"amount": "250"}})

    page = owner.get(f"/backtests/new/?from={run.pk}").content.decode()

    assert 'name="param_fast" value="7"' in page
    assert 'name="param_slow" value="30"' in page
    assert 'name="start" value="2023-06-02"' in page
    assert 'name="end" value="2023-06-10"' in page  # the last day included
    assert 'name="cash" value="2500"' in page
    assert '<option value="quote" selected>' in page
    assert '<option value="fixed_quote" selected>' in page
    assert 'name="sizing_amount" value="250"' in page


def test_run_again_queues_the_same_backtest(owner, trader, candles):
    run = run_for(trader)

    answer = owner.post(f"/backtests/{run.pk}/repeat/")

    again = BacktestRun.objects.exclude(pk=run.pk).get()
    assert answer.url == f"/backtests/{again.pk}/"
    assert (again.params, again.settings, again.status) == (run.params, run.settings, R.QUEUED)


# --- a run's page --------------------------------------------------------------------------

def test_a_queued_run_shows_its_progress_and_is_cancelled_by_its_button(owner, trader,
                                                                       candles):
    run = run_for(trader, execute=False)

    page = owner.get(f"/backtests/{run.pk}/").content.decode()
    assert 'id="backtest-progress" class="run-progress" value="0.0" max="1"' in page
    assert f'hx-post="/backtests/{run.pk}/cancel/"' in page
    assert 'id="backtest-metrics"' not in page

    answer = owner.post(f"/backtests/{run.pk}/cancel/", **HTMX)

    html = answer.content.decode()
    assert "<html" not in html
    assert 'data-status="cancelled"' in html
    assert 'id="backtest-cancel"' not in html
    assert BacktestRun.objects.get().status == R.CANCELLED


def test_cancel_without_javascript_redirects_and_a_done_run_cannot_be_cancelled(
        owner, trader, candles):
    queued, done = run_for(trader, execute=False), run_for(trader)

    answer = owner.post(f"/backtests/{queued.pk}/cancel/")
    assert answer.url == f"/backtests/{queued.pk}/"
    assert BacktestRun.objects.get(pk=queued.pk).status == R.CANCELLED

    refused = owner.post(f"/backtests/{done.pk}/cancel/", **HTMX).content.decode()
    assert f"run #{done.pk} is done: there is nothing to cancel" in refused
    assert BacktestRun.objects.get(pk=done.pk).status == R.DONE


def test_a_failed_run_shows_its_error_words(owner, trader, candles):
    run = run_for(trader, execute=False)
    BacktestRun.objects.filter(pk=run.pk).update(status=R.FAILED, error="the candles vanished")

    page = owner.get(f"/backtests/{run.pk}/").content.decode()

    assert 'id="backtest-error" role="alert">the candles vanished' in page
    assert 'id="backtest-cancel"' not in page


def test_the_run_partial_renders_alone(owner, trader, candles):
    run = run_for(trader)

    html = owner.get(f"/backtests/{run.pk}/partials/run/", **HTMX).content.decode()

    assert "<html" not in html
    assert html.startswith(f'<div id="backtest-run" data-run-id="{run.pk}" data-status="done"')
    assert 'id="backtest-metrics"' in html


def test_a_check_that_cannot_run_is_recorded_and_the_run_still_finishes(
        owner, trader, candles, monkeypatch):
    def broken(strategy, candles):
        raise RuntimeError("the check fell over")

    monkeypatch.setattr(services, "CHECKS", (("lookahead", broken),
                                             ("warmup", services.warmup_check)))
    run = run_for(trader, start=FIRST, end=FIRST + timedelta(hours=50))

    assert run.status == R.DONE
    assert run.results["checks"]["lookahead"]["error"] == "the check fell over"
    assert run.results["checks"]["lookahead"]["passed"] is None
    # 50 candles are too few for the warm-up check (3 x lookback()): said so, not failed.
    assert "needs more than" in run.results["checks"]["warmup"]["error"]
    page = owner.get(f"/backtests/{run.pk}/").content.decode()
    assert "The check could not run: the check fell over" in page
    assert page.count('class="badge check-unknown">not checked') == 2


def test_the_chart_data_has_the_candles_and_the_entries_and_exits(owner, trader, candles):
    run = run_for(trader)

    data = owner.get(f"/backtests/{run.pk}/chart.json").json()

    assert len(data["candles"]) == data["candle_count"] == 400
    assert data["merged"] == 1
    assert data["candles"][0] == {"time": int(FIRST.timestamp()), "open": float(candles[0].open),
                                  "high": float(candles[0].high), "low": float(candles[0].low),
                                  "close": float(candles[0].close)}
    trades = run.trades()
    entries = [m for m in data["markers"] if m["shape"] == "arrowUp"]
    exits = [m for m in data["markers"] if m["shape"] == "arrowDown"]
    assert len(entries) == len(trades)
    assert len(exits) == len([t for t in trades if t["exit_reason"] != "open_at_end"])
    assert {m["text"] for m in exits} <= {"signal", "stop loss", "take profit", "trailing stop"}
    assert entries[0]["price"] == trades[0]["entry_price"]
    times = {c["time"] for c in data["candles"]}
    assert all(m["time"] in times for m in data["markers"])
    assert [m["time"] for m in data["markers"]] == sorted(m["time"] for m in data["markers"])


def test_many_candles_are_merged_for_the_chart(owner, trader, candles, monkeypatch):
    monkeypatch.setattr(views, "CHART_CANDLES", 100)
    run = run_for(trader)

    data = owner.get(f"/backtests/{run.pk}/chart.json").json()

    assert (len(data["candles"]), data["merged"], data["candle_count"]) == (100, 4, 400)
    first_four = candles[:4]
    assert data["candles"][0] == {
        "time": int(FIRST.timestamp()), "open": float(first_four[0].open),
        "high": max(float(k.high) for k in first_four),
        "low": min(float(k.low) for k in first_four), "close": float(first_four[-1].close)}
    times = {c["time"] for c in data["candles"]}
    assert all(m["time"] in times for m in data["markers"])


# --- compare -------------------------------------------------------------------------------

def test_compare_shows_the_runs_side_by_side_with_the_best_values_marked(owner, trader,
                                                                          candles):
    first = run_for(trader)
    second = run_for(trader, params={"fast": 10, "slow": 40}, settings={"cash": "500"})

    page = owner.get(f"/backtests/compare/?ids={first.pk},{second.pk}").content.decode()

    table = page.split('id="compare-table"')[1]
    assert f'<th data-run="{first.pk}">' in table
    assert f'<th data-run="{second.pk}">' in table
    assert "fast=10, slow=40" in table
    for name in ("total_return_pct", "sharpe", "max_drawdown_pct", "trade_count"):
        assert f'data-figure="{name}"' in table
    returns = table.split('data-figure="total_return_pct"')[1].split("</tr>")[0]
    assert returns.count(" best") == 1
    assert 'id="compare-chart"' in page
    lines = page.split('id="compare-lines" type="application/json">')[1].split("</script>")[0]
    assert f'"id": {first.pk}' in lines
    assert f'"id": {second.pk}' in lines
    assert '"value": 100.0' in lines  # each line starts at 100
    checkboxes = owner.get(f"/backtests/compare/?ids={first.pk}&ids={second.pk}")
    assert checkboxes.status_code == 200
    assert f'<th data-run="{second.pk}">' in checkboxes.content.decode()


def test_compare_without_runs_says_how(owner):
    page = owner.get("/backtests/compare/").content.decode()

    assert "Tick two or more runs" in page


# --- ownership -------------------------------------------------------------------------------

def test_another_trader_gets_a_404_for_everything_of_yours(outsider, trader, other_trader,
                                                           candles, paper_portfolio):
    run = run_for(trader)
    mine = run_for(other_trader, execute=False)
    bot = bot_create(portfolio=paper_portfolio, name="mine", symbol="BTCUSDT",
                     strategy="sma_cross", params=SMA)

    for url in (f"/backtests/{run.pk}/", f"/backtests/{run.pk}/chart.json",
                f"/backtests/{run.pk}/row/", f"/backtests/{run.pk}/partials/run/",
                f"/backtests/new/?from={run.pk}", f"/backtests/compare/?ids={run.pk}",
                f"/backtests/compare/?ids={mine.pk},{run.pk}", f"/backtests/drift/{bot.pk}/"):
        assert outsider.get(url).status_code == 404, url
    for url in (f"/backtests/{run.pk}/cancel/", f"/backtests/{run.pk}/repeat/"):
        assert outsider.post(url).status_code == 404, url
    assert BacktestRun.objects.count() == 2
    assert f"#{run.pk}" not in outsider.get("/backtests/").content.decode()


# --- drift -----------------------------------------------------------------------------------

def test_the_drift_page_says_when_the_bot_has_decided_nothing(owner, paper_portfolio):
    bot = bot_create(portfolio=paper_portfolio, name="idle", symbol="BTCUSDT",
                     strategy="sma_cross", params=SMA)

    page = owner.get(f"/backtests/drift/{bot.pk}/").content.decode()

    assert "idle has decided nothing yet: there is nothing to compare" in page
    assert f'href="/backtests/drift/{bot.pk}/"' in owner.get(f"/bots/{bot.pk}/").content.decode()


def test_the_drift_page_puts_the_bots_trades_beside_the_backtests(owner, paper_portfolio):
    from backtests.engine import load_csv

    candles = load_csv(MINUTES_CSV).iloc[:150].reset_index(drop=True)
    store(candles)
    bot = bot_start(bot=bot_create(
        portfolio=paper_portfolio, name="replayed", symbol="BTCUSDT", strategy="sma_cross",
        params={"fast": 5, "slow": 13}, sizing="fixed_quote", sizing_config={"amount": "100"}))
    replay(bot, candles)
    assert Bot.objects.get(pk=bot.pk).decisions.exists()

    page = owner.get(f"/backtests/drift/{bot.pk}/").content.decode()

    counts = page.split('id="drift-counts"')[1].split("</dl>")[0]
    matched = int(counts.split('data-count="matched">')[1].split("<")[0])
    assert matched >= 2
    assert 'data-count="live_only">' in counts
    assert 'data-count="backtest_only">' in counts
    table = page.split('id="drift-table"')[1]
    assert table.count("<tr class=") >= matched
    assert "2024-03-01" in table


def test_the_drift_page_is_the_owners_only(outsider, paper_portfolio):
    bot = bot_create(portfolio=paper_portfolio, name="private", symbol="BTCUSDT",
                     strategy="sma_cross", params=SMA)

    assert outsider.get(f"/backtests/drift/{bot.pk}/").status_code == 404
