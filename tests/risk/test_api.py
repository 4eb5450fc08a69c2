"""The risk API: a trader's own limits (audited), alerts, entry blocks, emergency stops and
risk summary; global limits are read-only; nobody sees or touches another trader's."""

from decimal import Decimal as D

import pytest

from bots.models import Bot
from bots.services import bot_create, bot_start
from orders.models import Order, OrderStatus
from orders.services import order_place
from portfolios.models import Portfolio
from risk.limits import risk_limit_save
from risk.models import EmergencyStop, EntryBlock, RiskAlert, RiskLimit, RiskLimitChange
from tests.support.api import field_errors

pytestmark = pytest.mark.django_db
LIMITS = "/api/risk/limits/"


@pytest.fixture
def theirs(other_trader):
    return Portfolio.objects.create(owner=other_trader, name="theirs")


@pytest.fixture
def global_limit(staff):
    return risk_limit_save(limit=RiskLimit(max_order_notional=D("5000")), by=staff)


def new_bot(portfolio, name="sma"):
    return bot_create(portfolio=portfolio, name=name, symbol="BTCUSDT", strategy="sma_cross",
                      params={"fast": 2, "slow": 3})


def new_limit(client, portfolio, **fields):
    fields = {"portfolio": portfolio.pk, "max_order_notional": "250.50", **fields}
    return client.post(LIMITS, fields, format="json")


def an_alert(portfolio, rule="max_drawdown_pct"):
    return RiskAlert.objects.create(owner=portfolio.owner, portfolio=portfolio,
                                    severity="critical", rule=rule, message="drawdown 12% > 10%")


def a_block(portfolio, reason="daily loss 300 USDT > 200 USDT"):
    return EntryBlock.objects.create(portfolio=portfolio, source=EntryBlock.Source.BREACH,
                                     reason=reason)


# --- limits ------------------------------------------------------------------------------------

def test_the_owner_creates_changes_and_deletes_a_limit_and_reads_its_audit_trail(owner, book):
    created = new_limit(owner, book, symbol="btcusdt", on_breach="block_entries")
    assert created.status_code == 201, created.json()
    body = created.json()
    limit_id = body["id"]
    assert (body["scope"], body["portfolio"], body["symbol"]) == ("own", book.pk, "BTCUSDT")
    assert body["max_order_notional"] == "250.5"
    assert body["max_daily_loss"] is None

    changed = owner.patch(f"{LIMITS}{limit_id}/", {"max_order_notional": "100",
                                                   "max_open_positions": 3}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["max_order_notional"] == "100"
    assert owner.get(f"{LIMITS}{limit_id}/").json()["max_open_positions"] == 3

    trail = owner.get(f"{LIMITS}{limit_id}/changes/").json()["results"]
    assert [(c["action"], c["changed_by"]) for c in trail] == [("changed", "trader"),
                                                               ("created", "trader")]
    assert trail[0]["changes"] == {"max_order_notional": ["250.5", "100"],
                                   "max_open_positions": [None, 3]}

    assert owner.delete(f"{LIMITS}{limit_id}/").status_code == 204
    assert not RiskLimit.objects.filter(pk=limit_id).exists()
    deleted = RiskLimitChange.objects.get(action="deleted")
    assert deleted.changed_by.username == "trader"
    assert deleted.changes["max_order_notional"] == ["100", None]


def test_a_limit_always_belongs_to_its_creator(owner, trader, book, staff):
    answer = new_limit(owner, book, owner=staff.pk)

    assert answer.status_code == 201
    assert RiskLimit.objects.get(pk=answer.json()["id"]).owner == trader


def test_a_limit_that_sets_nothing_is_refused_in_words(owner, book):
    answer = owner.post(LIMITS, {"portfolio": book.pk, "symbol": "BTCUSDT"}, format="json")

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {"non_field_errors": ["set at least one limit"]}
    assert not RiskLimit.objects.exists()


def test_a_bot_of_another_portfolio_is_refused_in_words(owner, trader, book):
    elsewhere = new_bot(Portfolio.objects.create(owner=trader, name="second"))

    answer = new_limit(owner, book, bot=elsewhere.pk)

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {"bot": ["this bot trades in another portfolio"]}


def test_a_negative_limit_is_refused(owner, book):
    answer = new_limit(owner, book, max_order_notional="-1")

    assert answer.status_code == 400
    assert "max_order_notional" in answer.json()


def test_an_update_that_clears_every_limit_is_refused_and_changes_nothing(owner, book):
    limit_id = new_limit(owner, book).json()["id"]

    answer = owner.patch(f"{LIMITS}{limit_id}/", {"max_order_notional": None}, format="json")

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {"non_field_errors": ["set at least one limit"]}
    assert RiskLimit.objects.get(pk=limit_id).max_order_notional == D("250.5")
    assert RiskLimitChange.objects.count() == 1


def test_global_limits_are_listed_but_read_only(owner, book, global_limit):
    listed = owner.get(LIMITS).json()["results"]

    assert [(row["id"], row["scope"]) for row in listed] == [(global_limit.pk, "global")]
    assert listed[0]["max_order_notional"] == "5000"
    for answer in (owner.patch(f"{LIMITS}{global_limit.pk}/", {"max_order_notional": "9"},
                               format="json"),
                   owner.put(f"{LIMITS}{global_limit.pk}/", {"max_order_notional": "-9"},
                             format="json"),
                   owner.delete(f"{LIMITS}{global_limit.pk}/")):
        assert answer.status_code == 403
        assert "cannot be changed or deleted" in answer.json()["detail"]
    assert RiskLimit.objects.get(pk=global_limit.pk).max_order_notional == D("5000")
    assert RiskLimitChange.objects.filter(limit=global_limit).count() == 1


def test_an_ownerless_limit_on_another_traders_portfolio_stays_hidden(owner, book, theirs,
                                                                     staff):
    on_book = risk_limit_save(limit=RiskLimit(portfolio=book, max_leverage=D("2")), by=staff)
    risk_limit_save(limit=RiskLimit(portfolio=theirs, max_leverage=D("3")), by=staff)

    listed = owner.get(LIMITS).json()["results"]

    assert [(row["id"], row["scope"], row["max_leverage"]) for row in listed] == [
        (on_book.pk, "global", "2")]


def test_staff_have_no_wider_view_in_the_api(owner, staff, book):
    from rest_framework.test import APIClient

    limit_id = new_limit(owner, book).json()["id"]
    boss = APIClient()
    boss.force_login(staff)

    assert boss.get(f"{LIMITS}{limit_id}/").status_code == 404
    assert boss.get(LIMITS).json()["results"] == []


def test_another_trader_cannot_see_change_or_read_the_trail_of_a_limit(owner, outsider, book):
    limit_id = new_limit(owner, book).json()["id"]

    assert outsider.get(f"{LIMITS}{limit_id}/").status_code == 404
    assert outsider.get(f"{LIMITS}{limit_id}/changes/").status_code == 404
    assert outsider.patch(f"{LIMITS}{limit_id}/", {"max_order_notional": "1"},
                          format="json").status_code == 404
    assert outsider.delete(f"{LIMITS}{limit_id}/").status_code == 404
    assert outsider.get(LIMITS).json()["results"] == []
    assert RiskLimit.objects.get(pk=limit_id).max_order_notional == D("250.5")


def test_another_trader_cannot_scope_a_limit_to_the_owners_portfolio_or_bot(outsider, book,
                                                                            theirs):
    bot = new_bot(book)

    on_portfolio = new_limit(outsider, book)
    on_bot = new_limit(outsider, theirs, bot=bot.pk)

    assert on_portfolio.status_code == on_bot.status_code == 400
    assert field_errors(on_portfolio.json()) == {"portfolio": [f"you have no portfolio #{book.pk}"]}
    assert field_errors(on_bot.json()) == {"bot": [f"you have no bot #{bot.pk}"]}
    assert not RiskLimit.objects.exists()


# --- alerts and blocks ---------------------------------------------------------------------------

def test_alerts_are_listed_filtered_and_acknowledged_once(owner, book):
    alert = an_alert(book)
    RiskAlert.objects.create(owner=book.owner, portfolio=book, severity="warning",
                             rule="max_daily_loss", message="old", resolved_at=alert.created_at)

    active = owner.get("/api/risk/alerts/?active=true").json()["results"]
    warnings = owner.get("/api/risk/alerts/?severity=warning").json()["results"]
    first = owner.post(f"/api/risk/alerts/{alert.pk}/acknowledge/")
    second = owner.post(f"/api/risk/alerts/{alert.pk}/acknowledge/")

    assert [a["id"] for a in active] == [alert.pk]
    assert [a["message"] for a in warnings] == ["old"]
    assert first.status_code == second.status_code == 200
    assert first.json()["acknowledged_by"] == "trader"
    assert first.json()["acknowledged_at"] is not None
    assert second.json()["acknowledged_at"] == first.json()["acknowledged_at"]
    assert owner.get("/api/risk/alerts/?severity=loud").status_code == 400


def test_another_trader_cannot_see_or_acknowledge_an_alert(outsider, book):
    alert = an_alert(book)

    assert outsider.get(f"/api/risk/alerts/{alert.pk}/").status_code == 404
    assert outsider.post(f"/api/risk/alerts/{alert.pk}/acknowledge/").status_code == 404
    assert outsider.get("/api/risk/alerts/").json()["results"] == []
    assert RiskAlert.objects.get(pk=alert.pk).acknowledged_at is None


def test_blocks_are_listed_while_active_and_cleared_once(owner, book):
    block = a_block(book)

    listed = owner.get("/api/risk/blocks/").json()["results"]
    first = owner.post(f"/api/risk/blocks/{block.pk}/clear/")
    second = owner.post(f"/api/risk/blocks/{block.pk}/clear/")

    assert [(b["id"], b["source"]) for b in listed] == [(block.pk, "breach")]
    assert first.status_code == second.status_code == 200
    assert first.json()["cleared_by"] == "trader"
    assert second.json()["cleared_at"] == first.json()["cleared_at"]
    assert owner.get("/api/risk/blocks/").json()["results"] == []
    assert [b["id"] for b in owner.get("/api/risk/blocks/?all=true").json()["results"]] == [
        block.pk]


def test_another_trader_cannot_see_or_clear_a_block(outsider, book):
    block = a_block(book)

    assert outsider.get(f"/api/risk/blocks/{block.pk}/").status_code == 404
    assert outsider.post(f"/api/risk/blocks/{block.pk}/clear/").status_code == 404
    assert outsider.get("/api/risk/blocks/?all=true").json()["results"] == []
    assert EntryBlock.objects.get(pk=block.pk).cleared_at is None


# --- the emergency stop ------------------------------------------------------------------------

def test_the_emergency_stop_pauses_the_bot_cancels_a_resting_order_and_reports_done(
        owner, outsider, book):
    bot = bot_start(bot=new_bot(book))
    resting = order_place(portfolio=book, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                          quantity=D("1"), price=D("100"), time_in_force="GTC")
    assert resting.status == OrderStatus.NEW

    answer = owner.post("/api/risk/emergency-stop/", {"portfolio": book.pk,
                                                      "close_positions": False}, format="json")

    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["status"] == "done"
    assert (body["requested_by"], body["requested_via"]) == ("trader", "api")
    assert body["still_open"] == []
    assert [(s["kind"], s["outcome"], s["order"]) for s in body["steps"]] == [
        ("block_entries", "done", None), ("pause_bot", "done", None),
        ("cancel_order", "done", resting.client_order_id)]
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.PAUSED
    assert Order.objects.get(pk=resting.pk).status == OrderStatus.CANCELED

    listed = owner.get("/api/risk/emergency-stops/").json()["results"]
    assert [(s["id"], len(s["steps"])) for s in listed] == [(body["id"], 3)]
    assert outsider.get("/api/risk/emergency-stops/").json()["results"] == []
    assert outsider.get(f"/api/risk/emergency-stops/{body['id']}/").status_code == 404


def test_a_stop_lists_the_orders_it_left_open(owner, trader, book):
    resting = order_place(portfolio=book, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                          quantity=D("1"), price=D("100"), time_in_force="GTC")
    stop = EmergencyStop.objects.create(requested_by=trader, requested_via="api", portfolio=book,
                                        scope="portfolio risk", status="incomplete")
    for outcome in ("retrying", "still_open"):
        stop.steps.create(kind="cancel_order", target="BTCUSDT BUY LIMIT", order=resting,
                          outcome=outcome, detail="Binance: overloaded")

    listed = owner.get(f"/api/risk/emergency-stops/{stop.pk}/").json()

    assert listed["still_open"] == [{"order": resting.client_order_id, "symbol": "BTCUSDT",
                                     "status": "NEW", "detail": "Binance: overloaded"}]


def test_a_stop_of_every_portfolio_means_every_one_of_the_callers_own(owner, trader, book,
                                                                      theirs):
    second = Portfolio.objects.create(owner=trader, name="second")

    answer = owner.post("/api/risk/emergency-stop/", {"portfolio": None}, format="json")

    assert answer.status_code == 200, answer.json()
    blocked = set(EntryBlock.objects.active().values_list("portfolio_id", flat=True))
    assert blocked == {book.pk, second.pk}
    assert [s["id"] for s in owner.get("/api/risk/emergency-stops/").json()["results"]] == [
        answer.json()["id"]]


def test_another_trader_cannot_stop_or_resume_the_owners_portfolio(outsider, book):
    stop = outsider.post("/api/risk/emergency-stop/", {"portfolio": book.pk}, format="json")
    resume = outsider.post("/api/risk/entries-resume/", {"portfolio": book.pk}, format="json")

    assert stop.status_code == resume.status_code == 400
    assert field_errors(stop.json()) == {"portfolio": [f"you have no portfolio #{book.pk}"]}
    assert not EntryBlock.objects.exists()


def test_a_trader_without_portfolios_has_nothing_to_stop(outsider, book):
    answer = outsider.post("/api/risk/emergency-stop/", {"portfolio": None}, format="json")

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {"portfolio": ["you have no active portfolio to stop"]}
    assert not EntryBlock.objects.exists()  # and above all not the owner's book


def test_entries_resume_lifts_the_stops_block_but_not_a_breachs(owner, book):
    owner.post("/api/risk/emergency-stop/", {"portfolio": book.pk}, format="json")
    breach = a_block(book)

    first = owner.post("/api/risk/entries-resume/", {"portfolio": book.pk}, format="json")
    again = owner.post("/api/risk/entries-resume/", {"portfolio": book.pk}, format="json")

    assert first.status_code == 200, first.json()
    assert first.json()["cleared"] == 1
    assert again.json()["cleared"] == 0
    assert [b["id"] for b in first.json()["still_blocked"]] == [breach.pk]


# --- the summary -------------------------------------------------------------------------------

def test_the_summary_shows_the_limits_in_force_and_the_blocks(owner, outsider, book):
    new_limit(owner, book, max_open_positions=4, max_drawdown_pct="12.5")
    block = a_block(book)

    answer = owner.get(f"/api/risk/summary/?portfolio={book.pk}")

    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert body["portfolio"] == book.pk
    assert body["limits"] == {"max_order_notional": "250.5", "max_open_positions": 4,
                              "max_drawdown_pct": "12.5"}
    assert [(b["id"], b["reason"]) for b in body["blocks"]] == [(block.pk, block.reason)]
    assert body["breakers"] == []
    assert outsider.get(f"/api/risk/summary/?portfolio={book.pk}").status_code == 404
    assert owner.get("/api/risk/summary/").status_code == 400


def test_the_browsable_api_renders_every_risk_endpoint(owner, book, global_limit):
    limit_id = new_limit(owner, book).json()["id"]
    pages = [LIMITS, f"{LIMITS}{limit_id}/", f"{LIMITS}{limit_id}/changes/",
             "/api/risk/alerts/", "/api/risk/blocks/", "/api/risk/emergency-stops/",
             "/api/risk/emergency-stop/", "/api/risk/entries-resume/",
             f"/api/risk/summary/?portfolio={book.pk}"]

    answers = {page: owner.get(page, HTTP_ACCEPT="text/html") for page in pages}

    assert {page: a.status_code for page, a in answers.items()} == {
        page: 405 if page.endswith(("stop/", "resume/")) else 200 for page in pages}
    assert "the tightest of every" in answers[pages[-1]].content.decode()
