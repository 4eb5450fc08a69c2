"""The API lists' filters and ?ordering=: every filter keeps its name and meaning, a value
that cannot be one is a 400 under the parameter's name, another trader's id lists nothing,
and ordering works both ways on the fields a list names (any other field is ignored)."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from drf_spectacular.generators import SchemaGenerator

from backtests.models import BacktestRun, OptimisationRun
from bots.models import Bot
from orders.models import Balance, Fill, Order, OrderStatus, Position
from portfolios.models import Portfolio
from tests.support.api import field_errors
from tradingsite.audit import audit_record
from tradingsite.models import AuditEvent

pytestmark = pytest.mark.django_db
S = OrderStatus
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def ids(client, url: str, **params) -> list[int]:
    answer = client.get(url, params)
    assert answer.status_code == 200, answer.json()
    return [row["id"] for row in answer.json()["results"]]


def an_order(portfolio, symbol="BTCUSDT", status=S.NEW, minutes=0) -> Order:
    order = Order.objects.create(portfolio=portfolio, symbol=symbol, side="BUY", type="LIMIT",
                                 quantity=D("0.01"), price=D("100"), status=status)
    Order.objects.filter(pk=order.pk).update(created_at=T0 + timedelta(minutes=minutes))
    return order


def a_fill(order, trade_id: int, minutes=0) -> Fill:
    return Fill.objects.create(order=order, venue="paper", symbol=order.symbol,
                               trade_id=trade_id, side="BUY", price=D("100"),
                               quantity=D("0.01"), quote_quantity=D("1"),
                               executed_at=T0 + timedelta(minutes=minutes))


def a_bot(portfolio, name: str, status=Bot.Status.STOPPED, symbol="BTCUSDT") -> Bot:
    return Bot.objects.create(portfolio=portfolio, name=name, symbol=symbol,
                              strategy="sma_cross", status=status)


@pytest.fixture
def mine(trader):
    return Portfolio.objects.create(owner=trader, name="main")


@pytest.fixture
def second(trader):
    return Portfolio.objects.create(owner=trader, name="second")


@pytest.fixture
def theirs(other_trader):
    return Portfolio.objects.create(owner=other_trader, name="theirs")


# --- orders --------------------------------------------------------------------------------

def test_orders_filter_on_open_or_any_status_given_in_any_case(owner, mine):
    new, partial = an_order(mine, status=S.NEW), an_order(mine, status=S.PARTIALLY_FILLED)
    filled, cancelled = an_order(mine, status=S.FILLED), an_order(mine, status=S.CANCELED)

    assert set(ids(owner, "/api/orders/", status="open")) == {new.pk, partial.pk}
    assert set(ids(owner, "/api/orders/", status="OPEN")) == {new.pk, partial.pk}
    assert ids(owner, "/api/orders/", status="filled") == [filled.pk]
    assert ids(owner, "/api/orders/", status="Canceled") == [cancelled.pk]
    assert ids(owner, "/api/orders/", status="REJECTED") == []


def test_an_order_status_that_is_none_is_a_400_naming_the_choices(owner, mine):
    answer = owner.get("/api/orders/", {"status": "nearly"})

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {
        "status": ["must be open or one of " + ", ".join(S.values)]}


def test_orders_filter_on_symbol_in_any_case_and_on_portfolio(owner, mine, second):
    btc, eth = an_order(mine, "BTCUSDT"), an_order(mine, "ETHUSDT")
    elsewhere = an_order(second, "BTCUSDT")

    assert set(ids(owner, "/api/orders/", symbol="btcusdt")) == {btc.pk, elsewhere.pk}
    assert ids(owner, "/api/orders/", symbol="ETHUSDT", portfolio=mine.pk) == [eth.pk]
    assert ids(owner, "/api/orders/", portfolio=second.pk) == [elsewhere.pk]
    assert ids(owner, "/api/orders/", portfolio=second.pk + 1000) == []


# --- fills, positions, balances --------------------------------------------------------------

def test_fills_filter_on_order_symbol_and_portfolio(owner, mine, second):
    btc, eth, other = an_order(mine, "BTCUSDT"), an_order(mine, "ETHUSDT"), an_order(second)
    btc_fill, eth_fill, other_fill = a_fill(btc, 1), a_fill(eth, 2), a_fill(other, 3)

    assert ids(owner, "/api/fills/", order=btc.pk) == [btc_fill.pk]
    assert ids(owner, "/api/fills/", symbol="ethusdt") == [eth_fill.pk]
    assert ids(owner, "/api/fills/", portfolio=second.pk) == [other_fill.pk]
    assert ids(owner, "/api/fills/", portfolio=mine.pk, symbol="BTCUSDT") == [btc_fill.pk]


def test_positions_and_balances_filter_on_symbol_and_portfolio(owner, mine, second):
    btc = Position.objects.create(portfolio=mine, symbol="BTCUSDT", quantity=D("1"))
    eth = Position.objects.create(portfolio=second, symbol="ETHUSDT", quantity=D("2"))
    usdt = Balance.objects.create(portfolio=mine, asset="USDT", free=D("10"))
    Balance.objects.create(portfolio=mine, asset="BTC", free=D("1"))

    assert ids(owner, "/api/positions/", symbol="btcusdt") == [btc.pk]
    assert ids(owner, "/api/positions/", portfolio=second.pk) == [eth.pk]
    assert ids(owner, "/api/balances/", symbol="usdt", portfolio=mine.pk) == [usdt.pk]


# --- another trader's ids, and ids that are not ids ------------------------------------------

@pytest.mark.parametrize("url", ["/api/orders/", "/api/fills/", "/api/positions/",
                                 "/api/balances/", "/api/bots/", "/api/risk/limits/"])
def test_another_traders_portfolio_id_lists_none_of_their_rows(owner, outsider, mine, theirs,
                                                                url):
    order = an_order(theirs)
    a_fill(order, 9)
    Position.objects.create(portfolio=theirs, symbol="BTCUSDT", quantity=D("1"))
    Balance.objects.create(portfolio=theirs, asset="USDT", free=D("1"))
    a_bot(theirs, "theirs")
    outsider.post("/api/risk/limits/", {"portfolio": theirs.pk, "max_order_notional": "5"},
                  format="json")

    assert ids(outsider, url, portfolio=theirs.pk)  # their rows are there, and theirs alone
    assert ids(owner, url, portfolio=theirs.pk) == []


@pytest.mark.parametrize(("url", "name", "given", "words"), [
    ("/api/orders/", "portfolio", "main", "must be a portfolio id"),
    ("/api/fills/", "order", "1.5", "must be an order id"),
    ("/api/bots/", "portfolio", "-1", "must be a portfolio id"),
    ("/api/approvals/", "bot", "99999999999999999999", "must be a bot id"),
    ("/api/risk/alerts/", "portfolio", "0x1", "must be a portfolio id"),
])
def test_an_id_that_is_not_one_is_a_400_under_its_name(owner, url, name, given, words):
    answer = owner.get(url, {name: given})

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {name: [words]}


@pytest.mark.parametrize(("url", "name", "given", "words"), [
    ("/api/risk/alerts/", "active", "maybe", "must be true or false"),
    ("/api/risk/blocks/", "all", "everything", "must be true or false"),
    ("/api/ai/sentiment-items/", "until", "0001-01-01T00:00+01:00",
     "an ISO 8601 time, e.g. 2026-11-21T12:00Z"),
])
def test_a_flag_or_time_that_is_not_one_is_a_400_under_its_name(owner, url, name, given, words):
    answer = owner.get(url, {name: given})

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {name: [words]}


# --- bots, backtests, optimisations, audit -------------------------------------------------

def test_bots_filter_on_status_in_any_case_and_portfolio(owner, mine, second):
    running = a_bot(mine, "runs", Bot.Status.RUNNING)
    stopped = a_bot(mine, "rests")
    elsewhere = a_bot(second, "away")

    assert ids(owner, "/api/bots/", status="RUNNING") == [running.pk]
    assert set(ids(owner, "/api/bots/", status="stopped")) == {stopped.pk, elsewhere.pk}
    assert ids(owner, "/api/bots/", portfolio=second.pk) == [elsewhere.pk]
    answer = owner.get("/api/bots/", {"status": "asleep"})
    assert answer.status_code == 400
    assert field_errors(answer.json()) == {
        "status": ["must be one of " + ", ".join(Bot.Status.values)]}


def a_run(owner, model=BacktestRun, **fields):
    return model.objects.create(owner=owner, interval="1h", **{
        "strategy": "sma_cross", "symbol": "BTCUSDT", **fields})


def test_backtests_filter_on_status_strategy_and_symbol(owner, trader, other_trader):
    done = a_run(trader, status=BacktestRun.Status.DONE)
    rsi = a_run(trader, strategy="rsi_reversion", symbol="ETHUSDT")
    a_run(other_trader, status=BacktestRun.Status.DONE)

    assert ids(owner, "/api/backtests/", status="done") == [done.pk]
    assert ids(owner, "/api/backtests/", strategy="rsi_reversion") == [rsi.pk]
    assert ids(owner, "/api/backtests/", symbol="ethusdt") == [rsi.pk]
    assert owner.get("/api/backtests/", {"status": "sideways"}).status_code == 400


def test_optimisations_filter_on_kind_and_status(owner, trader):
    grid = a_run(trader, OptimisationRun, kind="grid", status=OptimisationRun.Status.DONE)
    sampled = a_run(trader, OptimisationRun, kind="random", samples=5)

    assert ids(owner, "/api/optimisations/", kind="random") == [sampled.pk]
    assert ids(owner, "/api/optimisations/", status="DONE", strategy="sma_cross") == [grid.pk]


def test_the_audit_trail_filters_on_action(owner, trader, other_trader):
    sent = audit_record(action=AuditEvent.Action.ORDER_SENT, owner=trader, order_id=1)
    audit_record(action=AuditEvent.Action.BOT_STOPPED, owner=trader)
    audit_record(action=AuditEvent.Action.ORDER_SENT, owner=other_trader)

    assert ids(owner, "/api/audit/", action="order.sent") == [sent.pk]
    assert owner.get("/api/audit/", {"action": "order.lost"}).status_code == 400


# --- ordering --------------------------------------------------------------------------------

def test_orders_are_ordered_either_way_on_a_named_field(owner, mine):
    eth = an_order(mine, "ETHUSDT", minutes=1)
    ada = an_order(mine, "ADAUSDT", minutes=2)
    btc = an_order(mine, "BTCUSDT", minutes=0)

    assert ids(owner, "/api/orders/") == [ada.pk, eth.pk, btc.pk]  # newest first, as ever
    assert ids(owner, "/api/orders/", ordering="symbol") == [ada.pk, btc.pk, eth.pk]
    assert ids(owner, "/api/orders/", ordering="-symbol") == [eth.pk, btc.pk, ada.pk]
    assert ids(owner, "/api/orders/", ordering="created_at") == [btc.pk, eth.pk, ada.pk]


def test_rows_tied_on_the_ordering_field_come_in_id_order(owner, mine):
    orders = [an_order(mine, status=S.NEW, minutes=n) for n in range(3)]

    assert ids(owner, "/api/orders/", ordering="status") == [o.pk for o in orders]
    assert ids(owner, "/api/orders/", ordering="-status") == [o.pk for o in orders][::-1]
    assert ids(owner, "/api/orders/", ordering="status,-created_at") == [
        o.pk for o in orders][::-1]


@pytest.mark.parametrize("ordering", ["price", "portfolio__owner__password", "-nope", ""])
def test_an_ordering_on_any_other_field_is_ignored(owner, mine, ordering):
    older, newer = an_order(mine, "BTCUSDT", minutes=0), an_order(mine, "ADAUSDT", minutes=5)

    assert ids(owner, "/api/orders/", ordering=ordering) == [newer.pk, older.pk]


def test_fills_backtests_and_the_audit_trail_are_ordered_either_way(owner, trader, mine):
    order = an_order(mine)
    early, late = a_fill(order, 1, minutes=0), a_fill(order, 2, minutes=5)
    first, then = a_run(trader, symbol="ETHUSDT"), a_run(trader, symbol="ADAUSDT")
    one = audit_record(action=AuditEvent.Action.BOT_STOPPED, owner=trader)
    two = audit_record(action=AuditEvent.Action.BOT_PAUSED, owner=trader)

    assert ids(owner, "/api/fills/") == [late.pk, early.pk]
    assert ids(owner, "/api/fills/", ordering="executed_at") == [early.pk, late.pk]
    assert ids(owner, "/api/backtests/", ordering="symbol") == [then.pk, first.pk]
    assert ids(owner, "/api/backtests/", ordering="-id") == [then.pk, first.pk]
    assert ids(owner, "/api/backtests/", ordering="id") == [first.pk, then.pk]
    assert ids(owner, "/api/audit/", action="bot.paused", ordering="-at") == [two.pk]
    assert [i for i in ids(owner, "/api/audit/", ordering="action") if i in (one.pk, two.pk)] \
        == [two.pk, one.pk]


def test_the_schema_documents_each_lists_filters_and_ordering_fields():
    paths = SchemaGenerator().get_schema(public=True)["paths"]

    def parameters(path):
        return {p["name"]: p for p in paths[path]["get"]["parameters"]}

    orders = parameters("/api/orders/")
    assert {"status", "symbol", "portfolio", "ordering"} <= orders.keys()
    assert "open" in orders["status"]["schema"]["enum"]
    assert orders["portfolio"]["schema"]["type"] == "integer"
    assert "`submitted_at`" in orders["ordering"]["description"]
    assert {"order", "symbol", "portfolio", "ordering"} <= parameters("/api/fills/").keys()
    assert {"action", "ordering"} <= parameters("/api/audit/").keys()
    assert "ordering" not in parameters("/api/orders/{id}/")
