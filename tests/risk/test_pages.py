"""The trader's risk pages: limits edited with their change log, alerts acknowledged, blocks
cleared, and the emergency stop asked for, confirmed and shown step by step."""

from decimal import Decimal as D

import pytest

from orders.services import order_create, order_submit
from risk.models import EmergencyStop, EntryBlock, RiskAlert, RiskLimit, RiskLimitChange

pytestmark = pytest.mark.django_db


def test_a_trader_creates_and_edits_a_limit_and_sees_who_changed_what(owner, trader, book):
    response = owner.post("/risk/limits/new/", {"portfolio": book.pk, "symbol": "btcusdt",
                                                "max_order_notional": "50",
                                                "on_breach": "warn"})
    assert response.status_code == 302
    limit = RiskLimit.objects.get()
    assert (limit.owner, limit.portfolio, limit.symbol) == (trader, book, "BTCUSDT")

    owner.post(f"/risk/limits/{limit.pk}/", {"portfolio": book.pk, "symbol": "BTCUSDT",
                                             "max_order_notional": "40",
                                             "on_breach": "block_entries"})
    page = owner.get(f"/risk/limits/{limit.pk}/").content.decode()

    assert "max_order_notional: 50 → 40" in page
    assert "on_breach: warn → block_entries" in page
    changes = RiskLimitChange.objects.filter(limit=limit)
    assert [c.action for c in changes] == ["changed", "created"]
    assert {c.changed_by for c in changes} == {trader}
    assert "max_order_notional 40" in owner.get("/risk/").content.decode()


def test_a_limit_without_any_value_is_refused_in_words(owner, book):
    response = owner.post("/risk/limits/new/", {"portfolio": book.pk, "on_breach": "warn"})

    assert response.status_code == 400
    assert "set at least one limit" in response.content.decode()
    assert not RiskLimit.objects.exists()


def test_deleting_a_limit_keeps_its_values_in_the_log(owner, trader, book):
    limit = RiskLimit.objects.create(owner=trader, portfolio=book, max_daily_loss=D("100"))

    owner.post(f"/risk/limits/{limit.pk}/delete/")

    assert not RiskLimit.objects.exists()
    change = RiskLimitChange.objects.get()
    assert (change.action, change.changes["max_daily_loss"]) == ("deleted", ["100", None])


def test_nobody_else_sees_or_touches_a_traders_risk(outsider, trader, book):
    limit = RiskLimit.objects.create(owner=trader, portfolio=book, max_daily_loss=D("100"))
    alert = RiskAlert.objects.create(owner=trader, portfolio=book, severity="warning",
                                     rule="max_daily_loss", message="lost")
    block = EntryBlock.objects.create(portfolio=book, source="breach", reason="lost")

    assert outsider.get(f"/risk/limits/{limit.pk}/").status_code == 404
    assert outsider.post(f"/risk/alerts/{alert.pk}/acknowledge/").status_code == 404
    assert outsider.post(f"/risk/blocks/{block.pk}/clear/").status_code == 404
    assert outsider.get(f"/risk/portfolios/{book.pk}/emergency-stop/").status_code == 404
    assert outsider.post(f"/risk/portfolios/{book.pk}/emergency-stop/").status_code == 404
    assert outsider.post("/risk/limits/new/", {"portfolio": book.pk, "max_daily_loss": "1",
                                               "on_breach": "warn"}).status_code == 400
    assert "lost" not in outsider.get("/risk/").content.decode()


def test_the_dashboard_shows_alerts_blocks_and_breakers_and_they_can_be_dealt_with(
        owner, trader, book):
    alert = RiskAlert.objects.create(owner=trader, portfolio=book, severity="critical",
                                     rule="max_daily_loss", message="lost 200 today")
    block = EntryBlock.objects.create(portfolio=book, source="breach", reason="lost 200 today")

    page = owner.get("/dashboard/").content.decode()
    assert "lost 200 today" in page
    assert "Entries blocked" in page

    owner.post(f"/risk/alerts/{alert.pk}/acknowledge/", {"next": "/dashboard/"})
    owner.post(f"/risk/blocks/{block.pk}/clear/", {"next": "/dashboard/"})
    alert.refresh_from_db()
    block.refresh_from_db()
    assert alert.acknowledged_by == trader
    assert block.cleared_by == trader
    assert "Entries blocked" not in owner.get(f"/risk/portfolios/{book.pk}/panel/").content.decode()


def test_the_emergency_stop_asks_first_then_stops_and_shows_each_step(owner, trader, book):
    resting = order_create(portfolio=book, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                           quantity=D("0.2"), price=D("100"))
    order_submit(order=resting)

    confirm = owner.get(f"/risk/portfolios/{book.pk}/emergency-stop/").content.decode()
    assert "cancel 1 open order" in confirm
    assert not EmergencyStop.objects.exists()

    response = owner.post(f"/risk/portfolios/{book.pk}/emergency-stop/")
    stop = EmergencyStop.objects.get()
    assert response.url == f"/risk/emergency-stops/{stop.pk}/"
    detail = owner.get(response.url).content.decode()
    assert stop.status == "done"
    assert (stop.requested_by, stop.requested_via) == (trader, "dashboard")
    assert "cancelled an order" in detail
    assert "Resume entries" in owner.get("/dashboard/").content.decode()

    owner.post(f"/risk/portfolios/{book.pk}/resume-entries/")
    assert not EntryBlock.objects.active().exists()


def test_a_limit_staff_set_on_a_traders_portfolio_is_shown_but_not_editable(owner, book):
    limit = RiskLimit.objects.create(portfolio=book, max_daily_loss=D("300"))

    page = owner.get("/risk/").content.decode()

    assert "portfolio risk (set by staff)" in page
    assert f"/risk/limits/{limit.pk}/" not in page
    assert owner.get(f"/risk/limits/{limit.pk}/").status_code == 404
