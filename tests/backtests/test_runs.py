"""Backtest runs: created and checked in words, executed once on stored candles with progress
pushed to the owner's pages, cancelled when asked, and tagged with the data and code they
used; the served profile runs one through a real Celery worker."""

import asyncio
import logging
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from backtests import runs, services
from backtests.engine import data_hash, load_csv, simulator
from backtests.models import BacktestRun
from backtests.services import (
    BacktestRefused,
    backtest_run_cancel,
    backtest_run_create,
    backtest_run_execute,
    backtest_run_repeat,
    code_version,
    git_commit,
    stored_candles,
    symbol_filters,
)
from backtests.tasks import backtest_run_task
from bots.strategies import get_strategy
from marketdata.models import Kline
from portfolios.models import Portfolio
from tests.backtests.conftest import assert_refused_in_words
from tests.support.servers import wait_until
from tradingsite.events import flush_published, user_group

CSV = Path(__file__).resolve().parents[3] / "shared/data/klines/BTCUSDT-1h-taeminlee_cp-spot.csv"
FIRST = datetime(2023, 6, 1, tzinfo=UTC)  # the first candle of the file
SMA = {"fast": 5, "slow": 20}
R = BacktestRun.Status


def store_candles(count: int = 400, symbol: str = "BTCUSDT", market: str = "spot") -> list[Kline]:
    """`count` real hourly BTCUSDT candles (from the shared kline file) stored as `symbol`."""
    candles = load_csv(CSV)
    candles = candles[candles["open_time"] >= FIRST].head(count)
    return Kline.objects.bulk_create(
        Kline(market=market, symbol=symbol, interval="1h", open_time=row.open_time,
              close_time=row.open_time + timedelta(minutes=59, seconds=59),
              open=D(str(row.open)), high=D(str(row.high)), low=D(str(row.low)),
              close=D(str(row.close)), volume=D(str(row.volume)))
        for row in candles.itertuples())


def new_run(owner, **changes) -> BacktestRun:
    asked = {"owner": owner, "strategy": "sma_cross", "params": SMA, "symbol": "BTCUSDT",
             "interval": "1h", "start": None, "end": None, "settings": {}, **changes}
    return backtest_run_create(**asked)


@pytest.fixture
def candles(db):
    return store_candles()


@pytest.fixture
def frequent_progress(monkeypatch):
    """Progress from the engine every 20 bars, each one saved and pushed (not every 0.5 s)."""
    monkeypatch.setattr(simulator, "PROGRESS_EVERY", 20)
    monkeypatch.setattr(services, "PROGRESS_SECONDS", 0)


def received_events(user) -> callable:
    """Subscribe to the user's group now; the returned function gives what arrived."""
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(user_group(user.pk), channel)

    async def drain() -> list[dict]:
        events = []
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), 1)
            except TimeoutError:
                return events
            events.append(message["event"])

    def collect() -> list[dict]:
        assert flush_published()
        return async_to_sync(drain)()

    return collect


# --- create ---------------------------------------------------------------------------------

def test_a_run_is_queued_with_complete_parameters_and_settings(trader, candles):
    run = new_run(trader, params={"fast": "5", "slow": 20}, symbol=" btcusdt ",
                  settings={"cash": D("2500"), "fee": "0.00075", "slippage_bps": 2})

    assert run.status == R.QUEUED
    assert run.symbol == "BTCUSDT"
    assert run.params["fast"] == 5
    assert run.params["stop_loss_pct"] == "0"  # every parameter, defaults included
    assert run.settings == {"cash": "2500", "fee": "0.00075", "fee_asset": "received",
                            "slippage_bps": "2", "sizing": "allocation_fraction",
                            "sizing_config": {"fraction": "1"}, "leverage": 1,
                            "direction": "long", "maintenance_margin": "0.004"}
    assert run.celery_task_id


@pytest.mark.parametrize(("changes", "errors"), [
    ({"strategy": "nope"}, {"strategy": "unknown strategy 'nope'"}),
    ({"params": {"fast": 1}}, {"params": "fast: fast must be at least 2"}),
    ({"params": {"fast": 5, "typo": 1}}, {"params": "typo: unknown parameter 'typo'"}),
    ({"interval": "7m"}, {"interval": "'7m' is not an interval"}),
    ({"symbol": "BTC/USDT"}, {"symbol": "give a symbol such as BTCUSDT"}),
    ({"start": FIRST + timedelta(days=2), "end": FIRST + timedelta(days=1)},
     {"end": "the end must be after the start"}),
    ({"settings": {"cash": "0"}}, {"cash": "must be above 0"}),
    ({"settings": {"cash": "lots"}}, {"cash": "'lots' is not a number"}),
    ({"settings": {"fee": "1"}}, {"fee": "must be at least 0 and below 1"}),
    ({"settings": {"slippage_bps": "-1"}}, {"slippage_bps": "must be at least 0"}),
    ({"settings": {"fee_asset": "bnb"}}, {"fee_asset": "'received'"}),
    ({"settings": {"sizing": "all_in"}}, {"sizing": "choose one of fixed_quote"}),
    ({"settings": {"sizing": "fixed_quote", "sizing_config": {"amount": "-5"}}},
     {"sizing_config": "amount must be positive"}),
    ({"settings": {"sizing": "risk_per_trade", "sizing_config": {"risk_fraction": "0.01"}}},
     {"sizing": "set the strategy's stop_loss_pct"}),
    ({"settings": {"margin": "3"}}, {"settings": "unknown setting(s): margin"}),
    ({"settings": {"leverage": "3"}}, {"leverage": "spot is long-only without leverage"}),
    ({"settings": {"direction": "both"}}, {"direction": "spot is long-only"}),
    ({"market": "futures"}, {"candles": "no stored futures 1h candles of BTCUSDT"}),
    ({"market": "futures", "settings": {"leverage": "200"}},
     {"leverage": "a whole number from 1 to 125"}),
    ({"market": "options"}, {"market": "spot or futures (USD-M)"}),
    ({"symbol": "ETHUSDT"}, {"candles": "no stored 1h candles of ETHUSDT in that range"}),
    ({"start": FIRST + timedelta(days=400)}, {"candles": "no stored 1h candles of BTCUSDT"}),
])
def test_what_cannot_run_is_refused_in_words_and_nothing_is_saved(trader, candles, changes,
                                                                   errors):
    assert_refused_in_words(lambda: new_run(trader, **changes), errors, BacktestRun)


def test_someone_elses_portfolio_is_refused(trader, other_trader, candles):
    theirs = Portfolio.objects.create(owner=other_trader, name="theirs")

    with pytest.raises(BacktestRefused, match="portfolio: portfolio #.* is not yours"):
        new_run(trader, portfolio=theirs)


def test_the_task_is_queued_once_the_run_is_committed(trader, candles, monkeypatch,
                                                      django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(backtest_run_task, "apply_async",
                        lambda args, task_id: queued.append((args, task_id)))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = new_run(trader)
    assert queued == []
    callbacks[0]()

    assert queued == [([run.pk], run.celery_task_id)]


def test_a_broker_that_cannot_take_the_task_fails_the_run_in_words(
        trader, candles, monkeypatch, django_capture_on_commit_callbacks):
    def broker_down(**kwargs):
        raise ConnectionError("Connection refused")

    monkeypatch.setattr(backtest_run_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        run = new_run(trader)

    run.refresh_from_db()
    assert run.status == R.FAILED
    assert run.error.startswith("could not be queued for a worker: ConnectionError(")


def test_with_tasks_inline_a_created_run_runs_to_the_end(trader, candles, tasks_run_inline,
                                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = new_run(trader)

    run.refresh_from_db()
    assert run.status == R.DONE


# --- execute --------------------------------------------------------------------------------

def test_a_run_stores_the_report_its_figures_and_what_data_and_code_made_it(trader, candles):
    run = new_run(trader, settings={"fee": "0.001", "cash": "1000"})

    returned = backtest_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert returned == run
    assert run.status == R.DONE
    assert run.progress == 1.0
    assert run.error == ""
    assert run.started_at <= run.finished_at
    assert run.candle_count == 400
    report = run.results
    assert report["strategy"] == "sma_cross"
    assert report["trade_count"] == len(report["trades"]) > 3
    assert report["trades"][0]["entry_words"].startswith("SMA(5)")
    assert run.metrics["total_return_pct"] == report["total_return_pct"]
    assert set(run.metrics) >= {"sharpe", "max_drawdown_pct", "win_rate_pct", "fees_paid"}
    assert "trades" not in run.metrics
    implied = D(1000) * (1 + D(run.metrics["total_return_pct"]) / 100)
    assert abs(D(run.metrics["final_equity"]) - implied) < D("0.01")
    unknown = symbol_filters(symbol="BTCUSDT") is None  # other tests may have synced symbols
    assert any("filters are not known" in note for note in report["notes"]) == unknown
    assert run.data_hash == data_hash(stored_candles(symbol="BTCUSDT", interval="1h"))
    assert run.code_version == code_version(get_strategy("sma_cross"))
    assert run.code_version.endswith(" sma_cross:" + run.code_version.rsplit(":", 1)[1])


def test_the_range_limits_the_candles_and_changes_the_data_hash(trader, candles):
    whole = new_run(trader)
    part = new_run(trader, start=FIRST + timedelta(days=2), end=FIRST + timedelta(days=10))

    backtest_run_execute(run_id=whole.pk)
    backtest_run_execute(run_id=part.pk)

    whole.refresh_from_db()
    part.refresh_from_db()
    assert part.candle_count == 8 * 24
    assert part.results["start"].startswith("2023-06-03T01:00")  # the first candle's close
    assert part.data_hash != whole.data_hash


def test_a_duplicate_execute_does_nothing(trader, candles):
    run = new_run(trader)
    backtest_run_execute(run_id=run.pk)
    run.refresh_from_db()

    assert backtest_run_execute(run_id=run.pk) is None

    again = BacktestRun.objects.get(pk=run.pk)
    assert (again.status, again.finished_at, again.results) == (R.DONE, run.finished_at,
                                                                run.results)


def test_a_run_another_worker_holds_is_left_to_it(trader, candles):
    run = new_run(trader)
    BacktestRun.objects.filter(pk=run.pk).update(status=R.RUNNING, started_at=timezone.now())

    assert backtest_run_execute(run_id=run.pk) is None
    run.refresh_from_db()
    assert (run.status, run.results) == (R.RUNNING, {})


def test_progress_is_pushed_to_the_owner_and_ends_with_the_final_status(trader, candles,
                                                                        frequent_progress):
    run = new_run(trader)
    events = received_events(trader)

    backtest_run_execute(run_id=run.pk)

    pushed = events()
    assert {event["type"] for event in pushed} == {"backtest.progress"}
    data = [event["data"] for event in pushed]
    assert data[0] == {"id": run.pk, "status": "running", "progress": 0.0}
    fractions = [d["progress"] for d in data if d["status"] == "running"]
    assert len(fractions) > 5
    assert fractions == sorted(fractions)
    assert 0 < fractions[3] < 1
    assert data[-1] == {"id": run.pk, "status": "done", "progress": 1.0}


def test_progress_is_saved_on_the_run_while_it_runs(trader, candles, frequent_progress,
                                                   monkeypatch):
    run = new_run(trader)
    seen = []
    monkeypatch.setattr(runs, "publish_to_user", lambda **event: seen.append(
        BacktestRun.objects.values_list("status", "progress").get(pk=run.pk)))

    backtest_run_execute(run_id=run.pk)

    assert any(status == R.RUNNING and 0 < progress < 1 for status, progress in seen)


def test_a_cancel_during_the_run_stops_it_at_the_next_progress_check(trader, candles,
                                                                    frequent_progress,
                                                                    monkeypatch):
    run = new_run(trader)
    pushed = []

    def cancel_once_under_way(*, user_id, event_type, data):
        pushed.append(data)
        if data["status"] == R.RUNNING and data["progress"] > 0.2 and len(pushed) < 50:
            backtest_run_cancel(run=BacktestRun.objects.get(pk=run.pk))

    monkeypatch.setattr(runs, "publish_to_user", cancel_once_under_way)

    backtest_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == R.CANCELLED
    assert run.cancel_requested
    assert 0.2 < run.progress < 1
    assert run.results == {}
    assert run.metrics == {}
    assert run.finished_at is not None
    assert pushed[-1] == {"id": run.pk, "status": "cancelled", "progress": run.progress}


def test_a_cancel_that_came_with_the_claim_stops_the_run_before_any_work(trader, candles):
    run = new_run(trader)
    BacktestRun.objects.filter(pk=run.pk).update(cancel_requested=True)

    backtest_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == R.CANCELLED
    assert run.candle_count == 0
    assert run.data_hash == ""


def test_candles_gone_by_the_time_it_runs_fail_the_run_in_words(trader, candles):
    run = new_run(trader)
    Kline.objects.all().delete()

    backtest_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == R.FAILED
    assert run.error.startswith("no stored 1h candles of BTCUSDT in that range")


def test_an_unexpected_error_fails_the_run_with_its_repr_and_is_logged(trader, candles,
                                                                      monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("the simulator broke")

    monkeypatch.setattr(services, "run_backtest", broken)
    run = new_run(trader)

    with caplog.at_level(logging.ERROR, logger="backtests.services"):
        backtest_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == R.FAILED
    assert run.error == "RuntimeError('the simulator broke')"
    assert f"backtest run {run.pk} failed" in caplog.text


# --- cancel and repeat ----------------------------------------------------------------------

def test_a_queued_run_is_cancelled_at_once_and_announced(trader, candles, monkeypatch):
    pushed = []
    monkeypatch.setattr(runs, "publish_to_user", lambda **event: pushed.append(event))
    run = new_run(trader)

    run = backtest_run_cancel(run=run)

    assert run.status == R.CANCELLED
    assert run.finished_at is not None
    assert pushed == [{"user_id": trader.pk, "event_type": "backtest.progress",
                       "data": {"id": run.pk, "status": "cancelled", "progress": 0.0}}]
    assert backtest_run_execute(run_id=run.pk) is None  # the task, when it comes, does nothing


def test_a_running_run_is_asked_to_stop(trader, candles):
    run = new_run(trader)
    BacktestRun.objects.filter(pk=run.pk).update(status=R.RUNNING, started_at=timezone.now())

    run = backtest_run_cancel(run=run)

    assert (run.status, run.cancel_requested) == (R.RUNNING, True)


def test_a_run_still_running_long_past_the_time_limit_is_cancelled_at_once(trader, candles):
    run = new_run(trader)
    lost = timezone.now() - timedelta(minutes=40)  # its worker died without a word
    BacktestRun.objects.filter(pk=run.pk).update(status=R.RUNNING, started_at=lost)

    assert backtest_run_cancel(run=run).status == R.CANCELLED


def test_cancelling_twice_is_harmless_and_a_finished_run_is_refused(trader, candles):
    cancelled = backtest_run_cancel(run=new_run(trader))
    done = new_run(trader)
    backtest_run_execute(run_id=done.pk)

    assert backtest_run_cancel(run=cancelled).status == R.CANCELLED
    with pytest.raises(BacktestRefused, match="is done: there is nothing to cancel"):
        backtest_run_cancel(run=done)


def test_a_run_repeated_is_a_new_queued_run_with_the_same_settings(trader, candles):
    portfolio = Portfolio.objects.create(owner=trader, name="mine")
    first = new_run(trader, portfolio=portfolio, start=FIRST, settings={"cash": "777"})
    backtest_run_execute(run_id=first.pk)

    again = backtest_run_repeat(run=first)

    assert again.pk != first.pk
    assert again.status == R.QUEUED
    assert (again.owner, again.portfolio, again.params, again.settings, again.start) == (
        trader, portfolio, first.params, first.settings, first.start)


# --- code version ---------------------------------------------------------------------------

def test_the_code_version_names_the_commit_and_the_strategys_source(monkeypatch):
    sma, ema = get_strategy("sma_cross"), get_strategy("ema_cross")

    assert code_version(sma) == code_version(sma)
    assert code_version(sma).split(" ")[0] == code_version(ema).split(" ")[0] == git_commit()
    assert code_version(sma).split(":")[1] != code_version(ema).split(":")[1]

    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    git_commit.cache_clear()
    monkeypatch.setattr(subprocess, "run", no_git)
    try:
        assert code_version(sma).startswith("unknown sma_cross:")
    finally:
        git_commit.cache_clear()


def test_an_edited_strategy_shows_as_another_code_version(tmp_path, settings):
    from bots.strategies import load_user_strategies

    source = '''
from bots.strategies import Strategy, register

@register
class Edited(Strategy):
    name = "edited_for_version"
    LIMIT = {limit}
'''
    (tmp_path / "edited.py").write_text(source.format(limit=1))
    try:
        assert load_user_strategies(tmp_path) == []
        before = code_version(get_strategy("edited_for_version"))
        (tmp_path / "edited.py").write_text(source.format(limit=2))
        assert load_user_strategies(tmp_path) == []
        after = code_version(get_strategy("edited_for_version"))
    finally:
        load_user_strategies(settings.USER_STRATEGIES_DIR)  # the platform's own again

    assert before != after


# --- through a real worker ------------------------------------------------------------------

@pytest.mark.served
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_goes_through_a_real_celery_worker_to_done(trader, served_worker):
    store_candles(300)
    run = new_run(trader)  # committed at once: the task goes to the broker

    wait_until(lambda: BacktestRun.objects.get(pk=run.pk).is_finished, timeout=60,
               interval=0.25, what="the worker to finish the backtest")

    run.refresh_from_db()
    assert run.status == R.DONE, run.error
    assert run.candle_count == 300
    assert run.results["trades"]
    assert run.code_version
    assert run.data_hash
