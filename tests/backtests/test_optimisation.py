"""Optimisation runs: asked for and checked in words, split into chunks that run as a Celery
chord, ranked as the engine ranks them, cancelled, failed in words when a chunk breaks,
walk-forward windows stitched; the API, the admin, the embedded worker's chords and (served)
a real worker process."""

from datetime import timedelta
from decimal import Decimal

import pytest
from celery.exceptions import ChordError, TimeLimitExceeded
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from backtests import optimisation, runs
from backtests.engine import BacktestConfig, SymbolFilters, data_hash
from backtests.engine.optimise import (
    evaluate,
    grid_candidates,
    max_lookback,
    parameter_space,
    random_candidates,
    rank,
)
from backtests.engine.walkforward import walk_forward, walk_forward_windows
from backtests.models import OptimisationRun
from backtests.optimisation import (
    optimisation_cancel,
    optimisation_chunk,
    optimisation_chunk_failed,
    optimisation_create,
    optimisation_repeat,
    optimisation_start,
    worker_processes,
)
from backtests.services import BacktestRefused, code_version, stored_candles, symbol_filters
from bots.strategies import get_strategy
from marketdata.symbol_rules import symbols_changed
from tests.backtests.conftest import assert_refused_in_words
from tests.backtests.test_runs import received_events, store_candles
from tests.support.api import field_errors
from tests.support.servers import wait_until
from tradingsite.celery import app

S = OptimisationRun.Status
SMA = get_strategy("sma_cross")
SPACE = {"fast": {"min": 5, "max": 15, "step": 5}, "slow": [20, 30, 40]}  # 9 candidates
WIDE = {"fast": {"min": 5, "max": 25, "step": 5}, "slow": {"min": 30, "max": 60, "step": 10}}
LIST = "/admin/backtests/optimisationrun/"


def asked(owner, **changes) -> dict:
    return {"owner": owner, "strategy": "sma_cross", "symbol": "BTCUSDT", "interval": "1h",
            "start": None, "end": None, "settings": {}, "kind": "grid", "space": SPACE,
            "fixed": {}, "objective": "sharpe", "min_trades": 3, **changes}


def new_run(owner, **changes) -> OptimisationRun:
    return optimisation_create(**asked(owner, **changes))


@pytest.fixture
def candles(db):
    return store_candles(400)


@pytest.fixture
def run_inline(tasks_run_inline, django_capture_on_commit_callbacks):
    """Create an optimisation and run it to its end where it is created (chords run eagerly)."""
    def run(owner, **changes) -> OptimisationRun:
        with django_capture_on_commit_callbacks(execute=True):
            created = new_run(owner, **changes)
        created.refresh_from_db()
        return created

    return run


def config() -> BacktestConfig:
    """The default settings' configuration, with BTCUSDT's filters when other tests stored
    them (as a run reads them)."""
    return BacktestConfig(interval="1h",
                          filters=symbol_filters(symbol="BTCUSDT") or SymbolFilters())


def engine_ranking(candidates, objective="sharpe", min_trades=3) -> list[dict]:
    candles = stored_candles(symbol="BTCUSDT", interval="1h")
    scores = evaluate("sma_cross", candidates, candles, config())
    return [score.as_dict() for score in rank(scores, objective, min_trades=min_trades)]


# --- create ---------------------------------------------------------------------------------

def test_an_optimisation_is_queued_with_what_was_asked_in_json(trader, candles):
    run = new_run(trader, symbol=" btcusdt ", space={"fast": (5, 15, 5), "slow": [20, 30]},
                  fixed={"stop_loss_pct": Decimal("2.5")}, settings={"cash": "2500"})

    assert run.status == S.QUEUED
    assert run.symbol == "BTCUSDT"
    assert run.space == {"fast": {"min": 5, "max": 15, "step": 5}, "slow": [20, 30]}
    assert run.fixed == {"stop_loss_pct": "2.5"}
    assert run.settings["cash"] == "2500"
    assert run.settings["fee"] == "0.001"  # the backtest defaults fill the rest
    assert (run.kind, run.objective, run.min_trades, run.seed) == ("grid", "sharpe", 3, 0)
    assert run.celery_task_id


@pytest.mark.parametrize(("changes", "errors"), [
    ({"kind": "annealing"}, {"kind": "'annealing' is not a kind of run"}),
    ({"objective": "profit"}, {"objective": "'profit' is not an objective: choose one of "
                                            "sharpe, sortino, calmar, return, return_drawdown"}),
    ({"space": {"fast": {"min": 1, "max": 10, "step": 1}}},
     {"space": "fast: cannot try 1: fast must be at least 2"}),
    ({"space": {"speed": [1]}}, {"space": "sma_cross has no parameter speed"}),
    ({"space": {"fast": {"min": 5, "max": 10}}}, {"space": "fast: a range is"}),
    ({"space": {"fast": [50], "slow": [20]}},
     {"space": "no combination of these ranges is valid for sma_cross"}),
    ({"fixed": {"stop_loss_pct": "-1"}}, {"space": "stop_loss_pct: cannot try -1"}),
    ({"min_trades": -1}, {"min_trades": "must be at least 0"}),
    ({"min_trades": "many"}, {"min_trades": "give a whole number, not 'many'"}),
    ({"kind": "random"}, {"samples": "random search needs the number of combinations"}),
    ({"samples": 5}, {"samples": "a grid search tries every combination"}),
    ({"in_sample": 100}, {"in_sample": "only a walk-forward run has in-sample"}),
    ({"kind": "walk_forward"}, {"in_sample": "walk-forward needs the candles",
                                "out_of_sample": "walk-forward needs the candles"}),
    ({"kind": "walk_forward", "in_sample": 300, "out_of_sample": 200},
     {"windows": "one window needs 541 candles (41 warm-up, 300 in sample, 200 out of "
                 "sample) and there are only 400"}),
    ({"kind": "walk_forward", "in_sample": 100, "out_of_sample": 50, "step": 10},
     {"windows": "a step of 10 candles is shorter than the out-of-sample span of 50"}),
    ({"strategy": "nope"}, {"strategy": "unknown strategy 'nope'"}),
    ({"symbol": "ETHUSDT"}, {"candles": "no stored 1h candles of ETHUSDT in that range"}),
    ({"settings": {"cash": "0"}}, {"cash": "must be above 0"}),
])
def test_what_cannot_run_is_refused_in_words_and_nothing_is_saved(trader, candles, changes,
                                                                   errors):
    assert_refused_in_words(lambda: new_run(trader, **changes), errors, OptimisationRun)


# --- a grid through the chord -----------------------------------------------------------------

def test_a_grid_run_ends_done_ranked_exactly_as_the_engine_ranks(trader, candles, run_inline):
    run = run_inline(trader)

    assert run.status == S.DONE, run.error
    assert (run.progress, run.chunks_done, run.chunk_count) == (1.0, 8, 8)  # 2 workers x 4
    assert (run.candidate_count, run.candle_count) == (9, 400)
    assert run.data_hash == data_hash(stored_candles(symbol="BTCUSDT", interval="1h"))
    assert run.code_version == code_version(SMA)
    expected = engine_ranking(grid_candidates(SMA, parameter_space(SMA, {
        "fast": (5, 15, 5), "slow": [20, 30, 40]})))
    results = run.results
    assert results["top"] == expected
    assert results["best"] == expected[0]["params"] == run.best_params
    assert results["best_value"] == expected[0]["value"]
    assert (results["candidates"], results["evaluated"]) == (9, 9)
    assert results["eligible"] + results["ineligible"] == 9
    assert run.started_at <= run.finished_at


def test_progress_is_pushed_per_chunk_and_ends_with_done(trader, candles, run_inline):
    events = received_events(trader)

    run = run_inline(trader)

    data = [event["data"] for event in events() if event["type"] == "optimisation.progress"]
    assert data[0] == {"id": run.pk, "status": "running", "progress": 0.0}
    fractions = [d["progress"] for d in data if d["status"] == "running"]
    assert fractions == [0.0, *(n / 8 for n in range(1, 9))]
    assert data[-1] == {"id": run.pk, "status": "done", "progress": 1.0}


def test_the_chunks_are_about_four_per_worker_and_never_too_big(trader, candles, run_inline,
                                                              monkeypatch):
    monkeypatch.setattr(optimisation, "worker_processes", lambda: 1)
    assert run_inline(trader).chunk_count == 4

    monkeypatch.setattr(optimisation, "MAX_CHUNK", 2)
    assert run_inline(trader).chunk_count == 5  # 9 candidates, at most 2 a chunk


def test_the_workers_are_asked_how_many_processes_they_run(settings, monkeypatch):
    answers = {"a@host": {"pool": {"max-concurrency": 3}}, "b@host": {"pool": {}}}

    class Inspect:
        def __init__(self, timeout):
            assert timeout == optimisation.INSPECT_TIMEOUT

        def stats(self):
            return answers

    monkeypatch.setattr(app.control, "inspect", Inspect)
    settings.PLATFORM_PROFILE = "embedded"
    assert worker_processes() == 2  # embedded: the default, nobody is asked
    settings.PLATFORM_PROFILE = "served"
    assert worker_processes() == 4
    answers = None  # no worker answered in time
    assert worker_processes() == optimisation.DEFAULT_WORKERS


def test_random_search_is_reproducible_with_its_seed(trader, candles, run_inline):
    first = run_inline(trader, kind="random", space=WIDE, samples=6, seed=7)
    again = run_inline(trader, kind="random", space=WIDE, samples=6, seed=7)
    other = run_inline(trader, kind="random", space=WIDE, samples=6, seed=8)

    assert first.status == again.status == S.DONE
    assert first.results["top"] == again.results["top"]
    assert first.candidate_count == 6
    drawn = random_candidates(SMA, parameter_space(SMA, {"fast": (5, 25, 5),
                                                         "slow": (30, 60, 10)}), 6, 7)
    assert first.results["top"] == engine_ranking(drawn)
    params = [sorted(s["params"].items()) for s in first.results["top"]]
    assert params != [sorted(s["params"].items()) for s in other.results["top"]]


def test_candidates_under_the_minimum_trades_are_ranked_last_and_say_why(trader, candles,
                                                                         run_inline):
    run = run_inline(trader, min_trades=1000)

    assert run.status == S.DONE
    results = run.results
    assert (results["eligible"], results["ineligible"]) == (0, 9)
    assert results["best"] is None
    assert results["why_none"] == "no candidate reached 1000 trades with a sharpe value"
    assert all(score["eligible"] is False for score in results["top"])
    assert all(score["why"].endswith(" trades, fewer than the minimum of 1000")
               for score in results["top"])


def test_a_duplicate_start_does_nothing(trader, candles, run_inline):
    run = run_inline(trader)

    assert optimisation_start(run_id=run.pk) is None
    again = OptimisationRun.objects.get(pk=run.pk)
    assert (again.status, again.finished_at, again.results) == (S.DONE, run.finished_at,
                                                                run.results)


def test_a_run_repeated_is_a_new_queued_run_asked_the_same_way(trader, candles, run_inline):
    first = run_inline(trader, kind="random", space=WIDE, samples=4, seed=3, min_trades=2)

    again = optimisation_repeat(run=first)

    assert again.pk != first.pk
    assert again.status == S.QUEUED
    assert again.repeat_kwargs() == first.repeat_kwargs()


# --- cancel and failures ---------------------------------------------------------------------

def test_a_cancel_before_the_start_cancels_at_once_and_the_task_does_nothing(
        trader, candles, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = new_run(trader)

    run = optimisation_cancel(run=run)

    assert (run.status, run.cancel_requested) == (S.CANCELLED, True)
    assert run.finished_at is not None
    assert optimisation_start(run_id=run.pk) is None
    assert OptimisationRun.objects.get(pk=run.pk).status == S.CANCELLED


def test_a_cancel_while_chunks_run_stops_the_rest_and_ends_cancelled(trader, candles,
                                                                   run_inline, monkeypatch):
    def cancel_after_the_second_chunk(*, user_id, event_type, data):
        if data["status"] == S.RUNNING and data["progress"] >= 2 / 8:
            optimisation_cancel(run=OptimisationRun.objects.get(pk=data["id"]))

    monkeypatch.setattr(runs, "publish_to_user", cancel_after_the_second_chunk)

    run = run_inline(trader)

    assert run.status == S.CANCELLED
    assert run.chunks_done == 2  # the others skipped their work
    assert run.results == {}


def test_a_stale_running_run_is_cancelled_at_once_and_a_finished_one_is_refused(
        trader, candles, run_inline, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        lost = new_run(trader)
    long_ago = timezone.now() - timedelta(hours=1)
    OptimisationRun.objects.filter(pk=lost.pk).update(status=S.RUNNING, started_at=long_ago,
                                                      progressed_at=long_ago)
    done = run_inline(trader)

    assert optimisation_cancel(run=lost).status == S.CANCELLED
    with pytest.raises(BacktestRefused, match="is done: there is nothing to cancel"):
        optimisation_cancel(run=done)


@pytest.mark.parametrize("propagates", [False, True])
def test_a_failing_chunk_marks_the_run_failed_in_words(trader, candles, run_inline,
                                                      monkeypatch, propagates):
    """Not propagating, an inline task fails as on a worker: Celery calls the error callback
    linked to the chunk. Propagating, the error comes back to the start task."""
    monkeypatch.setitem(app.conf, "task_eager_propagates", propagates)
    calls = []

    def breaks_on_the_fourth_candidate(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("the simulator broke")
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(optimisation, "evaluate", breaks_on_the_fourth_candidate)

    run = run_inline(trader)

    assert run.status == S.FAILED
    assert run.error == "a chunk failed on a worker: RuntimeError('the simulator broke')"
    assert run.results == {}
    assert run.finished_at is not None


def test_a_chunk_finding_other_candles_fails_the_run_in_words(trader, candles):
    run = new_run(trader)
    OptimisationRun.objects.filter(pk=run.pk).update(
        status=S.RUNNING, candle_count=400, data_hash="0" * 64, chunk_count=1)
    optimisation._CANDLES.clear()

    with pytest.raises(ValueError, match="changed since the optimisation started") as error:
        optimisation_chunk(run_id=run.pk, index=0, params=[{"fast": 5, "slow": 20}])
    optimisation_chunk_failed(run_id=run.pk, error=error.value)

    run.refresh_from_db()
    assert run.status == S.FAILED
    assert run.error == ("a chunk failed on a worker: the stored 1h candles of BTCUSDT "
                         "changed since the optimisation started: run it again")


def chord_error(cause: Exception) -> ChordError:
    wrapped = ChordError(f"Dependency 1234 raised {cause!r}")
    wrapped.__cause__ = cause
    return wrapped


@pytest.mark.parametrize(("error", "words"), [
    (chord_error(RuntimeError("boom")), "a chunk failed on a worker: RuntimeError('boom')"),
    (TimeLimitExceeded(1860), "a chunk ran past the time limit of 31 minutes: narrow the "
                              "ranges or shorten the candle range"),
    (ValueError("no stored 1h candles"), "a chunk failed on a worker: no stored 1h candles"),
])
def test_the_error_callback_words_what_went_wrong_once(trader, candles, error, words):
    run = new_run(trader)
    OptimisationRun.objects.filter(pk=run.pk).update(status=S.RUNNING)

    optimisation_chunk_failed(run_id=run.pk, error=error)
    optimisation_chunk_failed(run_id=run.pk, error=RuntimeError("a second chunk"))

    run.refresh_from_db()
    assert (run.status, run.error) == (S.FAILED, words)


# --- walk-forward ---------------------------------------------------------------------------

def test_a_walk_forward_run_stores_its_windows_stitched_curve_and_stability(
        trader, candles, run_inline):
    run = run_inline(trader, kind="walk_forward", in_sample=150, out_of_sample=50,
                     min_trades=1)

    assert run.status == S.DONE, run.error
    space = parameter_space(SMA, {"fast": (5, 15, 5), "slow": [20, 30, 40]})
    frame = stored_candles(symbol="BTCUSDT", interval="1h")
    windows = walk_forward_windows(len(frame), in_sample=150, out_of_sample=50,
                                   warmup=max_lookback("sma_cross", grid_candidates(SMA, space)))
    direct = walk_forward("sma_cross", frame, config(), space, objective="sharpe", min_trades=1,
                          windows=windows).as_dict()
    results = run.results
    assert run.chunk_count == len(windows) * 2  # 8 chunks spread over the windows
    assert results["windows"] == direct["windows"]
    assert len(results["windows"]) == 4
    assert results["stability"] == direct["stability"]
    assert results["stability"][0]["words"].startswith("fast: ")
    assert results["metrics"] == direct["metrics"]
    assert results["curve"]["times"] == direct["curve"]["times"]  # 200 points: not thinned
    assert results["curve"]["equity"] == direct["curve"]["equity"]
    assert results["best"] == direct["windows"][-1]["best_params"]


# --- the embedded profile's worker ------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_chords_run_on_the_embedded_thread_worker_with_its_in_process_results(trader):
    """The embedded profile: memory broker, ``cache+memory://`` results, a thread pool."""
    from tradingsite import embedded

    if django_settings.PLATFORM_PROFILE == "served":
        pytest.skip("the embedded profile's worker (the served one is tested below)")
    assert app.conf.result_backend == "cache+memory://"
    store_candles(400)
    app.control.purge()  # tasks other tests queued without a worker
    worker = embedded.start_worker(app, concurrency=4)
    try:
        run = new_run(trader)
        wait_until(lambda: OptimisationRun.objects.get(pk=run.pk).is_finished, timeout=60,
                   interval=0.1, what="the embedded worker to finish the optimisation")
    finally:
        embedded.stop(worker)

    run.refresh_from_db()
    assert run.status == S.DONE, run.error
    assert run.chunks_done == run.chunk_count == 8
    assert run.results["top"][0]["params"] == run.best_params


# --- API ---------------------------------------------------------------------------------------

def api_create(client, **changes):
    return client.post("/api/optimisations/", {
        "strategy": "sma_cross", "symbol": "btcusdt", "interval": "1h", "kind": "grid",
        "space": SPACE, "objective": "sortino", "min_trades": 2, "cash": "5000", **changes},
        format="json")


def test_the_api_creates_lists_retrieves_and_cancels_your_own(owner, trader, candles,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        created = api_create(owner)

    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["owner"], body["symbol"]) == ("queued", "trader", "BTCUSDT")
    assert body["space"] == SPACE
    assert body["settings"]["cash"] == "5000"
    listed = owner.get("/api/optimisations/").json()
    assert [run["id"] for run in listed["results"]] == [body["id"]]
    assert "results" not in listed["results"][0]
    assert owner.get(f"/api/optimisations/{body['id']}/").json()["results"] == {}
    cancelled = owner.post(f"/api/optimisations/{body['id']}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"


def test_the_api_refuses_in_words(owner, candles):
    refused = api_create(owner, space={"fast": [1]}, kind="random")

    assert refused.status_code == 400
    assert field_errors(refused.json()) == {
        "space": "fast: cannot try 1: fast must be at least 2 (declared range 2 to 100)",
        "samples": "random search needs the number of combinations to draw"}
    assert api_create(owner, objective="luck").status_code == 400
    assert not OptimisationRun.objects.exists()


def test_a_done_run_shows_its_results_and_cannot_be_cancelled(owner, trader, candles,
                                                             run_inline):
    run = run_inline(trader)

    shown = owner.get(f"/api/optimisations/{run.pk}/").json()
    again = owner.post(f"/api/optimisations/{run.pk}/cancel/")

    assert shown["status"] == "done"
    assert shown["results"]["top"] == run.results["top"]
    assert again.status_code == 400
    assert "is done: there is nothing to cancel" in again.json()["status"]


def test_another_trader_never_sees_or_cancels_your_optimisation(outsider, trader, candles):
    run = new_run(trader)

    assert outsider.get("/api/optimisations/").json()["results"] == []
    assert outsider.get(f"/api/optimisations/{run.pk}/").status_code == 404
    assert outsider.post(f"/api/optimisations/{run.pk}/cancel/").status_code == 404
    assert OptimisationRun.objects.get(pk=run.pk).status == S.QUEUED


# --- admin ------------------------------------------------------------------------------------

@pytest.fixture
def boss(staff):
    client = Client()
    client.force_login(staff)
    return client


def test_the_admin_lists_optimisations_and_shows_the_top_scores(boss, trader, candles,
                                                               run_inline):
    done = run_inline(trader)
    walked = run_inline(trader, kind="walk_forward", in_sample=150, out_of_sample=50,
                        min_trades=1)

    page = boss.get(LIST)
    detail = boss.get(f"{LIST}{done.pk}/change/")
    windows = boss.get(f"{LIST}{walked.pk}/change/")

    assert page.status_code == 200
    assert "sma_cross" in page.content.decode()
    assert "100%" in page.content.decode()
    assert detail.status_code == 200
    text = detail.content.decode()
    assert "Top scores" in text
    best = ", ".join(f"{name}={value}" for name, value in done.best_params.items())
    assert best in text
    assert "8 of 8" in text
    assert windows.status_code == 200
    assert "won" in windows.content.decode()  # the stability words


def test_the_admin_runs_again_and_cancels(boss, trader, candles,
                                          django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        run = new_run(trader)
        boss.post(LIST, {"action": "run_again", "_selected_action": [run.pk]})
    again = OptimisationRun.objects.exclude(pk=run.pk).get()

    boss.post(LIST, {"action": "cancel", "_selected_action": [run.pk, again.pk]})

    assert again.repeat_kwargs() == run.repeat_kwargs()
    assert set(OptimisationRun.objects.values_list("status", flat=True)) == {S.CANCELLED}


# --- through a real worker process ------------------------------------------------------------

@pytest.mark.served
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_grid_goes_through_a_real_celery_worker_to_done(trader, served_worker):
    symbols_changed()  # the worker process may still hold symbol rules an earlier test stored
    store_candles(300)
    run = new_run(trader)  # committed at once: the start task goes to the broker

    wait_until(lambda: OptimisationRun.objects.get(pk=run.pk).is_finished, timeout=90,
               interval=0.25, what="the worker to finish the optimisation")

    run.refresh_from_db()
    assert run.status == S.DONE, run.error
    assert run.chunk_count == 8  # the worker said it runs 2 threads: 4 chunks each
    assert run.chunks_done == 8
    expected = engine_ranking(grid_candidates(SMA, parameter_space(SMA, {
        "fast": (5, 15, 5), "slow": [20, 30, 40]})))
    assert run.results["top"] == expected
