"""The control panel: staff list runs with their figures, start one from the add form (checked
as the API checks it), run one again and cancel runs."""

import pytest
from django.test import Client

from backtests.models import BacktestRun
from backtests.services import backtest_run_create, backtest_run_execute
from tests.backtests.test_runs import SMA, store_candles

pytestmark = pytest.mark.django_db

R = BacktestRun.Status
LIST = "/admin/backtests/backtestrun/"
ADD_FORM = {"owner": "", "portfolio": "", "strategy": "sma_cross",
            "params": '{"fast": 5, "slow": 20}', "symbol": "btcusdt", "interval": "1h",
            "start_0": "", "start_1": "", "end_0": "", "end_1": "", "cash": "10000",
            "fee": "0.001", "fee_asset": "received", "slippage_bps": "0",
            "sizing": "allocation_fraction", "sizing_config": '{"fraction": "0.5"}'}


@pytest.fixture(autouse=True)
def candles(db):
    return store_candles(300)


@pytest.fixture
def boss(staff):
    client = Client()
    client.force_login(staff)
    return client


def run_of(owner, **settings) -> BacktestRun:
    return backtest_run_create(owner=owner, strategy="sma_cross", params=SMA, symbol="BTCUSDT",
                               interval="1h", start=None, end=None, settings=settings)


def test_the_list_shows_runs_with_status_progress_and_return(boss, trader):
    done = run_of(trader)
    backtest_run_execute(run_id=done.pk)
    done.refresh_from_db()
    run_of(trader)

    page = boss.get(LIST)

    assert page.status_code == 200
    text = page.content.decode()
    assert "sma_cross" in text
    assert "100%" in text
    assert done.metrics["total_return_pct"] in text
    assert text.count("BTCUSDT") >= 2


def test_a_run_shows_its_figures_notes_and_trades(boss, trader):
    run = run_of(trader)
    backtest_run_execute(run_id=run.pk)

    page = boss.get(f"{LIST}{run.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "total return pct" in text
    assert "Decisions are made on closed candles" in text
    assert f"/api/backtests/{run.pk}/trades.csv" in text


def test_staff_start_a_run_from_the_add_form(boss, staff, trader):
    form = boss.get(f"{LIST}add/").content.decode()
    assert 'name="sizing_config"' in form
    assert '<option value="sma_cross">' in form

    answer = boss.post(f"{LIST}add/", {**ADD_FORM, "owner": trader.pk})

    assert answer.status_code == 302, answer.content.decode()[-3000:]
    run = BacktestRun.objects.get()
    assert (run.owner, run.status, run.symbol) == (trader, R.QUEUED, "BTCUSDT")
    assert run.params["slow"] == 20
    assert run.settings["sizing_config"] == {"fraction": "0.5"}
    assert run.celery_task_id


def test_the_add_form_shows_problems_in_words(boss, trader):
    answer = boss.post(f"{LIST}add/", {**ADD_FORM, "owner": trader.pk,
                                       "params": '{"fast": 1}', "cash": "0"})

    assert answer.status_code == 200
    text = answer.content.decode()
    assert "params: fast: fast must be at least 2" in text
    assert "cash: must be above 0" in text
    assert not BacktestRun.objects.exists()


def test_run_again_makes_a_new_run_with_the_same_settings(boss, trader):
    first = run_of(trader, cash="1234", slippage_bps="3")
    backtest_run_execute(run_id=first.pk)

    answer = boss.post(LIST, {"action": "run_again", "_selected_action": [first.pk]},
                       follow=True)

    again = BacktestRun.objects.exclude(pk=first.pk).get()
    assert f"queued again as #{again.pk}" in answer.content.decode()
    assert again.status == R.QUEUED
    assert (again.owner, again.strategy, again.params, again.settings) == (
        trader, first.strategy, first.params, first.settings)


def test_cancel_stops_queued_runs_and_says_why_a_done_one_cannot_be(boss, trader):
    queued = run_of(trader)
    done = run_of(trader)
    backtest_run_execute(run_id=done.pk)

    answer = boss.post(LIST, {"action": "cancel", "_selected_action": [queued.pk, done.pk]},
                       follow=True)

    text = answer.content.decode()
    queued.refresh_from_db()
    assert queued.status == R.CANCELLED
    assert f"{queued}: cancelled" in text
    assert "is done: there is nothing to cancel" in text
    assert BacktestRun.objects.get(pk=done.pk).status == R.DONE


def test_a_run_cannot_be_edited_in_the_admin(boss, trader):
    run = run_of(trader)

    page = boss.get(f"{LIST}{run.pk}/change/").content.decode()

    assert 'name="_save"' not in page
