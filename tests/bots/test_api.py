"""The bots API: create with parameters checked in words, control, the decision log, the
strategy catalogue, portfolio analytics; nobody touches another trader's bots."""

from datetime import timedelta

import pytest

from bots.models import Bot
from bots.services import bot_tick
from portfolios.services import equity_snapshots_take
from tests.support.api import field_errors

pytestmark = pytest.mark.django_db(transaction=True)



def new_bot(owner, portfolio, **extra):
    return owner.post("/api/bots/", {
        "portfolio": portfolio.pk, "name": "sma", "symbol": "btcusdt", "interval": "1m",
        "strategy": "sma_cross", "params": {"fast": 2, "slow": 3}, "sizing": "fixed_quote",
        "sizing_config": {"amount": "100"}, **extra}, format="json")


def test_a_bot_is_created_started_ticked_and_its_decisions_listed(owner, paper_portfolio,
                                                                  crossing_candle):
    created = new_bot(owner, paper_portfolio)
    assert created.status_code == 201, created.json()
    bot_id = created.json()["id"]
    assert created.json()["params"]["fast"] == 2
    assert created.json()["status"] == "stopped"

    assert owner.post(f"/api/bots/{bot_id}/start/").json()["status"] == "running"
    bot_tick(bot_id=bot_id, candle_open_time=crossing_candle,
             now=crossing_candle + timedelta(minutes=1, seconds=1))
    decisions = owner.get(f"/api/bots/{bot_id}/decisions/").json()["results"]
    stopped = owner.post(f"/api/bots/{bot_id}/stop/", {"close_position": True}, format="json")

    assert decisions[0]["outcome"] == "enter"
    assert len(decisions[0]["orders"]) == 1
    assert stopped.json()["status"] == "stopped"


def test_parameters_out_of_range_are_refused_in_words(owner, paper_portfolio):
    refused = new_bot(owner, paper_portfolio, params={"fast": 1, "slow": 3})

    assert refused.status_code == 400
    assert field_errors(refused.json()) == {"fast": "fast must be at least 2"}


def test_a_running_bot_cannot_be_edited(owner, paper_portfolio):
    bot_id = new_bot(owner, paper_portfolio).json()["id"]
    owner.post(f"/api/bots/{bot_id}/start/")

    answer = owner.patch(f"/api/bots/{bot_id}/", {"params": {"fast": 3, "slow": 9}},
                         format="json")

    assert answer.status_code == 400
    assert Bot.objects.get(pk=bot_id).params["fast"] == 2


def test_another_trader_cannot_see_or_control_the_bot(owner, outsider, paper_portfolio):
    bot_id = new_bot(owner, paper_portfolio).json()["id"]

    assert outsider.get(f"/api/bots/{bot_id}/").status_code == 404
    assert outsider.post(f"/api/bots/{bot_id}/start/").status_code == 404
    assert outsider.get("/api/bots/").json()["results"] == []
    theirs = new_bot(outsider, paper_portfolio)  # someone else's portfolio: not choosable
    assert theirs.status_code == 400
    assert Bot.objects.get(pk=bot_id).status == "stopped"


def test_the_strategy_catalogue_describes_parameters(owner):
    catalogue = {s["name"]: s for s in owner.get("/api/strategies/").json()}

    assert {"sma_cross", "ema_cross", "rsi_reversion", "bollinger_reversion", "macd_trend",
            "donchian_breakout", "dca", "grid"} <= set(catalogue)
    fast = next(p for p in catalogue["sma_cross"]["parameters"] if p["name"] == "fast")
    assert (fast["kind"], fast["default"], fast["minimum"]) == ("int", 10, 2)


def test_portfolio_analytics_and_equity(owner, paper_portfolio):
    equity_snapshots_take()

    analytics = owner.get(f"/api/portfolios/{paper_portfolio.pk}/analytics/").json()
    equity = owner.get(f"/api/portfolios/{paper_portfolio.pk}/equity/").json()["results"]

    assert analytics["equity_now"] == "10000"
    assert analytics["sharpe"] is None  # one snapshot: not enough data
    assert equity[0]["equity"] == "10000"
