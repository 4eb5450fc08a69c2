"""The backtests API: create (refused in words), list with figures, retrieve with the report,
cancel, the trades as CSV and the strategy catalogue; nobody sees another trader's runs."""

import csv
import io

import pytest

from backtests.models import BacktestRun
from backtests.services import backtest_run_execute
from portfolios.models import Portfolio
from tests.backtests.test_runs import store_candles
from tests.support.api import field_errors

pytestmark = pytest.mark.django_db

R = BacktestRun.Status
CSV_HEADER = ["entry_time", "exit_time", "entry_price", "exit_price", "quantity", "fees", "pnl",
              "return_pct", "exit_reason", "entry_words", "exit_words", "side", "funding"]


@pytest.fixture(autouse=True)
def candles(db):
    return store_candles(300)


def create(client, **changes):
    return client.post("/api/backtests/", {
        "strategy": "sma_cross", "params": {"fast": 5, "slow": 20}, "symbol": "btcusdt",
        "interval": "1h", "cash": "5000", "fee": "0.001", "slippage_bps": "1", **changes},
        format="json")


def done_run(client) -> int:
    run_id = create(client).json()["id"]
    backtest_run_execute(run_id=run_id)
    return run_id


def test_a_run_is_created_queued_with_its_settings(owner, trader):
    created = create(owner, start="2023-06-02T00:00:00Z", fee_asset="quote",
                     sizing="fixed_quote", sizing_config={"amount": "250"})

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "queued"
    assert body["owner"] == trader.username
    assert body["symbol"] == "BTCUSDT"
    assert body["params"]["slow"] == 20
    assert body["start"] == "2023-06-02T00:00:00Z"
    assert body["settings"] == {"cash": "5000", "fee": "0.001", "fee_asset": "quote",
                                "slippage_bps": "1", "sizing": "fixed_quote",
                                "sizing_config": {"amount": "250"}, "leverage": 1,
                                "direction": "long", "maintenance_margin": "0.004"}
    assert BacktestRun.objects.get(pk=body["id"]).owner == trader


def test_a_run_can_name_one_of_the_callers_portfolios(owner, trader):
    portfolio = Portfolio.objects.create(owner=trader, name="mine")

    created = create(owner, portfolio=portfolio.pk)

    assert created.status_code == 201, created.json()
    assert created.json()["portfolio"] == portfolio.pk


@pytest.mark.parametrize(("changes", "errors"), [
    ({"params": {"fast": 1}}, {"params": "fast: fast must be at least 2"}),
    ({"strategy": "nope"}, {"strategy": "unknown strategy 'nope'"}),
    ({"symbol": "ETHUSDT"}, {"candles": "no stored 1h candles of ETHUSDT in that range"}),
    ({"cash": "0"}, {"cash": "must be above 0"}),
    ({"start": "2023-07-01T00:00:00Z", "end": "2023-06-01T00:00:00Z"},
     {"end": "the end must be after the start"}),
])
def test_what_cannot_run_is_refused_in_words(owner, changes, errors):
    refused = create(owner, **changes)

    assert refused.status_code == 400
    body = field_errors(refused.json())
    assert set(body) == set(errors)
    for name, words in errors.items():
        assert words in body[name]
    assert not BacktestRun.objects.exists()


def test_malformed_input_is_refused_by_field(owner):
    refused = create(owner, interval="7m", fee="a lot", params=[1, 2])

    assert refused.status_code == 400
    assert set(field_errors(refused.json())) == {"interval", "fee", "params"}


def test_the_list_has_figures_but_no_report_and_the_detail_has_the_report(owner):
    run_id = done_run(owner)
    create(owner)  # still queued

    listed = owner.get("/api/backtests/").json()["results"]
    detail = owner.get(f"/api/backtests/{run_id}/").json()

    assert [run["status"] for run in listed] == ["queued", "done"]  # newest first
    assert "results" not in listed[1]
    assert listed[1]["metrics"]["total_return_pct"] == detail["results"]["total_return_pct"]
    assert detail["results"]["trades"]
    assert detail["results"]["equity"]
    assert detail["candle_count"] == 300
    assert detail["data_hash"]
    assert detail["code_version"]
    assert owner.get("/api/backtests/?status=done").json()["count"] == 1


def test_the_trades_download_as_csv(owner):
    run_id = done_run(owner)
    report = BacktestRun.objects.get(pk=run_id).results

    answer = owner.get(f"/api/backtests/{run_id}/trades.csv")

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    assert f"backtest-{run_id}-sma_cross-BTCUSDT-trades.csv" in answer["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.content.decode())))
    assert rows[0] == CSV_HEADER
    expected = len(report["trades"]) + (1 if report["open_at_end"] else 0)
    assert len(rows) - 1 == expected
    first = dict(zip(CSV_HEADER, rows[1], strict=True))
    trade = report["trades"][0]
    assert first["entry_price"] == trade["entry_price"]
    assert first["pnl"] == trade["pnl"]
    assert first["entry_words"].startswith("SMA(5)")


def test_a_run_not_done_has_no_csv_yet(owner):
    run_id = create(owner).json()["id"]

    answer = owner.get(f"/api/backtests/{run_id}/trades.csv")

    assert answer.status_code == 409
    assert answer.json()["detail"] == f"run #{run_id} is queued: it has trades once it is done"


def test_a_queued_run_is_cancelled_and_a_done_one_cannot_be(owner):
    queued = create(owner).json()["id"]
    done = done_run(owner)

    cancelled = owner.post(f"/api/backtests/{queued}/cancel/")
    refused = owner.post(f"/api/backtests/{done}/cancel/")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert refused.status_code == 400
    assert field_errors(refused.json()) == {
        "status": f"run #{done} is done: there is nothing to cancel"}


def test_another_trader_sees_none_of_it_and_cannot_cancel(owner, outsider):
    run_id = done_run(owner)
    queued = create(owner).json()["id"]

    assert outsider.get("/api/backtests/").json()["count"] == 0
    assert outsider.get(f"/api/backtests/{run_id}/").status_code == 404
    assert outsider.get(f"/api/backtests/{run_id}/trades.csv").status_code == 404
    assert outsider.post(f"/api/backtests/{queued}/cancel/").status_code == 404
    assert BacktestRun.objects.get(pk=queued).status == R.QUEUED


def test_another_traders_portfolio_cannot_be_named(owner, other_trader):
    theirs = Portfolio.objects.create(owner=other_trader, name="theirs")

    refused = create(owner, portfolio=theirs.pk)

    assert refused.status_code == 400
    assert field_errors(refused.json()) == {"portfolio": [f"you have no portfolio #{theirs.pk}"]}


def test_staff_see_every_run(owner, staff):
    from rest_framework.test import APIClient

    run_id = create(owner).json()["id"]
    boss = APIClient()
    boss.force_login(staff)

    assert [run["id"] for run in boss.get("/api/backtests/").json()["results"]] == [run_id]
    assert boss.get(f"/api/backtests/{run_id}/").status_code == 200


def test_the_strategies_are_listed_with_their_parameters(owner):
    strategies = owner.get("/api/backtests/strategies/").json()

    sma = next(s for s in strategies if s["name"] == "sma_cross")
    fast = next(p for p in sma["parameters"] if p["name"] == "fast")
    assert fast["kind"] == "int"
    assert fast["minimum"] == 2
    assert {"stop_loss_pct", "take_profit_pct"} <= {p["name"] for p in sma["parameters"]}


def test_anonymous_callers_are_refused(client):
    assert client.get("/api/backtests/").status_code == 401  # not signed in: 401, Bearer
    assert client.get("/api/backtests/strategies/").status_code == 401
