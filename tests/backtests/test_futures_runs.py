"""Futures backtests on the platform: asked through the services, the API, the pages' form
and the command line, run on stored USD-M candles, with shorts, leverage and funding in
the report."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from backtests.engine import load_csv
from backtests.models import BacktestRun
from backtests.services import BacktestRefused, backtest_run_execute
from tests.backtests.test_command import CSV
from tests.backtests.test_pages import backtest_form
from tests.backtests.test_runs import new_run, store_candles

pytestmark = pytest.mark.django_db
R = BacktestRun.Status
BOTH_WAYS = {"leverage": "3", "direction": "both"}


@pytest.fixture
def futures_candles(db):
    return store_candles(400, market="futures")


def test_a_futures_run_trades_both_ways_with_leverage_on_stored_futures_candles(
        trader, futures_candles):
    run = new_run(trader, market="futures", settings=BOTH_WAYS)
    assert run.settings["fee_asset"] == "quote"  # USD-M fees are in the quote asset

    backtest_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == R.DONE, run.error
    trades = run.results["trades"]
    assert {trade["side"] for trade in trades} == {"long", "short"}
    assert any("USD-M futures at 3x" in note for note in run.results["notes"])
    assert any("funding is ignored" in note for note in run.results["notes"])


def test_a_futures_run_again_keeps_its_market(trader, futures_candles):
    run = new_run(trader, market="futures", settings=BOTH_WAYS)

    again = BacktestRun.objects.get(pk=new_run(**run.repeat_kwargs()).pk)

    assert (again.market, again.settings["leverage"], again.settings["direction"]) == (
        "futures", 3, "both")


def test_a_strategy_that_places_its_own_orders_is_refused_on_futures(trader, futures_candles):
    with pytest.raises(BacktestRefused) as refused:
        new_run(trader, market="futures", strategy="dca", params={})

    assert "backtest it on spot" in refused.value.errors["strategy"]


def test_spot_candles_do_not_stand_in_for_futures(trader):
    store_candles(100)

    with pytest.raises(BacktestRefused) as refused:
        new_run(trader, market="futures")

    assert "no stored futures 1h candles" in refused.value.errors["candles"]


def test_the_api_takes_the_market_leverage_and_direction(owner, futures_candles):
    answer = owner.post("/api/backtests/", {
        "strategy": "sma_cross", "params": {"fast": 5, "slow": 20}, "symbol": "BTCUSDT",
        "interval": "1h", "market": "futures", "leverage": 5, "direction": "short"},
        format="json")

    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert body["market"] == "futures"
    assert (body["settings"]["leverage"], body["settings"]["direction"]) == (5, "short")
    backtest_run_execute(run_id=body["id"])
    trades = owner.get(f"/api/backtests/{body['id']}/").json()["results"]["trades"]
    assert trades
    assert {trade["side"] for trade in trades} == {"short"}


def test_the_api_refuses_leverage_on_spot_in_words(owner, futures_candles):
    store_candles(50)
    answer = owner.post("/api/backtests/", {
        "strategy": "sma_cross", "symbol": "BTCUSDT", "interval": "1h", "leverage": 5},
        format="json")

    assert answer.status_code == 400
    assert "spot is long-only" in json.dumps(answer.json())


# --- the command line ------------------------------------------------------------------------

def backtest(*args) -> dict:
    out = StringIO()
    call_command("backtest", "--strategy", "sma_cross", "--param", "fast=10", "--param",
                 "slow=30", "--csv", str(CSV), "--json", *args, stdout=out)
    return json.loads(out.getvalue())


def test_the_command_backtests_futures_with_a_funding_file(tmp_path):
    opened = load_csv(CSV)["open_time"].iloc[0]
    first = int(opened.timestamp() * 1000) // 28_800_000 * 28_800_000  # 8-hourly, as Binance
    rates = [{"symbol": "BTCUSDT", "fundingTime": first + i * 28_800_000,
              "fundingRate": "0.00010000", "markPrice": "0"} for i in range(1, 400)]
    funding = tmp_path / "funding.json"
    funding.write_text(json.dumps(rates))

    plain = backtest("--market", "futures", "--leverage", "2")
    funded = backtest("--market", "futures", "--leverage", "2", "--funding", str(funding))

    assert {trade["side"] for trade in plain["trades"]} == {"long", "short"}
    assert all(trade["funding"] == "0" for trade in plain["trades"])
    longs = [t for t in funded["trades"] if t["side"] == "long" and t["funding"] != "0"]
    shorts = [t for t in funded["trades"] if t["side"] == "short" and t["funding"] != "0"]
    assert longs
    assert all(t["funding"][0] != "-" for t in longs)
    assert shorts
    assert all(t["funding"][0] == "-" for t in shorts)
    assert any("Funding is paid" in note for note in funded["notes"])


def test_a_funding_csv_in_binance_layout_is_read(tmp_path):
    funding = tmp_path / "BTCUSDT-fundingRate-2023-06.csv"
    funding.write_text("calc_time,funding_interval_hours,last_funding_rate\n"
                       "1685577600000,8,0.00010000\n1685606400000,8,-0.00005000\n")

    report = backtest("--market", "futures", "--direction", "long", "--funding", str(funding))

    assert {trade["side"] for trade in report["trades"]} == {"long"}


def test_leverage_without_futures_is_refused_in_words():
    with pytest.raises(CommandError, match="are for --market futures"):
        backtest("--leverage", "3")


def test_a_funding_file_without_rates_is_refused_in_words(tmp_path):
    funding = tmp_path / "funding.csv"
    funding.write_text("when,what\n1,2\n")

    with pytest.raises(CommandError, match="a funding file needs a time column"):
        backtest("--market", "futures", "--funding", str(funding))


# --- the pages -------------------------------------------------------------------------------

def test_a_futures_backtest_from_the_form_shows_each_trades_side_and_funding(
        owner, futures_candles, tasks_run_inline, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = owner.post("/backtests/new/", backtest_form(
            market="futures", leverage="2", direction="both"))

    assert answer.status_code == 302
    run = BacktestRun.objects.get()
    assert (run.market, run.status) == ("futures", R.DONE)
    page = owner.get(answer.url).content.decode()
    assert "<th>Side</th>" in page
    assert '<td class="trade-side">short</td>' in page
    assert "USD-M futures at 2x" in page
    markers = owner.get(f"/backtests/{run.pk}/chart.json").json()["markers"]
    assert {"text": "short", "shape": "arrowDown"}.items() <= next(
        m for m in markers if m["text"] == "short").items()
