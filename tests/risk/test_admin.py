"""The control panel: limits saved in the admin are logged with who changed what, and the
emergency stop action asks before it acts."""


import pytest
from django.test import Client

from risk.models import EmergencyStop, EntryBlock, RiskAlert, RiskLimit, RiskLimitChange

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(staff):
    client = Client()
    client.force_login(staff)
    return client


def test_a_limit_saved_in_the_admin_is_logged_with_who(boss, staff, book):
    response = boss.post("/admin/risk/risklimit/add/", {
        "portfolio": book.pk, "symbol": "", "max_daily_loss": "250", "on_breach": "pause_bots",
        "note": "", "changes-TOTAL_FORMS": 0, "changes-INITIAL_FORMS": 0})
    assert response.status_code == 302
    limit = RiskLimit.objects.get()

    boss.post(f"/admin/risk/risklimit/{limit.pk}/change/", {
        "portfolio": book.pk, "symbol": "", "max_daily_loss": "200", "on_breach": "pause_bots",
        "note": "", "changes-TOTAL_FORMS": 0, "changes-INITIAL_FORMS": 0})

    changes = list(RiskLimitChange.objects.filter(limit=limit))
    assert [c.action for c in changes] == ["changed", "created"]
    assert changes[0].changes == {"max_daily_loss": ["250", "200"]}
    assert {c.changed_by for c in changes} == {staff}
    page = boss.get(f"/admin/risk/risklimit/{limit.pk}/change/").content.decode()
    assert "&quot;max_daily_loss&quot;: [&quot;250&quot;, &quot;200&quot;]" in page


def test_the_emergency_stop_action_asks_then_stops(boss, staff, book):
    chosen = {"action": "emergency_stop", "_selected_action": [book.pk]}

    asked = boss.post("/admin/portfolios/portfolio/", chosen)
    assert asked.status_code == 200
    assert "Yes, stop them now" in asked.content.decode()
    assert not EmergencyStop.objects.exists()

    done = boss.post("/admin/portfolios/portfolio/", {**chosen, "confirmed": "yes"}, follow=True)
    stop = EmergencyStop.objects.get()
    assert (stop.requested_by, stop.requested_via, stop.status) == (staff, "admin", "done")
    assert f"Emergency stop #{stop.pk}" in done.content.decode()
    assert EntryBlock.objects.active().filter(portfolio=book).exists()
    assert boss.get(f"/admin/risk/emergencystop/{stop.pk}/change/").status_code == 200


def test_staff_acknowledge_alerts_and_clear_blocks(boss, staff, trader, book):
    alert = RiskAlert.objects.create(owner=trader, portfolio=book, severity="warning",
                                     rule="max_total_exposure", message="too much")
    block = EntryBlock.objects.create(portfolio=book, source="breach", reason="too much")

    boss.post("/admin/risk/riskalert/", {"action": "acknowledge",
                                         "_selected_action": [alert.pk]})
    boss.post("/admin/risk/entryblock/", {"action": "clear", "_selected_action": [block.pk]})

    alert.refresh_from_db()
    block.refresh_from_db()
    assert alert.acknowledged_by == staff
    assert block.cleared_by == staff
