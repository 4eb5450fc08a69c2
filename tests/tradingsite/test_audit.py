"""The audit log: every trading action leaves one row with who, when, from where and which
objects, never a secret; the log is only ever added to; traders read their own rows, staff all."""

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.conf import settings
from django.core import serializers
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.test import AsyncClient, RequestFactory

from bots.models import Bot
from bots.services import bot_create, bot_start, bot_tick
from marketdata import live
from marketdata.services import symbols_sync
from orders.fillmodel import Trade
from orders.models import Order, OrderStatus
from orders.services import (
    OrderRefused,
    order_cancel,
    order_place,
    paper_deposit,
    paper_orders_match,
)
from portfolios.models import ExchangeAccount, Portfolio
from portfolios.services import exchange_secrets_reencrypt
from risk.emergency import emergency_stop, entries_resume
from risk.limits import risk_limit_delete, risk_limit_save
from risk.models import RiskLimit
from tests.bots import conftest as bots_conftest
from tests.orders import conftest as orders_conftest
from tests.orders.ordering import limit_buy_below, market_buy
from tests.support.secrets import ACCOUNT_KEY, ACCOUNT_SECRET
from tradingsite.audit import audit_context, audit_record, scrub
from tradingsite.celery import app as celery_app
from tradingsite.logs import current_request
from tradingsite.models import AppendOnly, AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)
A = AuditEvent.Action
S = OrderStatus
ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
PASSWORD = "correct horse battery"
paper_portfolio = bots_conftest.paper_portfolio  # BTCUSDT at 120, a 1000 USDT budget
portfolio = orders_conftest.portfolio  # a testnet portfolio trading on the local Binance


def only(action, **filters) -> AuditEvent:
    rows = list(AuditEvent.objects.filter(action=action, **filters))
    assert len(rows) == 1, rows
    return rows[0]


def stored_text(event: AuditEvent) -> str:
    """The row as the database holds it, and as a dump would show it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tradingsite_auditevent WHERE id = %s", [event.pk])
        raw = repr(cursor.fetchall())
    return raw + serializers.serialize("json", [event])


@pytest.fixture
def as_trader(trader):
    """Services called as if from the trader's page request, from 203.0.113.7."""
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.7")
    request.user = trader
    with audit_context(request=request):
        yield request


@pytest.fixture
def paper(trader, local_venue):
    """A paper portfolio without a budget cap: BTCUSDT at 60 000, 10 000 USDT."""
    symbols_sync(market="spot", venue=local_venue)
    portfolio = Portfolio.objects.create(owner=trader, name="paper audit")
    paper_deposit(portfolio=portfolio, asset="USDT", amount=D("10000"))
    cache.set(live.ticker_key("spot", "BTCUSDT"),
              {"symbol": "BTCUSDT", "price": "60000", "bid": "59990", "ask": "60010"})
    yield portfolio
    cache.delete(live.ticker_key("spot", "BTCUSDT"))


# --- what is kept -----------------------------------------------------------------------------

def test_the_scrubber_drops_secret_keys_at_any_depth_and_masks_them_in_text():
    detail = {"api_key": "AK", "apiKey": "AK", "API_SECRET": "S", "password1": "p",
              "token": "t", "signature": "sig", "key": "…WXYZ", "amount": D("1.5"),
              "nested": {"secret_part": "s", "ok": [{"auth_token": "t", "n": 1}]},
              "url": "https://x/api?symbol=BTCUSDT&signature=abc123&apiKey=AK",
              "long": "x" * 2000, "at": datetime(2026, 1, 1, tzinfo=UTC), "other": object}

    clean = scrub(detail)

    assert set(clean) == {"key", "amount", "nested", "url", "long", "at", "other"}
    assert clean["nested"] == {"ok": [{"n": 1}]}
    assert clean["url"] == "https://x/api?symbol=BTCUSDT&signature=***&apiKey=***"
    assert len(clean["long"]) == 500
    assert clean["amount"] == D("1.5")
    assert isinstance(clean["other"], str)


def test_a_failure_to_audit_is_logged_loudly_and_never_blocks_the_action(
        paper, as_trader, monkeypatch, caplog):
    def broken(**fields):
        raise DatabaseError("disk full")

    monkeypatch.setattr(AuditEvent.objects, "create", broken)
    with caplog.at_level(logging.ERROR, logger="tradingsite.audit"):
        order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY",
                            order_type="MARKET", quantity=D("0.01"))

    assert order.status == S.FILLED
    assert any("AUDIT GAP: order.sent" in r.getMessage() for r in caplog.records)
    assert any("AUDIT GAP: fill.booked" in r.getMessage() for r in caplog.records)


# --- orders and fills -------------------------------------------------------------------------

def test_a_paper_order_logs_sent_and_each_fill_with_actor_ip_and_ids(paper, as_trader, trader):
    order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                        quantity=D("0.01"))

    sent = only(A.ORDER_SENT)
    assert (sent.actor, sent.actor_name, sent.owner, sent.ip) == (trader, "trader", trader,
                                                                   "203.0.113.7")
    assert (sent.portfolio_id, sent.order_id, sent.client_order_id) == (
        paper.pk, order.pk, order.client_order_id)
    assert sent.exchange_code == "FILLED"
    assert sent.detail["symbol"] == "BTCUSDT"
    fill = order.fills.get()
    booked = only(A.FILL_BOOKED)
    assert (booked.order_id, booked.owner, booked.actor) == (order.pk, trader, trader)
    assert booked.exchange_code == str(fill.trade_id)
    assert D(booked.detail["price"]) == fill.price


def test_a_paper_order_beyond_the_balance_logs_rejected_with_binances_code(paper, as_trader):
    order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                        quantity=D("1"))

    rejected = only(A.ORDER_REJECTED)
    assert order.status == S.REJECTED
    assert (rejected.order_id, rejected.exchange_code) == (order.pk, "-2010")
    assert "insufficient balance" in rejected.detail["reason"]
    assert not AuditEvent.objects.filter(action__in=[A.ORDER_SENT, A.FILL_BOOKED]).exists()


def test_an_order_refused_or_rolled_back_logs_nothing(paper, as_trader):
    with pytest.raises(OrderRefused):
        order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                    quantity=D("0.0000001"))

    def filled_then_failed():
        with transaction.atomic():
            order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                        quantity=D("0.01"))
            raise RuntimeError("the caller's transaction fails after the paper fill")

    with pytest.raises(RuntimeError):
        filled_then_failed()

    assert not Order.objects.exists()
    assert not AuditEvent.objects.exclude(action=A.LOGIN).exists()


def test_a_resting_paper_order_filled_by_the_stream_is_booked_as_the_stream(paper):
    order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                        quantity=D("0.01"), price=D("59000"), time_in_force="GTC")

    paper_orders_match(market="spot", symbol="BTCUSDT",
                       trade=Trade(price=D("58900"), qty=D("1"), time=datetime.now(tz=UTC)))

    booked = only(A.FILL_BOOKED)
    assert (booked.order_id, booked.task, booked.actor, booked.ip) == (order.pk, "stream",
                                                                       None, None)


def test_an_exchange_rejection_keeps_binances_error_code(portfolio, local_binance, as_trader):
    local_binance.inject("error", method="POST", path="/api/v3/order", status=400, code=-2010,
                         msg="Account has insufficient balance for requested action.")

    order = market_buy(portfolio)

    assert order.status == S.REJECTED
    rejected = only(A.ORDER_REJECTED)
    assert (rejected.order_id, rejected.exchange_code) == (order.pk, "-2010")
    assert not AuditEvent.objects.filter(action=A.ORDER_SENT).exists()


def test_a_lost_answer_logs_unknown_with_the_code(portfolio, local_binance, as_trader):
    local_binance.inject("timeout", method="POST", path="/api/v3/order")

    order = market_buy(portfolio)

    unknown = only(A.ORDER_UNKNOWN)
    assert order.status == S.UNKNOWN
    assert (unknown.order_id, unknown.exchange_code) == (order.pk, "-1007")
    assert unknown.detail["reason"].startswith("outcome unknown")


def test_a_cancel_through_the_api_logs_the_trader_and_the_outcome(portfolio, local_binance,
                                                                 owner, trader):
    order = limit_buy_below(portfolio, local_binance)
    assert only(A.ORDER_SENT).exchange_code == "NEW"

    answer = owner.post(f"/api/orders/{order.pk}/cancel/", REMOTE_ADDR="198.51.100.9")

    assert answer.status_code == 200
    cancelled = only(A.ORDER_CANCELLED)
    assert (cancelled.actor, cancelled.owner, cancelled.ip) == (trader, trader, "198.51.100.9")
    assert (cancelled.order_id, cancelled.client_order_id) == (order.pk, order.client_order_id)
    assert cancelled.exchange_code == "CANCELED"
    assert cancelled.task == ""


def test_a_cancel_of_an_unsent_order_is_logged_too(paper, as_trader):
    order = order_place(portfolio=paper, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                        quantity=D("0.01"), price=D("59000"), time_in_force="GTC")

    order_cancel(order=order)
    order_cancel(order=order)  # already ended: nothing asked, nothing logged

    assert only(A.ORDER_CANCELLED).exchange_code == "CANCELED"


# --- bots, limits, the emergency stop ----------------------------------------------------------

def sma_bot(where):
    return bot_create(portfolio=where, name="sma", symbol="BTCUSDT", strategy="sma_cross",
                      params={"fast": 2, "slow": 3})


def test_bot_controls_through_the_api_log_each_step(paper_portfolio, owner, trader):
    bot = sma_bot(paper_portfolio)

    for step in ("start", "pause", "resume", "stop"):
        assert owner.post(f"/api/bots/{bot.pk}/{step}/").status_code == 200, step

    for action in (A.BOT_STARTED, A.BOT_PAUSED, A.BOT_RESUMED, A.BOT_STOPPED):
        row = only(action)
        assert (row.actor, row.owner, row.ip) == (trader, trader, "127.0.0.1")
        assert (row.bot_id, row.portfolio_id) == (bot.pk, paper_portfolio.pk)
    assert only(A.BOT_STOPPED).detail["reason"] == "stopped by its owner"


def test_a_bot_stopped_by_an_error_is_logged_with_the_reason(paper_portfolio):
    bot = bot_start(bot=sma_bot(paper_portfolio))
    Bot.objects.filter(pk=bot.pk).update(params={"fast": "not a number", "slow": 3})
    candle = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    bot_tick(bot_id=bot.pk, candle_open_time=candle, now=candle + timedelta(minutes=1))

    row = only(A.BOT_ERROR)
    assert (row.bot_id, row.owner, row.actor) == (bot.pk, paper_portfolio.owner, None)
    assert row.detail["status"] == "error"
    assert row.detail["reason"].startswith("its strategy cannot run")


def test_under_asgi_each_request_is_seen_by_its_own_actions_and_then_forgotten(
        paper_portfolio, trader):
    bot = sma_bot(paper_portfolio)
    client = AsyncClient()

    async def scenario():
        await client.aforce_login(trader)
        answer = await client.post(f"/api/bots/{bot.pk}/start/")
        return answer.status_code, current_request()  # forgotten once answered

    assert asyncio.run(scenario()) == (200, None)
    started = only(A.BOT_STARTED)
    assert (started.actor, started.ip, started.bot_id) == (trader, "127.0.0.1", bot.pk)


def test_limit_changes_log_who_changed_what_for_whom(paper_portfolio, staff, trader):
    limit = risk_limit_save(limit=RiskLimit(portfolio=paper_portfolio,
                                            max_order_notional=D("500")), by=staff)
    limit.max_order_notional = D("400")
    risk_limit_save(limit=limit, by=staff)
    risk_limit_delete(limit=limit, by=staff)

    created, changed, deleted = (only(a) for a in (A.LIMIT_CREATED, A.LIMIT_CHANGED,
                                                   A.LIMIT_DELETED))
    for row in (created, changed, deleted):
        assert (row.actor, row.actor_name, row.owner) == (staff, "boss", trader)
        assert (row.portfolio_id, row.detail["limit_id"]) == (paper_portfolio.pk, limit.pk)
    assert changed.detail["changes"] == {"max_order_notional": ["500", "400"]}


def test_a_global_limit_is_for_staff_eyes_only(staff):
    risk_limit_save(limit=RiskLimit(max_order_notional=D("5000")), by=staff)

    assert only(A.LIMIT_CREATED).owner is None


def test_an_emergency_stop_and_the_resume_are_logged_per_portfolio(paper_portfolio, trader,
                                                                   as_trader):
    bot_start(bot=sma_bot(paper_portfolio))

    stop = emergency_stop(portfolios=[paper_portfolio], requested_by=trader, via="dashboard",
                          deadline_seconds=1)
    entries_resume(portfolio=paper_portfolio, by=trader)
    entries_resume(portfolio=paper_portfolio, by=trader)  # nothing left to lift: no row

    stopped = only(A.EMERGENCY_STOP)
    assert (stopped.actor, stopped.owner, stopped.portfolio_id) == (trader, trader,
                                                                    paper_portfolio.pk)
    assert stopped.detail == {"stop_id": stop.pk, "via": "dashboard", "scope": stop.scope,
                              "close_positions": False}
    assert "emergency stop" in only(A.BOT_PAUSED).detail["reason"]
    resumed = only(A.ENTRIES_RESUMED)
    assert (resumed.actor, resumed.portfolio_id, resumed.ip) == (trader, paper_portfolio.pk,
                                                                "203.0.113.7")


def probe_action():
    audit_record(action=A.EMERGENCY_STOP, detail={"via": "monitor"})


def test_without_a_request_the_celery_task_is_recorded(tasks_run_inline):
    task = celery_app.task(name="tests.audit.probe")(probe_action)

    task.delay()

    row = only(A.EMERGENCY_STOP)
    assert (row.task, row.actor, row.ip) == ("tests.audit.probe", None, None)


# --- exchange keys ----------------------------------------------------------------------------

def test_keys_added_rotated_and_removed_are_logged_without_any_secret(
        owner, admin_client, admin_user, trader, local_binance):
    local_binance.add_api_key(ACCOUNT_KEY, ACCOUNT_SECRET)
    new_key, new_secret = ACCOUNT_KEY + "2ROT", ACCOUNT_SECRET + "2ROT"
    local_binance.add_api_key(new_key, new_secret)

    added = owner.post("/api/exchange-accounts/", {
        "name": "main", "mode": "local", "market": "spot", "base_url": local_binance.rest_url,
        "api_key": ACCOUNT_KEY, "api_secret": ACCOUNT_SECRET}, format="json")
    account = ExchangeAccount.objects.get(pk=added.json()["id"])
    exchange_secrets_reencrypt()  # the same key under a new encryption: not a rotation
    rotated = admin_client.post(f"/admin/portfolios/exchangeaccount/{account.pk}/change/", {
        "owner": trader.pk, "name": "main", "mode": "local", "market": "spot",
        "base_url": local_binance.rest_url, "api_key": new_key, "api_secret": new_secret})
    removed = owner.delete(f"/api/exchange-accounts/{account.pk}/")

    assert (added.status_code, rotated.status_code, removed.status_code) == (201, 302, 204)
    rows = {a: only(a) for a in (A.KEY_ADDED, A.KEY_ROTATED, A.KEY_REMOVED)}
    assert rows[A.KEY_ADDED].actor == rows[A.KEY_REMOVED].actor == trader
    assert rows[A.KEY_ROTATED].actor == admin_user
    assert all(row.owner == trader for row in rows.values())
    assert rows[A.KEY_ADDED].detail["key"] == "…" + ACCOUNT_KEY[-4:]
    assert rows[A.KEY_ROTATED].detail["previous_key"] == "…" + ACCOUNT_KEY[-4:]
    assert rows[A.KEY_ROTATED].detail["key"] == "…" + new_key[-4:]
    for row in rows.values():
        text = stored_text(row)
        for secret in (ACCOUNT_KEY, ACCOUNT_SECRET, new_key, new_secret, ACCOUNT_SECRET[-4:]):
            assert secret not in text


def test_a_key_removed_with_its_owner_points_at_no_one(trader, local_binance):
    account = ExchangeAccount(owner=trader, name="k", mode="local", market="spot",
                              base_url=local_binance.rest_url)
    account.set_credentials(api_key=ACCOUNT_KEY, api_secret=ACCOUNT_SECRET)
    account.save()

    trader.delete()

    assert only(A.KEY_ADDED).owner is None  # SET_NULL on the user's deletion
    assert only(A.KEY_REMOVED).owner_id is None
    assert only(A.KEY_REMOVED).detail["owner_deleted"] is True


# --- logins -----------------------------------------------------------------------------------

def test_a_login_through_the_form_records_the_ip(client, trader):
    answer = client.post("/accounts/login/", {"login": "trader", "password": PASSWORD},
                         REMOTE_ADDR="192.0.2.10")

    assert answer.status_code == 302
    row = only(A.LOGIN)
    assert (row.actor, row.owner, row.ip) == (trader, trader, "192.0.2.10")


def test_a_failed_login_records_the_name_tried_and_the_ip_but_no_password(client, trader):
    wrong = client.post("/accounts/login/", {"login": "trader", "password": "guess 1"},
                        REMOTE_ADDR="192.0.2.66")
    nobody = client.post("/accounts/login/", {"login": "nobody", "password": "guess 2"},
                         REMOTE_ADDR="192.0.2.66")

    assert wrong.status_code == nobody.status_code == 200  # the same answer either way
    on_trader = only(A.LOGIN_FAILED, owner=trader)
    assert (on_trader.detail, on_trader.ip, on_trader.actor) == ({"username": "trader"},
                                                                  "192.0.2.66", None)
    assert only(A.LOGIN_FAILED, owner=None).detail == {"username": "nobody"}
    assert not AuditEvent.objects.filter(action=A.LOGIN).exists()
    for row in AuditEvent.objects.all():
        assert "guess" not in stored_text(row)


# --- append-only ------------------------------------------------------------------------------

def test_the_log_refuses_updates_and_deletes_through_the_model_and_querysets(trader):
    row = audit_record(action=A.LOGIN, actor=trader, owner=trader)

    row.exchange_code = "edited"
    with pytest.raises(AppendOnly):
        row.save()
    with pytest.raises(AppendOnly):
        row.delete()
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(pk=row.pk).update(exchange_code="edited")
    with pytest.raises(AppendOnly):
        AuditEvent.objects.all().delete()
    with pytest.raises(AppendOnly):
        AuditEvent.objects.bulk_update([row], ["exchange_code"])
    assert AuditEvent.objects.get(pk=row.pk).exchange_code == ""


def test_deleting_objects_never_touches_the_log_and_a_deleted_user_keeps_their_name(
        paper_portfolio, staff, as_trader):
    bot = bot_start(bot=sma_bot(paper_portfolio))
    risk_limit_save(limit=RiskLimit(max_order_notional=D("5000")), by=staff)
    before, bot_id = AuditEvent.objects.count(), bot.pk

    bot.delete()
    staff.delete()

    assert AuditEvent.objects.count() == before
    assert only(A.BOT_STARTED).bot_id == bot_id
    created = only(A.LIMIT_CREATED)
    assert (created.actor, created.actor_name) == (None, "boss")


def test_the_admin_reads_everything_and_changes_nothing(admin_client, trader, other_trader):
    mine = audit_record(action=A.LOGIN, actor=trader, owner=trader)
    audit_record(action=A.LOGIN, actor=other_trader, owner=other_trader)
    base = "/admin/tradingsite/auditevent/"

    listing = admin_client.get(base)
    assert listing.status_code == 200
    assert listing.context["cl"].result_count == AuditEvent.objects.count() >= 2
    assert "delete_selected" not in listing.content.decode()
    assert admin_client.get(f"{base}?q=outsider").context["cl"].result_count >= 1
    assert admin_client.get(f"{base}{mine.pk}/change/").status_code == 200  # read-only view
    assert admin_client.post(f"{base}{mine.pk}/change/", {"exchange_code": "x"}).status_code \
        == 403
    assert admin_client.get(f"{base}{mine.pk}/delete/").status_code == 403
    assert admin_client.post(f"{base}{mine.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.post(base, {"action": "delete_selected",
                                    "_selected_action": [mine.pk]}).status_code in (200, 302)
    assert AuditEvent.objects.filter(pk=mine.pk).exists()


def test_a_trader_cannot_reach_the_admin_log(client, trader):
    client.force_login(trader)

    assert client.get("/admin/tradingsite/auditevent/").status_code == 302  # to admin login


# --- reading ----------------------------------------------------------------------------------

def test_a_traders_page_shows_only_their_own_rows_filtered_by_action(owner, trader,
                                                                     other_trader):
    audit_record(action=A.BOT_STARTED, actor=trader, owner=trader, bot_id=7)
    audit_record(action=A.BOT_STOPPED, actor=trader, owner=trader, bot_id=7)
    theirs = audit_record(action=A.BOT_STARTED, actor=other_trader, owner=other_trader,
                          client_order_id="ts-not-yours")

    page = owner.get("/audit/")
    filtered = owner.get("/audit/", {"action": A.BOT_STOPPED})

    assert page.status_code == 200
    shown = [event.pk for event in page.context["page"]]
    assert theirs.pk not in shown
    assert "ts-not-yours" not in page.content.decode()
    assert {e.action for e in filtered.context["page"]} == {A.BOT_STOPPED}
    assert 'href="/audit/">Audit</a>' in page.content.decode()


def test_the_api_lists_own_rows_and_staff_see_all(owner, trader, other_trader, staff):
    mine = audit_record(action=A.ORDER_SENT, actor=staff, owner=trader, order_id=1)
    theirs = audit_record(action=A.ORDER_SENT, actor=other_trader, owner=other_trader)
    audit_record(action=A.LIMIT_CREATED, actor=staff)

    listed = owner.get("/api/audit/", {"action": A.ORDER_SENT}).json()["results"]
    assert [row["id"] for row in listed] == [mine.pk]
    assert listed[0]["ip"] is None  # a staff member's IP is not the trader's to read
    assert owner.get(f"/api/audit/{theirs.pk}/").status_code == 404
    assert owner.post("/api/audit/", {"action": "login"}).status_code == 405
    assert owner.delete(f"/api/audit/{mine.pk}/").status_code == 405
    owner.force_login(staff)
    assert owner.get("/api/audit/").json()["count"] == AuditEvent.objects.count()


# --- PostgreSQL: the database itself refuses -----------------------------------------------------

@pytest.mark.skipif(not ON_POSTGRESQL, reason="the trigger exists on PostgreSQL only")
def test_the_postgresql_trigger_refuses_update_and_delete_but_not_set_null(trader):
    row = audit_record(action=A.LOGIN, actor=trader, owner=trader)

    for sql in ("UPDATE tradingsite_auditevent SET exchange_code = 'x' WHERE id = %s",
                "UPDATE tradingsite_auditevent SET actor_id = NULL, task = 'x' WHERE id = %s",
                "DELETE FROM tradingsite_auditevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), \
                connection.cursor() as cursor:
            cursor.execute(sql, [row.pk])

    trader.delete()  # Django's ON DELETE SET NULL: the one change allowed
    assert only(A.LOGIN).actor_name == "trader"
    assert only(A.LOGIN).actor_id is None
    # This test's database is emptied with TRUNCATE afterwards, which the trigger lets through.


@pytest.mark.skipif(not ON_POSTGRESQL, reason="the trigger exists on PostgreSQL only")
def test_the_trigger_test_left_an_empty_log_behind_after_the_flush():
    assert not AuditEvent.objects.exists()


@pytest.mark.skipif(ON_POSTGRESQL, reason="SQLite only")
def test_sqlite_has_no_trigger_only_the_model_guards():
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        assert not [n for (n,) in cursor.fetchall() if "auditevent" in n]


def test_the_stored_row_is_valid_json():
    row = audit_record(action=A.LOGIN, detail={"amount": D("1.10"), "nested": {"a": [1]}})

    assert json.loads(serializers.serialize("json", [row]))[0]["fields"]["detail"] == {
        "amount": "1.10", "nested": {"a": [1]}}
