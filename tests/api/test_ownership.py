"""Ownership: trader B gets 404 for every one of trader A's objects through every API endpoint
that takes an id (read from the schema, so a new endpoint is covered the day it lands), and
through A's pages, and through the event socket; B cannot create objects that point at A's."""

import json
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import transaction
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from backtests.optimisation import optimisation_create
from backtests.runs import run_announce
from backtests.services import backtest_run_create
from bots.approvals import _announce as announce_approval
from bots.models import TradeApproval
from bots.services import bot_create, bot_start, bot_tick
from orders.events import balances_changed
from orders.models import Balance, Fill, Order, Position
from portfolios.services import exchange_account_create
from risk.limits import risk_limit_save
from risk.models import EmergencyStop, EntryBlock, RiskAlert, RiskLimit
from risk.monitor import _announce as announce_alert
from tests.backtests.test_runs import store_candles
from tests.support.secrets import ACCOUNT_KEY, ACCOUNT_SECRET
from tests.test_websocket import socket_of
from tradingsite.models import AuditEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
# Ids that name shared market data, not anyone's object: every trader may read them.
SHARED = ("/api/ai/", "/api/strategies/", "/api/symbols/")


@pytest.fixture
def a_world(trader, paper_portfolio, crossing_candle, local_binance):
    """Trader A's objects of every kind the API serves by id."""
    book = paper_portfolio
    bot = bot_start(bot=bot_create(portfolio=book, name="sma", symbol="BTCUSDT",
                                   strategy="sma_cross", params={"fast": 2, "slow": 3},
                                   sizing_config={"amount": "100"}))
    decision = bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle,
                        now=crossing_candle + timedelta(minutes=1, seconds=1))
    approval = TradeApproval.objects.create(
        bot=bot, decision=decision, side="buy", order_type="market", quote_amount=D("50"),
        reason="test", waits_because="test", expires_at=crossing_candle + timedelta(hours=1))
    limit = risk_limit_save(limit=RiskLimit(owner=trader, portfolio=book,
                                            max_order_notional=D("500")), by=trader)
    store_candles(400)
    local_binance.add_api_key(ACCOUNT_KEY, ACCOUNT_SECRET)
    common = {"owner": trader, "symbol": "BTCUSDT", "interval": "1h", "start": None,
              "end": None, "settings": {}}
    return {
        "portfolios": book, "bots": bot, "orders": Order.objects.get(bot=bot),
        "fills": Fill.objects.filter(order__bot=bot).first(),
        "positions": Position.objects.get(portfolio=book),
        "balances": Balance.objects.filter(portfolio=book).first(), "approvals": approval,
        "risk/limits": limit,
        "risk/alerts": RiskAlert.objects.create(owner=trader, portfolio=book,
                                                severity="warning", rule="max_daily_loss",
                                                message="lost"),
        "risk/blocks": EntryBlock.objects.create(portfolio=book, source="breach",
                                                 reason="lost"),
        "risk/emergency-stops": EmergencyStop.objects.create(
            requested_by=trader, requested_via="api", portfolio=book, scope="portfolio",
            status="done"),
        "backtests": backtest_run_create(strategy="sma_cross", params={}, **common),
        "optimisations": optimisation_create(
            strategy="sma_cross", kind="grid", space={"fast": [5, 10], "slow": [20]},
            fixed={}, objective="sharpe", min_trades=0, **common),
        "exchange-accounts": exchange_account_create(
            owner=trader, name="main", mode="local", market="spot", api_key=ACCOUNT_KEY,
            api_secret=ACCOUNT_SECRET, base_url=local_binance.rest_url),
        "audit": AuditEvent.objects.filter(owner=trader).first(),
    }


def id_paths() -> list[tuple[str, str]]:
    """(path, method) of every operation on one object, from the schema."""
    schema = SchemaGenerator().get_schema(public=True)
    return [(path, method.upper()) for path, operations in schema["paths"].items()
            if "{id}" in path and not path.startswith(SHARED) for method in operations]


def resource_of(path: str) -> str:
    return path.removeprefix("/api/").split("/{id}")[0]


def test_b_gets_404_for_every_one_of_a_s_objects_on_every_endpoint(a_world, other_trader,
                                                                    trader):
    outsider, owner = APIClient(), APIClient()
    outsider.force_authenticate(other_trader)
    owner.force_authenticate(trader)
    paths = id_paths()
    assert {resource_of(path) for path, _ in paths} == set(a_world)  # every kind is covered

    answers = {}
    for path, method in paths:
        url = path.replace("{id}", str(a_world[resource_of(path)].pk))
        answers[(method, url)] = outsider.generic(method, url, "{}",
                                                  content_type="application/json").status_code

    assert {call: code for call, code in answers.items() if code != 404} == {}
    for resource, thing in a_world.items():  # the ids are real: A reads each of them
        assert owner.get(f"/api/{resource}/{thing.pk}/").status_code == 200, resource


def test_b_cannot_point_new_objects_at_a_s(a_world, other_trader):
    outsider = APIClient()
    outsider.force_authenticate(other_trader)
    book, bot = a_world["portfolios"].pk, a_world["bots"].pk

    attempts = {
        "order": outsider.post("/api/orders/", {"portfolio": book, "symbol": "BTCUSDT",
                                                "side": "BUY", "type": "MARKET",
                                                "quote_quantity": "10"}, format="json"),
        "bot": outsider.post("/api/bots/", {"portfolio": book, "name": "mine",
                                            "symbol": "BTCUSDT", "strategy": "sma_cross"},
                             format="json"),
        "limit on portfolio": outsider.post("/api/risk/limits/", {
            "portfolio": book, "max_order_notional": "1"}, format="json"),
        "limit on bot": outsider.post("/api/risk/limits/", {
            "bot": bot, "max_order_notional": "1"}, format="json"),
        "emergency stop": outsider.post("/api/risk/emergency-stop/", {"portfolio": book},
                                        format="json"),
        "entries resume": outsider.post("/api/risk/entries-resume/", {"portfolio": book},
                                        format="json"),
    }

    assert {name: answer.status_code for name, answer in attempts.items()} == dict.fromkeys(
        attempts, 400)
    assert all(answer.json()["code"] == "invalid" for answer in attempts.values())
    assert Order.objects.filter(portfolio_id=book).count() == 1  # only A's own
    assert not RiskLimit.objects.filter(owner=other_trader).exists()


def test_b_gets_404_for_a_s_pages(a_world, other_trader):
    outsider = Client()
    outsider.force_login(other_trader)
    pages = [f"/portfolios/{a_world['portfolios'].pk}/",
             f"/portfolios/{a_world['portfolios'].pk}/edit/",
             f"/bots/{a_world['bots'].pk}/", f"/bots/{a_world['bots'].pk}/edit/",
             f"/orders/{a_world['orders'].pk}/",
             f"/backtests/{a_world['backtests'].pk}/",
             f"/risk/limits/{a_world['risk/limits'].pk}/"]

    assert {page: outsider.get(page).status_code for page in pages} == dict.fromkeys(pages,
                                                                                      404)
    posts = [f"/bots/{a_world['bots'].pk}/stop/", f"/orders/{a_world['orders'].pk}/cancel/",
             f"/bots/approvals/{a_world['approvals'].pk}/approve/",
             f"/api-tokens/{a_world['bots'].pk}/revoke/"]
    assert {page: outsider.post(page).status_code for page in posts} == dict.fromkeys(posts,
                                                                                       404)


# Every event a trader's own objects produce; B's socket must see none of them.
OWN_EVENTS = {"bot.status", "bot.decision", "order.update", "fill.new", "position.update",
              "portfolio.update", "bot.approval", "risk.alert", "backtest.progress",
              "optimisation.progress"}


def test_b_s_socket_receives_none_of_a_s_events(request, asgi_live_server, trader,
                                                other_trader):
    _, mine_opened = socket_of(asgi_live_server, trader)
    _, theirs_opened = socket_of(asgi_live_server, other_trader)
    with mine_opened as mine, theirs_opened as theirs:
        # The only subscription a socket takes is public prices by symbol; a group name is
        # not a symbol, so B cannot join A's stream by naming it.
        theirs.send(json.dumps({"type": "subscribe", "symbols": [f"user-{trader.pk}"]}))
        assert json.loads(theirs.recv(timeout=5))["type"] == "error"

        world = request.getfixturevalue("a_world")  # A's bot starts, ticks, buys and fills
        announce_the_rest(world)

        seen = received_types(mine, until=OWN_EVENTS)
        assert seen >= OWN_EVENTS
        assert received_types(theirs, until=set(), quiet=1.0) == set()


def announce_the_rest(world) -> None:
    """The events a_world's services do not send by themselves, from their real producers."""
    with transaction.atomic():
        balances_changed(world["portfolios"])  # sent by an exchange account's sync
        announce_approval(world["approvals"])
        announce_alert(world["risk/alerts"])
    run_announce(world["backtests"])
    run_announce(world["optimisations"])


def received_types(socket, *, until: set, quiet: float = 10.0) -> set[str]:
    """The event types arriving until all of `until` came, or nothing came for `quiet` s."""
    seen = set()
    while not until <= seen:
        try:
            seen.add(json.loads(socket.recv(timeout=quiet))["type"])
        except TimeoutError:
            break
    return seen
