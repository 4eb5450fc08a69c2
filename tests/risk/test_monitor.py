"""The risk monitor: each portfolio-wide limit breached and held, one alert per breach, the
actions on breach, live pushes, email and webhook, acknowledgement, and how blocks clear."""

import asyncio
import json
import sys
import threading
import types
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connections
from django.utils import timezone

from bots.models import Bot
from bots.services import bot_resume
from orders.models import Balance, Position
from portfolios.models import EquitySnapshot, Portfolio
from portfolios.services import equity_snapshots_take
from portfolios.tasks import equity_snapshots_task
from risk.models import AlertChannel, BreachAction, EntryBlock, RiskAlert, RiskLimit
from risk.monitor import (
    Breach,
    breaches,
    entry_block_clear,
    evaluate_soon,
    portfolio_evaluate,
    risk_alert_acknowledge,
    risk_alert_raise,
    watched_portfolios,
)
from risk.notify import alert_webhook
from risk.rules import AccountState, Limits
from risk.services import RiskRefused, pretrade_check
from risk.tasks import risk_alert_notify_task, risk_monitor_task
from tests.test_websocket import session_cookie
from tradingsite.asgi import application
from tradingsite.models import AuditEvent

pytestmark = pytest.mark.django_db
A = BreachAction


def midnight(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass
class Book:
    """A paper portfolio whose equity, day start, peak, free cash and positions a test sets."""

    portfolio: Portfolio
    now: datetime

    def set(self, *, cash="1000", free=None, day_start="1000", peak=None, positions=None):
        free = D(free or cash)
        Balance.objects.update_or_create(portfolio=self.portfolio, asset="USDT", defaults={
            "free": free, "locked": D(cash) - free})
        self._snapshot(midnight(self.now) - timedelta(minutes=1), day_start)
        self._snapshot(self.now - timedelta(days=3), peak or day_start)
        Position.objects.filter(portfolio=self.portfolio).delete()
        for symbol, (quantity, cost) in (positions or {}).items():
            Position.objects.create(portfolio=self.portfolio, symbol=symbol,
                                    quantity=D(quantity), cost=D(cost))

    def _snapshot(self, at, equity):
        EquitySnapshot.objects.update_or_create(
            portfolio=self.portfolio, taken_at=at,
            defaults={"equity": D(equity), "cash": D(equity), "positions_value": D(0)})

    def limit(self, on_breach=A.WARN, **limits):
        return RiskLimit.objects.create(portfolio=self.portfolio, on_breach=on_breach, **limits)

    def evaluate(self, later=timedelta(0)):
        return portfolio_evaluate(portfolio=self.portfolio, now=self.now + later)

    def tomorrow(self):
        """A minute into the next UTC day, as seen from the test's now."""
        return midnight(self.now) + timedelta(days=1, minutes=1) - self.now


@pytest.fixture
def watched(trader):
    return Book(Portfolio.objects.create(owner=trader, name="watched"), timezone.now())


@pytest.fixture(autouse=True)
def _tasks_inline(tasks_run_inline):
    """Every test here follows its tasks to the end."""


def running_bot(portfolio, name="sma"):
    return Bot.objects.create(portfolio=portfolio, name=name, symbol="BTCUSDT",
                              strategy="sma_cross", status=Bot.Status.RUNNING)


TWO_POSITIONS = {"BTCUSDT": ("0.01", "400"), "ETHUSDT": ("0.1", "200")}
ONE_POSITION = {"BTCUSDT": ("0.01", "400")}

# limits, books breaching them, books within them, rule, severity, message, values
RULES = [
    pytest.param(
        {"max_daily_loss": D("100")}, {"cash": "880"}, {"cash": "901"},
        "max_daily_loss", "critical",
        "max daily loss is 100 USDT; 120 has been lost today (1000 at 00:00 UTC, 880 now)",
        {"limit": "100", "lost": "120", "day_start_equity": "1000", "equity": "880"},
        id="daily loss"),
    pytest.param(
        {"max_daily_loss_pct": D("10")}, {"cash": "880"}, {"cash": "905"},
        "max_daily_loss_pct", "critical",
        "max daily loss is 10% of the equity at 00:00 UTC (1000 USDT); 12% (120) has been "
        "lost today",
        {"limit": "10", "lost_pct": "12", "lost": "120", "day_start_equity": "1000",
         "equity": "880"},
        id="daily loss percent"),
    pytest.param(
        {"max_drawdown_pct": D("20")}, {"peak": "1500", "cash": "1000"},
        {"peak": "1500", "cash": "1400"},
        "max_drawdown_pct", "critical",
        "max drawdown is 20% from the equity peak of 1500 USDT; equity is 1000, 33.33% below it",
        {"limit": "20", "drawdown_pct": "33.33", "equity_peak": "1500", "equity": "1000"},
        id="drawdown"),
    pytest.param(
        {"max_total_exposure": D("500")}, {"positions": TWO_POSITIONS},
        {"positions": ONE_POSITION},
        "max_total_exposure", "warning",
        "max total exposure is 500 USDT; 600 is open across all symbols (positions and open "
        "entry orders)",
        {"limit": "500", "exposure": "600"},
        id="total exposure"),
    pytest.param(
        {"min_free_balance": D("300")}, {"free": "250"}, {"free": "300"},
        "min_free_balance", "warning",
        "min free balance is 300 USDT; 250 is free",
        {"limit": "300", "free": "250"},
        id="free balance"),
    pytest.param(
        {"max_open_positions": 1}, {"positions": TWO_POSITIONS}, {"positions": ONE_POSITION},
        "max_open_positions", "warning",
        "max open positions is 1; 2 are open (BTCUSDT, ETHUSDT)",
        {"limit": 1, "open": 2, "symbols": ["BTCUSDT", "ETHUSDT"]},
        id="open positions"),
]
RULE_ARGS = "limits, breached, held, rule, severity, message, values"


# --- the rules ---------------------------------------------------------------------------

@pytest.mark.parametrize(RULE_ARGS, RULES)
def test_a_portfolio_within_its_limit_raises_nothing(watched, limits, breached, held, rule,
                                                     severity, message, values):
    watched.limit(**limits)
    watched.set(**held)

    assert watched.evaluate() == []
    assert not RiskAlert.objects.exists()


@pytest.mark.parametrize(RULE_ARGS, RULES)
def test_a_breach_raises_an_alert_with_the_rule_and_its_numbers(
        watched, trader, limits, breached, held, rule, severity, message, values):
    watched.limit(**limits)
    watched.set(**breached)

    [alert] = watched.evaluate()

    assert (alert.owner, alert.portfolio, alert.rule) == (trader, watched.portfolio, rule)
    assert (alert.severity, alert.message, alert.values) == (severity, message, values)
    assert alert.action_taken == A.WARN
    assert alert.resolved_at is None
    assert not EntryBlock.objects.exists()  # warn only


@pytest.mark.parametrize(RULE_ARGS, RULES)
def test_an_alert_stays_single_while_its_breach_lasts_and_resolves_when_it_ends(
        watched, limits, breached, held, rule, severity, message, values):
    watched.limit(**limits)
    watched.set(**breached)
    [first] = watched.evaluate()
    for minutes in (1, 2, 3):
        assert watched.evaluate(timedelta(minutes=minutes)) == [first]

    watched.set(**held)
    assert watched.evaluate(timedelta(minutes=4)) == []
    first.refresh_from_db()
    assert first.resolved_at == watched.now + timedelta(minutes=4)

    watched.set(**breached)  # a new breach is a new alert
    [second] = watched.evaluate(timedelta(minutes=5))
    assert second != first
    assert RiskAlert.objects.count() == 2


STATE = {"equity": D("900"), "equity_peak": D("1000"), "day_start_equity": D("1000"),
         "free_balance": D("300"), "positions": {"BTCUSDT": D("400"), "ETHUSDT": D("-100")}}


@pytest.mark.parametrize(("limits", "breached"), [
    # A loss exactly at the limit is a breach, as the pre-trade check refuses entries there.
    ({"max_daily_loss": D("100")}, ["max_daily_loss"]),
    ({"max_daily_loss_pct": D("10")}, ["max_daily_loss_pct"]),
    # Everything else breaches past the limit only (as the pre-trade check caps there).
    ({"max_drawdown_pct": D("10")}, []),
    ({"max_total_exposure": D("500")}, []),  # |400| + |-100|: a short counts by its size
    ({"min_free_balance": D("300")}, []),
    ({"max_open_positions": 2}, []),
    ({"max_drawdown_pct": D("9.99"), "max_total_exposure": D("499"), "max_open_positions": 1},
     ["max_drawdown_pct", "max_total_exposure", "max_open_positions"]),
])
def test_the_rules_at_their_boundaries(limits, breached):
    found = breaches(Limits(**limits), AccountState(**STATE))

    assert [b.rule for b in found] == breached


def test_a_portfolio_that_never_lost_has_no_daily_loss_even_with_a_zero_limit():
    state = AccountState(**{**STATE, "equity": D("1000")})

    assert breaches(Limits(max_daily_loss=D("0"), max_daily_loss_pct=D("0")), state) == []


# --- racing workers ------------------------------------------------------------------------

def test_a_second_worker_raising_the_same_breach_finds_it_raised_and_does_not_act(watched):
    watched.limit(max_daily_loss=D("100"))
    watched.set(cash="880")
    [alert] = watched.evaluate()
    # What a worker that read "no active alert" a moment before the first one committed does:
    late = Breach("max_daily_loss", "critical", alert.message, alert.values)

    assert risk_alert_raise(portfolio=watched.portfolio, breach=late,
                            action=A.BLOCK_ENTRIES) is None
    assert list(RiskAlert.objects.all()) == [alert]
    assert not EntryBlock.objects.exists()  # the loser does not act either


# --- actions -------------------------------------------------------------------------------

@pytest.mark.parametrize(("on_breach", "blocked", "bot_status"), [
    (A.WARN, False, Bot.Status.RUNNING),
    (A.BLOCK_ENTRIES, True, Bot.Status.RUNNING),
    (A.PAUSE_BOTS, True, Bot.Status.PAUSED),
])
def test_the_breach_action_runs_once_when_the_alert_is_raised(
        watched, on_breach, blocked, bot_status, django_capture_on_commit_callbacks):
    bot, other = running_bot(watched.portfolio), running_bot(watched.portfolio, "other")
    elsewhere = running_bot(Portfolio.objects.create(owner=watched.portfolio.owner, name="calm"))
    watched.limit(max_daily_loss=D("100"), on_breach=on_breach)
    watched.set(cash="880")

    with django_capture_on_commit_callbacks(execute=True):  # bots are paused after the commit
        [alert] = watched.evaluate()

    assert alert.action_taken == on_breach
    blocks = EntryBlock.objects.active().filter(portfolio=watched.portfolio)
    assert [(b.symbol, b.source, b.reason) for b in blocks] == (
        [("", EntryBlock.Source.BREACH, alert.message)] if blocked else [])
    logged = AuditEvent.objects.filter(action=AuditEvent.Action.ENTRIES_BLOCKED)
    assert [(e.portfolio_id, e.detail["alert_id"]) for e in logged] == (
        [(watched.portfolio.pk, alert.pk)] if blocked else [])
    for each in (bot, other):
        each.refresh_from_db()
        assert each.status == bot_status
    elsewhere.refresh_from_db()
    assert elsewhere.status == Bot.Status.RUNNING
    if bot_status == Bot.Status.PAUSED:
        assert bot.status_reason == f"risk: {alert.message}"
        bot_resume(bot=bot)  # the trader resumes it while the breach lasts

    with django_capture_on_commit_callbacks(execute=True):
        watched.evaluate(timedelta(minutes=1))
    bot.refresh_from_db()
    assert bot.status == Bot.Status.RUNNING  # acted once, when raised
    assert blocks.count() == (1 if blocked else 0)


def test_the_strongest_action_among_the_breached_limits_wins(watched, trader):
    RiskLimit.objects.create(max_daily_loss=D("1000"), on_breach=A.EMERGENCY_STOP)  # not reached
    RiskLimit.objects.create(owner=trader, max_daily_loss=D("50"), on_breach=A.PAUSE_BOTS)
    watched.limit(max_daily_loss=D("100"), on_breach=A.BLOCK_ENTRIES)
    RiskLimit.objects.create(portfolio=watched.portfolio, symbol="BTCUSDT",  # not portfolio-wide
                             max_daily_loss=D("10"), on_breach=A.EMERGENCY_STOP)
    watched.set(cash="880")

    [alert] = watched.evaluate()

    assert alert.action_taken == A.PAUSE_BOTS
    assert alert.values["limit"] == "50"  # the tightest limit is the one reported


def test_an_emergency_stop_breach_stops_the_portfolio_once(watched, monkeypatch,
                                                           django_capture_on_commit_callbacks):
    stops = []
    stand_in = types.ModuleType("risk.emergency")  # risk/emergency.py is another helper's
    stand_in.emergency_stop = lambda **kwargs: stops.append(kwargs)
    monkeypatch.setitem(sys.modules, "risk.emergency", stand_in)
    watched.limit(max_drawdown_pct=D("20"), on_breach=A.EMERGENCY_STOP)
    watched.set(peak="1500", cash="1000")

    with django_capture_on_commit_callbacks(execute=True):
        [alert] = watched.evaluate()
    with django_capture_on_commit_callbacks(execute=True):
        watched.evaluate(timedelta(minutes=1))

    assert alert.action_taken == A.EMERGENCY_STOP
    assert stops == [{"portfolios": [watched.portfolio], "via": "monitor"}]
    # Entries are blocked here too, should the stop itself fail.
    assert EntryBlock.objects.active().filter(source=EntryBlock.Source.BREACH).count() == 1


def test_a_breach_block_refuses_entries_and_lets_exits_through(watched):
    watched.limit(max_daily_loss=D("100"), on_breach=A.BLOCK_ENTRIES)
    watched.set(cash="880")
    watched.evaluate()

    with pytest.raises(RiskRefused, match=r"^entries are blocked \(risk limit breached\): max "
                       r"daily loss is 100 USDT; 120 has been lost today"):
        pretrade_check(portfolio=watched.portfolio, symbol="ETHUSDT", side="BUY",
                       notional=D("20"), reduces_position=False)
    check = pretrade_check(portfolio=watched.portfolio, symbol="BTCUSDT", side="SELL",
                           notional=D("20"), reduces_position=True)
    assert check.action == "exit"


# --- clearing blocks -------------------------------------------------------------------------

def test_a_daily_loss_block_lifts_itself_on_the_next_utc_day(watched):
    watched.limit(max_daily_loss=D("100"), on_breach=A.PAUSE_BOTS)
    watched.set(cash="880")
    [alert] = watched.evaluate()
    equity_snapshots_take(at=watched.now)  # today's last look at equity starts tomorrow
    block = EntryBlock.objects.get()

    watched.evaluate(timedelta(minutes=1))
    block.refresh_from_db()
    assert block.cleared_at is None  # the rest of the day stays blocked

    assert watched.evaluate(watched.tomorrow()) == []
    alert.refresh_from_db()
    block.refresh_from_db()
    assert alert.resolved_at == watched.now + watched.tomorrow()
    assert block.cleared_at is not None
    assert block.cleared_by is None  # the monitor lifted it


def test_a_daily_loss_block_stays_while_another_blocking_breach_lasts(watched):
    watched.limit(max_daily_loss=D("100"), max_drawdown_pct=D("20"), on_breach=A.BLOCK_ENTRIES)
    watched.set(peak="1500", cash="880")
    assert {a.rule for a in watched.evaluate()} == {"max_daily_loss", "max_drawdown_pct"}
    equity_snapshots_take(at=watched.now)

    assert [a.rule for a in watched.evaluate(watched.tomorrow())] == ["max_drawdown_pct"]
    assert EntryBlock.objects.active().count() == 1


def test_any_other_breach_block_waits_for_the_owner_or_staff(watched, trader, other_trader, staff):
    watched.limit(max_drawdown_pct=D("20"), on_breach=A.BLOCK_ENTRIES)
    watched.set(peak="1500", cash="1000")
    watched.evaluate()
    watched.set(peak="1500", cash="1400")
    assert watched.evaluate(timedelta(minutes=1)) == []  # the breach is over
    assert watched.evaluate(watched.tomorrow()) == []
    block = EntryBlock.objects.active().get()

    with pytest.raises(PermissionDenied):
        entry_block_clear(block=block, by=other_trader)
    cleared = entry_block_clear(block=block, by=trader)
    again = entry_block_clear(block=block, by=staff)

    assert cleared.cleared_by == again.cleared_by == trader
    assert cleared.cleared_at == again.cleared_at
    assert not EntryBlock.objects.active().exists()


# --- acknowledging and pushing -------------------------------------------------------------

def test_the_owner_or_staff_acknowledge_an_alert_once(watched, trader, other_trader, staff):
    watched.limit(min_free_balance=D("300"))
    watched.set(free="100")
    [alert] = watched.evaluate()

    with pytest.raises(PermissionDenied):
        risk_alert_acknowledge(alert=alert, by=other_trader)
    first = risk_alert_acknowledge(alert=alert, by=trader)
    at = first.acknowledged_at
    again = risk_alert_acknowledge(alert=alert, by=staff)

    assert at is not None
    assert (again.acknowledged_by, again.acknowledged_at) == (trader, at)
    assert again.resolved_at is None  # seen, not over


def socket_headers(user) -> list[tuple[bytes, bytes]]:
    return [(b"cookie", session_cookie(user).encode()), (b"origin", b"http://127.0.0.1")]


def socket_with(headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)


async def next_event(socket, event_type):
    while True:  # other events (bots, orders) may come first
        event = await socket.receive_json_from(timeout=5)
        if event["type"] == event_type:
            return event["data"]


async def in_thread(work):
    def run():
        try:
            return work()
        finally:
            connections.close_all()
    return await asyncio.to_thread(run)


@pytest.mark.django_db(transaction=True)
def test_alerts_reach_the_owner_and_staff_live_when_raised_acknowledged_and_resolved(
        watched, trader, other_trader, staff):
    watched.limit(max_daily_loss=D("100"))
    watched.set(cash="880")
    headers = [socket_headers(user) for user in (trader, staff, other_trader)]

    async def scenario():
        mine, boss, theirs = (socket_with(h) for h in headers)
        for socket in (mine, boss, theirs):
            assert (await socket.connect())[0]

        [alert] = await in_thread(watched.evaluate)
        raised = await next_event(mine, "risk.alert")
        assert raised == alert.as_event()
        assert await next_event(boss, "risk.alert") == raised

        await in_thread(lambda: risk_alert_acknowledge(alert=alert, by=trader))
        assert (await next_event(mine, "risk.alert"))["acknowledged"] is True
        assert (await next_event(boss, "risk.alert"))["acknowledged"] is True

        await in_thread(lambda: (watched.set(cash="950"), watched.evaluate(timedelta(minutes=1))))
        resolved = await next_event(mine, "risk.alert")
        assert (resolved["id"], resolved["resolved"]) == (alert.pk, True)
        assert (await next_event(boss, "risk.alert"))["resolved"] is True

        assert await theirs.receive_nothing(timeout=0.3)
        for socket in (mine, boss, theirs):
            await socket.disconnect()

    asyncio.run(scenario())


# --- email and webhook ---------------------------------------------------------------------

@pytest.fixture
def webhook():
    """A tiny receiver on 127.0.0.1: what it was sent, and the status it answers with."""
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], json.loads(body)))
            self.send_response(self.server.answer)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    server.answer = 204
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield types.SimpleNamespace(server=server, received=received,
                                url=f"http://127.0.0.1:{server.server_port}/hooks/risk")
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_a_breach_is_emailed_and_posted_to_the_owners_webhook_after_commit(
        watched, trader, mailoutbox, webhook, django_capture_on_commit_callbacks):
    AlertChannel.objects.create(owner=trader, email=True, webhook_url=webhook.url)
    watched.limit(max_daily_loss=D("100"), on_breach=A.BLOCK_ENTRIES)
    watched.set(cash="880")

    with django_capture_on_commit_callbacks(execute=False) as queued:
        [alert] = watched.evaluate()
    assert mailoutbox == []
    assert webhook.received == []
    for callback in queued:
        callback()

    [mail] = mailoutbox
    assert mail.to == ["trader@example.com"]
    assert mail.subject == "[critical] risk alert on portfolio watched: max_daily_loss"
    assert mail.body.startswith(alert.message + ".\n\nAction taken: block new entries.")
    assert webhook.received == [("/hooks/risk", "application/json", alert.as_event())]


def test_a_breach_below_the_channels_severity_is_not_sent(
        watched, trader, mailoutbox, webhook, django_capture_on_commit_callbacks):
    AlertChannel.objects.create(owner=trader, email=True, webhook_url=webhook.url,
                                min_severity="critical")
    watched.limit(min_free_balance=D("300"))
    watched.set(free="100")

    with django_capture_on_commit_callbacks(execute=True):
        [alert] = watched.evaluate()

    assert alert.severity == "warning"
    assert mailoutbox == []
    assert webhook.received == []


def test_a_failing_webhook_is_logged_and_the_alert_stands(watched, trader, webhook, caplog,
                                                          django_capture_on_commit_callbacks):
    AlertChannel.objects.create(owner=trader, webhook_url=webhook.url, min_severity="info")
    webhook.server.answer = 500
    watched.limit(max_daily_loss=D("100"))
    watched.set(cash="880")

    with django_capture_on_commit_callbacks(execute=True):
        [alert] = watched.evaluate()

    assert len(webhook.received) == 1
    assert "webhook failed: HTTP Error 500" in caplog.text
    assert risk_alert_notify_task(alert.pk) == []  # the task says nothing was delivered
    assert RiskAlert.objects.active().get() == alert


def test_a_webhook_that_is_not_http_is_never_opened(watched, trader, webhook):
    watched.limit(max_daily_loss=D("100"))
    watched.set(cash="880")
    [alert] = watched.evaluate()

    assert alert_webhook(alert=alert, url="file:///etc/passwd") is False
    assert alert_webhook(alert=alert, url=webhook.url) is True


# --- when the monitor runs -------------------------------------------------------------------

def test_the_beat_watches_only_portfolios_with_something_to_watch(watched, trader, other_trader):
    theirs = Portfolio.objects.create(owner=other_trader, name="theirs")
    Portfolio.objects.create(owner=trader, name="closed", active=False)
    RiskLimit.objects.create(owner=other_trader, symbol="BTCUSDT", max_daily_loss=D("1"))
    assert list(watched_portfolios()) == []

    watched.limit(max_daily_loss=D("100"))
    assert list(watched_portfolios()) == [watched.portfolio]

    RiskLimit.objects.create(owner=other_trader, min_free_balance=D("1"))
    assert list(watched_portfolios()) == [watched.portfolio, theirs]

    RiskLimit.objects.filter(owner=other_trader).delete()
    RiskLimit.objects.create(max_drawdown_pct=D("50"))  # global: every active portfolio
    assert list(watched_portfolios()) == [watched.portfolio, theirs]
    assert risk_monitor_task() == 2
    assert settings.CELERY_BEAT_SCHEDULE["risk-monitor"] == {
        "task": "risk.tasks.risk_monitor_task", "schedule": 60.0}


def test_an_alert_whose_limit_was_removed_is_resolved_by_the_beat(watched):
    watched.limit(max_daily_loss=D("100"))
    watched.set(cash="880")
    [alert] = watched.evaluate()

    RiskLimit.objects.all().delete()
    assert risk_monitor_task() == 1

    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_each_equity_snapshot_is_judged_at_once(watched):
    watched.limit(max_daily_loss=D("100"))
    watched.set(cash="880")

    equity_snapshots_task()

    assert RiskAlert.objects.active().get().rule == "max_daily_loss"


def test_fills_ask_for_one_evaluation_every_few_seconds(watched,
                                                        django_capture_on_commit_callbacks):
    key = f"risk:evaluate-soon:{watched.portfolio.pk}"
    cache.delete(key)
    watched.limit(max_daily_loss=D("100"))
    watched.set(cash="880")

    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_soon(watched.portfolio.pk) is True
        assert evaluate_soon(watched.portfolio.pk) is False  # a burst of fills: one evaluation
        assert not RiskAlert.objects.exists()  # nothing before the fills commit

    assert RiskAlert.objects.active().get().rule == "max_daily_loss"
    cache.delete(key)
