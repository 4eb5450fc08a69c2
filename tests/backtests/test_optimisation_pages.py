"""The trader's optimisation pages: the list (live progress, best values), the form (ranges
pre-filled from the declared ones, the combinations counted, refusals in words beside the
parameter or field they are about), a run's page (chunks, cancel, the ranking and the heatmap,
the walk-forward windows, equity and stability, "Backtest these"); each for the owner only."""

import re

import pytest

from backtests.models import BacktestRun, OptimisationRun
from backtests.optimisation import optimisation_create
from tests.backtests.test_runs import store_candles

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
S = OptimisationRun.Status
SPACE = {"fast": {"min": 5, "max": 15, "step": 5}, "slow": {"min": 20, "max": 40, "step": 10}}


@pytest.fixture
def candles(db):
    """400 real hourly BTCUSDT candles from 2023-06-01."""
    return store_candles(400)


@pytest.fixture
def inline(tasks_run_inline, django_capture_on_commit_callbacks):
    """Runs what is queued on commit, where it is queued (the chord runs eagerly)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def new_run(owner, **changes) -> OptimisationRun:
    asked = {"owner": owner, "strategy": "sma_cross", "symbol": "BTCUSDT", "interval": "1h",
             "start": None, "end": None, "settings": {}, "kind": "grid", "space": SPACE,
             "fixed": {}, "objective": "sharpe", "min_trades": 1, **changes}
    return optimisation_create(**asked)


@pytest.fixture
def done_run(trader, candles, inline):
    def run(**changes) -> OptimisationRun:
        with inline():
            created = new_run(trader, **changes)
        created.refresh_from_db()
        assert created.status == S.DONE, created.error
        return created

    return run


def optimisation_form(**extra) -> dict:
    """sma_cross: fast 5 to 15 by 5, slow 20 to 40 by 10 (9 combinations), a grid search."""
    return {"strategy": "sma_cross",
            "param_fast_min": "5", "param_fast_max": "15", "param_fast_step": "5",
            "param_fast_fixed": "", "param_slow_min": "20", "param_slow_max": "40",
            "param_slow_step": "10", "param_slow_fixed": "",
            **{f"param_{name}_{part}": "" for name in ("stop_loss_pct", "take_profit_pct",
                                                       "trailing_stop_pct")
               for part in ("min", "max", "step", "fixed")},
            "kind": "grid", "samples": "", "seed": "0", "in_sample": "", "out_of_sample": "",
            "step": "", "objective": "sharpe", "min_trades": "1",
            "symbol": "btcusdt", "interval": "1h", "start": "", "end": "", "cash": "5000",
            "fee": "0.001", "fee_asset": "received", "slippage_bps": "1",
            "sizing": "allocation_fraction", "sizing_amount": "100", "sizing_fraction": "1",
            "sizing_risk_fraction": "0.01", **extra}


def parameter_row(html: str, name: str) -> str:
    """The form row of one parameter's range, where its complaints are shown."""
    return html.split(f'data-parameter-row="{name}"')[1].split('<div class="form-row')[0]


def field_row(html: str, name: str) -> str:
    return html.split(f'data-field-row="{name}"')[1].split('<div class="form-row"')[0]


def section(html: str, id_: str) -> str:
    return html.split(f'id="{id_}"')[1].split("</section>")[0]


# --- the list ------------------------------------------------------------------------------

def test_the_list_shows_the_traders_runs_with_live_progress_and_best_values(
        owner, trader, other_trader, done_run):
    done = done_run()
    running = new_run(trader)
    OptimisationRun.objects.filter(pk=running.pk).update(status=S.RUNNING, progress=0.25,
                                                         chunk_count=8, chunks_done=2)
    theirs = new_run(other_trader)

    page = owner.get("/backtests/optimisations/").content.decode()

    row = page.split(f'id="optimisation-row-{done.pk}"')[1].split("</tr>")[0]
    assert f'href="/backtests/optimisations/{done.pk}/"' in row
    assert "grid search" in row
    assert "fast 5 to 15 by 5, slow 20 to 40 by 10" in row
    assert 'data-status="done"' in page
    assert f"{done.results['best_value']:.3f}" in row
    live = page.split(f'id="optimisation-row-{running.pk}"')[1].split("</tr>")[0]
    assert '<progress class="run-progress" value="0.25" max="1">' in live
    assert "25 %" in live
    assert f'hx-get="/backtests/optimisations/{running.pk}/row/"' in page
    assert f'id="optimisation-row-{theirs.pk}"' not in page
    assert 'href="/backtests/optimisations/new/"' in page
    assert "js/optimisations.js" in page
    assert 'href="/backtests/optimisations/"' in owner.get("/backtests/").content.decode()


def test_a_row_renders_alone_for_its_refresh(owner, trader, candles):
    run = new_run(trader)

    html = owner.get(f"/backtests/optimisations/{run.pk}/row/", **HTMX).content.decode()

    assert "<html" not in html
    assert html.strip().startswith(f'<tr id="optimisation-row-{run.pk}"')
    assert 'data-status="queued"' in html


def test_a_walk_forward_row_shows_its_out_of_sample_value(owner, done_run):
    run = done_run(kind="walk_forward", in_sample=150, out_of_sample=50)

    row = owner.get(f"/backtests/optimisations/{run.pk}/row/").content.decode()

    assert "walk-forward" in row
    assert "out of sample" in row
    assert f"{run.results['metrics']['sharpe']:.3f}" in row


def test_pages_need_a_login(client, trader, candles):
    run = new_run(trader)
    for url in ("/backtests/optimisations/", "/backtests/optimisations/new/",
                f"/backtests/optimisations/{run.pk}/"):
        answer = client.get(url)
        assert answer.status_code == 302
        assert answer.url.startswith("/accounts/login/")


# --- the form ------------------------------------------------------------------------------

def test_the_form_offers_ranges_filled_from_the_declared_ones(owner):
    page = owner.get("/backtests/optimisations/new/").content.decode()

    assert '<option value="sma_cross" selected>SMA crossover</option>' in page
    assert 'hx-get="/backtests/optimisations/parameters/"' in page
    fast = parameter_row(page, "fast")
    for part, value in (("min", "2"), ("max", "100"), ("step", "2")):
        assert f'name="param_fast_{part}" value="{value}"' in fast
    assert 'name="param_fast_fixed"' in fast
    assert "Declared from 2 to 100 by 2." in fast
    stop = parameter_row(page, "stop_loss_pct")  # declared without a step: not searched
    assert 'name="param_stop_loss_pct_min" step="any"' in stop
    assert 'placeholder="default 0"' in stop
    assert 'value="grid"' in page
    assert 'value="walk_forward"' in page
    assert '<option value="sharpe" selected>Sharpe ratio: return per unit of volatility' in page
    assert 'data-kinds="walk_forward"' in page
    for name in ("objective", "min_trades", "samples", "seed", "in_sample", "out_of_sample",
                 "step", "symbol", "interval", "start", "end", "cash", "fee", "fee_asset",
                 "slippage_bps", "sizing", "sizing_fraction"):
        assert f'data-field-row="{name}"' in page
    # fast 2..100 by 2 and slow 3..300 by 3: 5,000, less those with fast >= slow.
    combinations = page.split('id="optimisation-combinations"')[1].split("</div>")[0]
    assert "4,167 combinations to try: fast 50 values × slow 100 values, less 833 the " \
           "strategy refuses. A grid search tries them all." in combinations
    assert 'hx-post="/backtests/optimisations/combinations/"' in combinations


def test_choosing_another_strategy_swaps_in_its_ranges_and_choices(owner):
    answer = owner.get("/backtests/optimisations/parameters/",
                       {"strategy": "rsi_reversion", "kind": "random", "samples": "20"}, **HTMX)

    html = answer.content.decode()
    assert answer.status_code == 200
    assert "<html" not in html
    assert html.strip().startswith('<div id="strategy-parameters"')
    assert 'name="param_oversold_min" value="1"' in html
    choices = parameter_row(html, "entry_rule")
    assert choices.count('type="checkbox" name="param_entry_rule_values"') == 2
    assert choices.count("checked") == 2  # every value, to begin with
    assert "param_fast" not in html
    assert "A random search draws 20 of them." in html
    assert owner.get("/backtests/optimisations/parameters/",
                     {"strategy": "nope"}).status_code == 404
    without_htmx = owner.get("/backtests/optimisations/new/",
                             {"strategy": "rsi_reversion"}).content.decode()
    assert 'name="param_entry_rule_values"' in without_htmx


@pytest.mark.parametrize(("changes", "words"), [
    ({}, "9 combinations to try: fast 3 values × slow 3 values. A grid search tries them all."),
    ({"param_fast_max": "30"}, "14 combinations to try: fast 6 values × slow 3 values, less 4 "
                               "the strategy refuses."),
    ({"kind": "walk_forward"}, "Each walk-forward window tries them all."),
    ({"kind": "random", "samples": "4"}, "A random search draws 4 of them."),
    ({"param_fast_min": "", "param_fast_max": "", "param_fast_step": "",
      "param_fast_fixed": "10"}, "3 combinations to try: slow 3 values."),
    ({"param_fast_step": ""}, "Correct the parameters marked below to count the combinations."),
    ({"param_fast_min": "1"}, "fast: cannot try 1: fast must be at least 2"),
])
def test_the_combinations_are_counted_as_the_form_is_filled(owner, changes, words):
    answer = owner.post("/backtests/optimisations/combinations/", optimisation_form(**changes),
                        **HTMX)

    html = answer.content.decode()
    assert html.strip().startswith('<p id="combinations-words"')
    assert words in html


@pytest.mark.parametrize(("fields", "where", "words"), [
    ({"param_fast_min": "15", "param_fast_max": "5"}, ("parameter", "fast"),
     "fast: the range starts at 15, above its end 5"),
    ({"param_fast_min": "1"}, ("parameter", "fast"),
     "fast: cannot try 1: fast must be at least 2 (declared range 2 to 100)"),
    ({"param_slow_step": ""}, ("parameter", "slow"),
     "slow: give the minimum, maximum and step (or leave all three empty)."),
    ({"param_slow_fixed": "30"}, ("parameter", "slow"),
     "slow: give a range or a fixed value, not both."),
    ({"param_stop_loss_pct_fixed": "-1"}, ("parameter", "stop_loss_pct"),
     "stop_loss_pct: cannot try -1"),
    ({"param_fast_min": "", "param_fast_max": "", "param_fast_step": "",
      "param_slow_min": "", "param_slow_max": "", "param_slow_step": ""},
     ("space", None), "Give at least one parameter a range (or values) to try."),
    ({"param_fast_min": "50", "param_fast_max": "50", "param_fast_step": "1",
      "param_slow_max": "40"}, ("space", None),
     "no combination of these ranges is valid for sma_cross"),
    ({"param_fast_min": "2", "param_fast_max": "100", "param_fast_step": "1",
      "param_slow_min": "3", "param_slow_max": "300", "param_slow_step": "1",
      "param_take_profit_pct_min": "0", "param_take_profit_pct_max": "10",
      "param_take_profit_pct_step": "1"}, ("space", None), "at most 100,000 can be tried"),
    ({"kind": "random"}, ("field", "samples"),
     "random search needs the number of combinations to draw"),
    ({"kind": "walk_forward", "out_of_sample": "50"}, ("field", "in_sample"),
     "walk-forward needs the candles"),
    ({"kind": "walk_forward", "in_sample": "300", "out_of_sample": "200"},
     ("field", "in_sample"), "one window needs 541 candles"),
    ({"kind": "walk_forward", "in_sample": "100", "out_of_sample": "50", "step": "10"},
     ("field", "in_sample"), "a step of 10 candles is shorter than the out-of-sample span"),
    ({"min_trades": ""}, ("field", "min_trades"), "give the fewest trades a candidate needs"),
    ({"min_trades": "-1"}, ("field", "min_trades"), "must be at least 0"),
    ({"objective": "profit"}, ("field", "objective"), "Select a valid choice."),
    ({"symbol": "ETHUSDT"}, ("field", "symbol"), "no stored 1h candles of ETHUSDT"),
    ({"cash": "0"}, ("field", "cash"), "must be above 0"),
    ({"sizing": "risk_per_trade"}, ("field", "sizing"), "set the strategy&#x27;s stop_loss_pct"),
])
def test_what_cannot_run_is_refused_in_words_beside_what_it_is_about(owner, candles, fields,
                                                                    where, words):
    answer = owner.post("/backtests/optimisations/new/", optimisation_form(**fields))

    html = answer.content.decode()
    assert answer.status_code == 400
    kind, name = where
    if kind == "parameter":
        assert words in parameter_row(html, name)
    elif kind == "field":
        assert words in field_row(html, name)
    else:
        assert words in html.split('id="space-errors"')[1].split("</div>")[0]
    assert html.count('role="alert"') == 1  # said once, in its place
    assert not OptimisationRun.objects.exists()


def test_a_choice_parameter_is_searched_over_the_values_ticked(owner, candles,
                                                               django_capture_on_commit_callbacks):
    form = optimisation_form(strategy="rsi_reversion", param_period_min="10",
                             param_period_max="14", param_period_step="2",
                             param_oversold_min="", param_oversold_max="",
                             param_oversold_step="", param_oversold_fixed="25",
                             param_overbought_min="", param_overbought_max="",
                             param_overbought_step="", param_overbought_fixed="",
                             param_entry_rule_values=["below"])

    with django_capture_on_commit_callbacks(execute=False):
        answer = owner.post("/backtests/optimisations/new/", form)

    run = OptimisationRun.objects.get()
    assert answer.url == f"/backtests/optimisations/{run.pk}/"
    assert run.space == {"period": {"min": 10, "max": 14, "step": 2}, "entry_rule": ["below"]}
    assert run.fixed == {"oversold": "25"}
    nothing = owner.post("/backtests/optimisations/new/",
                         {**form, "param_entry_rule_values": []}).content.decode()
    assert "entry_rule: tick at least one value to try." in parameter_row(nothing, "entry_rule")


# --- a run's page --------------------------------------------------------------------------

def test_an_optimisation_from_the_form_runs_and_its_page_ranks_and_maps_the_candidates(
        owner, trader, candles, inline):
    with inline():
        answer = owner.post("/backtests/optimisations/new/", optimisation_form())

    run = OptimisationRun.objects.get()
    assert answer.status_code == 302
    assert answer.url == f"/backtests/optimisations/{run.pk}/"
    assert (run.owner, run.status, run.kind, run.symbol) == (trader, S.DONE, "grid", "BTCUSDT")
    assert (run.space, run.fixed, run.min_trades) == (SPACE, {}, 1)
    assert run.settings["cash"] == "5000"

    page = owner.get(answer.url).content.decode()
    assert 'id="optimisation-status" class="badge status run-status-done"' in page
    assert "8 combinations in 8 chunks" not in page  # 9 candidates
    assert "9 combinations in 8 chunks" in page
    best = section(page, "optimisation-best")
    assert ", ".join(f"{k}={v}" for k, v in run.best_params.items()) in best
    assert f"{run.results['best_value']:.3f}" in best
    assert 'id="backtest-best"' in best
    ranking = section(page, "optimisation-ranking")
    assert ranking.count("<tr data-rank=") == 9
    first = run.results["top"][0]
    row = ranking.split('<tr data-rank="1"')[1].split("</tr>")[0]
    assert f'>{first["params"]["fast"]}</td>' in row
    assert f'>{first["params"]["slow"]}</td>' in row
    assert f'{first["metrics"]["trade_count"]}</td>' in row
    assert "every candidate also: <span class=\"mono\">stop_loss_pct=0" in ranking
    heatmap = section(page, "optimisation-heatmap")
    assert "Sharpe by fast and slow" in heatmap
    assert heatmap.count('<tr data-row="') == 3
    assert heatmap.count('class="heat-cell') == 9
    assert heatmap.count("heat-best") == 1
    best_cell = re.search(r'<td class="heat-cell heat-best" style="--heat: ([\d.]+)"', heatmap)
    assert best_cell.group(1) == "1.000"
    assert f'reproducible: data {run.data_hash[:12]}' in page


def test_the_heatmap_shows_the_combinations_the_strategy_refuses(owner, done_run):
    run = done_run(space={"fast": {"min": 10, "max": 30, "step": 10},
                          "slow": {"min": 20, "max": 30, "step": 10}})

    heatmap = section(owner.get(f"/backtests/optimisations/{run.pk}/").content.decode(),
                      "optimisation-heatmap")

    assert heatmap.count("heat-refused") == 3  # fast 20/slow 20, fast 30 with both
    assert "the strategy refuses it: fast must be smaller than slow" in heatmap


def test_backtest_these_queues_a_backtest_of_the_chosen_parameters(owner, done_run,
                                                                   django_capture_on_commit_callbacks):
    run = done_run()

    with django_capture_on_commit_callbacks(execute=False):
        best = owner.post(f"/backtests/optimisations/{run.pk}/backtest/")
        third = owner.post(f"/backtests/optimisations/{run.pk}/backtest/", {"rank": "3"})

    first, other = BacktestRun.objects.order_by("pk")
    assert best.url == f"/backtests/{first.pk}/"
    assert third.url == f"/backtests/{other.pk}/"
    assert first.params == run.best_params
    assert other.params == run.results["top"][2]["params"]
    assert (first.strategy, first.symbol, first.interval, first.settings) == (
        run.strategy, run.symbol, run.interval, run.settings)


def test_a_walk_forward_page_shows_its_windows_equity_and_stability(owner, candles, inline):
    with inline():
        answer = owner.post("/backtests/optimisations/new/", optimisation_form(
            kind="walk_forward", in_sample="150", out_of_sample="50"))

    run = OptimisationRun.objects.get()
    assert run.status == S.DONE, run.error
    assert (run.in_sample, run.out_of_sample, run.step, run.samples) == (150, 50, None, None)
    page = owner.get(answer.url).content.decode()
    windows = section(page, "walk-forward-windows")
    assert windows.count("<tr data-window=") == len(run.results["windows"]) == 4
    first = run.results["windows"][0]
    # 41 warm-up candles, then 150 in sample from 2023-06-02 17:00, then 50 out of sample.
    assert "2023-06-02 17:00 – 2023-06-08 22:00" in windows
    assert "2023-06-08 23:00 – 2023-06-11 00:00" in windows
    assert f"fast={first['best_params']['fast']}, slow={first['best_params']['slow']}" in windows
    stability = section(page, "walk-forward-summary")
    for row in run.results["stability"]:
        assert row["words"] in stability
    assert 'id="walk-forward-chart"' in page
    points = page.split('id="walk-forward-equity"')[1].split("</script>")[0]
    assert points.count('"time"') == len(run.results["curve"]["equity"]) == 200
    metrics = section(page, "walk-forward-metrics")
    assert 'data-figure="total_return_pct"' in metrics
    assert f"{run.results['metrics']['sharpe']:.3f}" in section(page, "walk-forward-summary")
    assert "The last window's winner" in stability


def test_a_queued_run_shows_its_progress_and_is_cancelled_by_its_button(owner, trader,
                                                                       candles):
    run = new_run(trader)

    page = owner.get(f"/backtests/optimisations/{run.pk}/").content.decode()
    assert 'id="optimisation-progress" class="run-progress" value="0.0" max="1"' in page
    assert "planning the chunks" in page
    assert f'hx-post="/backtests/optimisations/{run.pk}/cancel/"' in page
    assert 'id="optimisation-ranking"' not in page

    answer = owner.post(f"/backtests/optimisations/{run.pk}/cancel/", **HTMX)

    html = answer.content.decode()
    assert "<html" not in html
    assert 'data-status="cancelled"' in html
    assert 'id="optimisation-cancel"' not in html
    assert "Cancelled" in html
    assert OptimisationRun.objects.get().status == S.CANCELLED


def test_a_running_run_shows_its_chunks_and_a_cancel_only_asks_it_to_stop(owner, trader,
                                                                         candles):
    run = new_run(trader)
    OptimisationRun.objects.filter(pk=run.pk).update(status=S.RUNNING, progress=0.375,
                                                     chunk_count=8, chunks_done=3,
                                                     started_at=run.created_at)

    html = owner.get(f"/backtests/optimisations/{run.pk}/partials/run/").content.decode()
    assert html.strip().startswith('<div id="optimisation-run"')
    assert 'data-chunk-count="8"' in html
    assert "<span data-chunks-done>3</span> of 8 chunks done" in html
    assert "38 %" in html

    answer = owner.post(f"/backtests/optimisations/{run.pk}/cancel/")

    assert answer.url == f"/backtests/optimisations/{run.pk}/"
    run.refresh_from_db()
    assert (run.status, run.cancel_requested) == (S.RUNNING, True)
    page = owner.get(answer.url).content.decode()
    assert "cancel requested" in page


def test_a_done_run_cannot_be_cancelled_and_says_so(owner, done_run):
    run = done_run()

    answer = owner.post(f"/backtests/optimisations/{run.pk}/cancel/", **HTMX)

    assert "is done: there is nothing to cancel" in answer.content.decode()


def test_a_failed_run_shows_its_error_words(owner, trader, candles):
    run = new_run(trader)
    OptimisationRun.objects.filter(pk=run.pk).update(
        status=S.FAILED, error="a chunk failed on a worker: the candles changed")

    page = owner.get(f"/backtests/optimisations/{run.pk}/").content.decode()

    assert "a chunk failed on a worker: the candles changed" in page.split(
        'id="optimisation-error"')[1]
    assert 'id="optimisation-cancel"' not in page


def test_run_again_with_changes_fills_the_form_and_run_again_repeats(owner, trader, candles,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = new_run(trader, kind="random", samples=4, seed=7, objective="sortino",
                      space={"fast": {"min": 5, "max": 15, "step": 5}},
                      fixed={"stop_loss_pct": "2"}, settings={"cash": "2500"})
        again = owner.post(f"/backtests/optimisations/{run.pk}/repeat/")

    page = owner.get(f"/backtests/optimisations/new/?from={run.pk}").content.decode()

    assert 'name="param_fast_min" value="5"' in page
    assert 'name="param_fast_step" value="5"' in page
    assert 'name="param_slow_min" step="1"' in page  # not searched: its range stays empty
    assert 'name="param_stop_loss_pct_fixed" value="2"' in page
    assert re.search(r'value="random"[^>]*checked', page)
    assert 'name="samples" value="4"' in page
    assert 'name="seed" value="7"' in page
    assert '<option value="sortino" selected>' in page
    assert 'name="cash" value="2500"' in page
    repeated = OptimisationRun.objects.exclude(pk=run.pk).get()
    assert again.url == f"/backtests/optimisations/{repeated.pk}/"
    assert repeated.repeat_kwargs() == run.repeat_kwargs()


def test_a_run_over_the_declared_grid_fills_the_form_with_its_pinned_values_alone(
        owner, trader, candles):
    run = new_run(trader, strategy="rsi_reversion", space={},
                  fixed={"period": 14, "entry_rule": "below", "oversold": 30,
                         "overbought": 70})

    page = owner.get(f"/backtests/optimisations/new/?from={run.pk}").content.decode()

    period = parameter_row(page, "period")
    assert 'name="param_period_min" step="1"' in period  # pinned: no range beside it
    assert 'name="param_period_fixed" value="14"' in period
    entry_rule = parameter_row(page, "entry_rule")
    assert entry_rule.count("checked") == 1
    assert re.search(r'value="below"[^>]*checked', entry_rule)


def test_another_trader_gets_a_404_for_everything_of_yours(outsider, trader, other_trader,
                                                           done_run):
    run = done_run()

    assert f"optimisation-row-{run.pk}" not in outsider.get(
        "/backtests/optimisations/").content.decode()
    for url in (f"/backtests/optimisations/{run.pk}/",
                f"/backtests/optimisations/{run.pk}/row/",
                f"/backtests/optimisations/{run.pk}/partials/run/",
                f"/backtests/optimisations/new/?from={run.pk}"):
        assert outsider.get(url).status_code == 404, url
    for url in (f"/backtests/optimisations/{run.pk}/cancel/",
                f"/backtests/optimisations/{run.pk}/repeat/",
                f"/backtests/optimisations/{run.pk}/backtest/"):
        assert outsider.post(url).status_code == 404, url
    assert OptimisationRun.objects.count() == 1
    assert not BacktestRun.objects.exists()
