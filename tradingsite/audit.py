"""Writing the audit log: `audit_record`, and one-line helpers the services call.

Who acted: the request's user and IP, found through a context variable the middleware sets for
each request (so services record their actor without taking a request argument); without a
request, the Celery task's name, or the source a caller declared (`audit_source("stream")`).

Two rules hold for every row:
- It is written in the caller's transaction, in a savepoint: it commits with the action or rolls
  back with it (a paper order that is rolled back never logs "sent"), and no crash between a
  commit and an on_commit callback can lose it.
- A failure to write it never fails the action. Refusing a cancel, an exit or an emergency stop
  because an audit insert failed would leave money at risk, which is worse than a gap; a gap is
  logged at ERROR as "AUDIT GAP" with what was not recorded, for the alerting to pick up.
"""

import contextlib
import functools
import ipaddress
import logging
import re
import sys
from contextvars import ContextVar
from datetime import date, datetime
from decimal import Decimal

from celery import current_task
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet

from tradingsite import logs
from tradingsite.models import AuditEvent

logger = logging.getLogger(__name__)
Action = AuditEvent.Action

# The request an action is recorded for: by default the one being handled (tradingsite.logs'
# middleware holds it); audit_context may name another, or none.
_UNSET = object()
_request: ContextVar = ContextVar("audit_request", default=_UNSET)
_source: ContextVar[str] = ContextVar("audit_source", default="")

SECRET_KEY_NAMES = re.compile(r"secret|password|token|signature|api_?key", re.IGNORECASE)
SECRET_IN_TEXT = re.compile(r"(secret|password|token|signature|api_?key)=[^&\s]+",
                            re.IGNORECASE)
MAX_TEXT = 500  # the detail stays small: a reason or an error, not a payload


# --- where an action comes from ----------------------------------------------------------------

@contextlib.contextmanager
def audit_context(*, request=None, source: str = ""):
    """Act as `request` (a page or API request handled elsewhere) and/or from `source`."""
    tokens = (_request.set(request), _source.set(source))
    try:
        yield
    finally:
        _request.reset(tokens[0])
        _source.reset(tokens[1])


def audit_source(source: str):
    """Decorator: what the function records comes from `source` ("stream")."""
    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            token = _source.set(source)
            try:
                return function(*args, **kwargs)
            finally:
                _source.reset(token)
        return wrapper
    return decorate


def _user_of(request):
    user = getattr(request, "user", None)
    return user if getattr(user, "is_authenticated", False) else None


def _ip_of(request) -> str | None:
    address = getattr(request, "META", {}).get("REMOTE_ADDR") or ""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _task_of(request) -> str:
    if _source.get():
        return _source.get()
    if current_task:
        return current_task.name or ""
    if request is None and len(sys.argv) > 1 and sys.argv[0].endswith("manage.py"):
        return f"manage.py {sys.argv[1]}"  # a management command (emergency_stop, ...)
    return ""


# --- what is kept ------------------------------------------------------------------------------

def scrub(value):
    """The detail without secrets: keys naming one are dropped, `secret=...` in text masked,
    long text cut, anything unusual turned into text."""
    if isinstance(value, dict):
        return {str(key): scrub(item) for key, item in value.items()
                if not SECRET_KEY_NAMES.search(str(key))}
    if isinstance(value, list | tuple | set):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        return SECRET_IN_TEXT.sub(lambda m: f"{m.group(1)}=***", value)[:MAX_TEXT]
    if value is None or isinstance(value, bool | int | float | Decimal | datetime | date):
        return value
    return scrub(str(value))


def _pk(user_or_id) -> int | None:
    return getattr(user_or_id, "pk", user_or_id)


def _bound_request():
    named = _request.get()
    return logs.current_request() if named is _UNSET else named


def audit_record(*, action: str, actor=None, owner=None, request=None, task: str = "",
                 portfolio_id: int | None = None, bot_id: int | None = None,
                 order_id: int | None = None, client_order_id: str = "",
                 exchange_code: str | int | None = "",
                 detail: dict | None = None) -> AuditEvent | None:
    """Record one action; None (and an ERROR log) if it could not be recorded. `actor` and
    `owner` take a user or a user id; `actor` defaults to the request's user."""
    try:
        request = request if request is not None else _bound_request()
        actor = actor if actor is not None else _user_of(request)
        if isinstance(actor, int):
            actor = get_user_model()._default_manager.filter(pk=actor).first()
        with transaction.atomic():  # a savepoint: a failed insert leaves the caller's intact
            return AuditEvent.objects.create(
                action=action, actor=actor, actor_name=actor.get_username() if actor else "",
                owner_id=_pk(owner), ip=_ip_of(request), task=(task or _task_of(request))[:200],
                portfolio_id=portfolio_id, bot_id=bot_id, order_id=order_id,
                client_order_id=client_order_id or "",
                exchange_code=str(exchange_code if exchange_code is not None else "")[:40],
                detail=scrub(detail or {}))
    except Exception:
        logger.exception("AUDIT GAP: %s was not recorded (portfolio %s, bot %s, order %s %s)",
                         action, portfolio_id, bot_id, order_id, client_order_id)
        return None


# --- one line per hook -------------------------------------------------------------------------

def _text(value) -> str | None:
    return None if value is None else f"{value:f}"


def record_order(action: str, order, *, code: str | int | None = "", **detail) -> None:
    """An order sent, cancelled, rejected or in doubt; `code`: Binance's status or error."""
    audit_record(action=action, owner=order.portfolio.owner_id, portfolio_id=order.portfolio_id,
                 bot_id=order.bot_id, order_id=order.pk, client_order_id=order.client_order_id,
                 exchange_code=code, detail={
                     "market": order.market, "symbol": order.symbol, "side": order.side,
                     "type": order.type, "quantity": _text(order.quantity),
                     "quote_quantity": _text(order.quote_quantity), "price": _text(order.price),
                     "status": order.status, "source": order.source, **detail})


def record_order_status(order, status: str, *, code: int | None, reason: str) -> None:
    """The moves worth a row: a rejection and a send whose outcome is unknown."""
    action = {"REJECTED": Action.ORDER_REJECTED, "UNKNOWN": Action.ORDER_UNKNOWN}.get(status)
    if action is not None:
        record_order(action, order, code=code, reason=reason)


def record_fill(fill, order) -> None:
    audit_record(action=Action.FILL_BOOKED, owner=order.portfolio.owner_id,
                 portfolio_id=order.portfolio_id, bot_id=order.bot_id, order_id=order.pk,
                 client_order_id=order.client_order_id, exchange_code=fill.trade_id, detail={
                     "venue": fill.venue, "market": fill.market, "symbol": fill.symbol,
                     "side": fill.side, "trade_id": fill.trade_id, "price": _text(fill.price),
                     "quantity": _text(fill.quantity), "commission": _text(fill.commission),
                     "commission_asset": fill.commission_asset})


def record_bot(action: str, bot, *, reason: str = "") -> None:
    audit_record(action=action, owner=bot.portfolio.owner_id, portfolio_id=bot.portfolio_id,
                 bot_id=bot.pk, detail={"name": bot.name, "strategy": bot.strategy,
                                        "symbol": bot.symbol, "interval": bot.interval,
                                        "status": bot.status, "reason": reason})


def _limit_owner(limit) -> int | None:
    if limit.owner_id:
        return limit.owner_id
    if limit.portfolio_id:
        return limit.portfolio.owner_id
    return limit.bot.portfolio.owner_id if limit.bot_id else None  # None: global, staff's


def record_limit(action: str, limit, *, by, changes: dict) -> None:
    audit_record(action=action, actor=by, owner=_limit_owner(limit),
                 portfolio_id=limit.portfolio_id, bot_id=limit.bot_id,
                 detail={"limit_id": limit.pk, "scope": limit.scope_label,
                         "symbol": limit.symbol, "changes": changes})


def record_emergency_stop(stop, portfolios) -> None:
    """One row per portfolio stopped, so each owner reads the stop that hit them."""
    detail = {"stop_id": stop.pk, "via": stop.requested_via, "scope": stop.scope,
              "close_positions": stop.close_positions}
    for portfolio in portfolios or [None]:
        audit_record(action=Action.EMERGENCY_STOP, actor=stop.requested_by_id,
                     owner=portfolio.owner_id if portfolio else None,
                     portfolio_id=portfolio.pk if portfolio else None, detail=detail)


def record_entries_blocked(portfolio, *, reason: str, alert_id: int) -> None:
    """The risk monitor blocked new entries: no person acted, so the task (or stream) is the
    actor the context names."""
    audit_record(action=Action.ENTRIES_BLOCKED, owner=portfolio.owner_id,
                 portfolio_id=portfolio.pk, detail={"reason": reason, "alert_id": alert_id})


def record_entries_resumed(portfolio, *, by, cleared: int) -> None:
    if cleared:
        audit_record(action=Action.ENTRIES_RESUMED, actor=by, owner=portfolio.owner_id,
                     portfolio_id=portfolio.pk, detail={"blocks_cleared": cleared})


# --- exchange keys: every save and delete, from the API, the admin or a shell -------------------

def _key_detail(account) -> dict:
    return {"exchange_account_id": account.pk, "name": account.name, "mode": account.mode,
            "market": account.market, "key": account.masked_key}


def _credentials_changed(account, stored) -> bool:
    """A new key or secret, not the same ones re-encrypted under a new FIELD_ENCRYPTION_KEY."""
    from tradingsite import crypto

    new = (account.api_key_encrypted, account.api_secret_encrypted)
    if new == stored:
        return False
    try:
        return [crypto.decrypt(t) for t in new] != [crypto.decrypt(t) for t in stored]
    except crypto.SecretUnreadable:
        return True


def exchange_key_saving(sender, instance, raw=False, **kwargs) -> None:
    """pre_save: notes whether the key is being replaced (the row is read before it is)."""
    if raw or instance.pk is None:
        return
    stored = (sender.objects.filter(pk=instance.pk)
              .values_list("api_key_encrypted", "api_secret_encrypted", "api_key_last4").first())
    instance._audit_previous_key = None
    if stored is not None and _credentials_changed(instance, stored[:2]):
        instance._audit_previous_key = f"…{stored[2]}"


def exchange_key_saved(sender, instance, created=False, raw=False, **kwargs) -> None:
    previous = getattr(instance, "_audit_previous_key", None)
    if raw or not (created or previous):
        return
    detail = _key_detail(instance) | ({} if created else {"previous_key": previous})
    audit_record(action=Action.KEY_ADDED if created else Action.KEY_ROTATED,
                 owner=instance.owner_id, detail=detail)
    instance._audit_previous_key = None


def exchange_key_deleted(sender, instance, origin=None, **kwargs) -> None:
    # Removed because its owner is being deleted: link no one, or the row would point at a
    # user gone by the end of the transaction.
    origin_model = origin.model if isinstance(origin, QuerySet) else type(origin)
    owner_gone = origin_model is get_user_model()
    audit_record(action=Action.KEY_REMOVED, owner=None if owner_gone else instance.owner_id,
                 detail=_key_detail(instance) | {"owner_deleted": owner_gone})


# --- logins -----------------------------------------------------------------------------------

def login_succeeded(sender, request, user, **kwargs) -> None:
    audit_record(action=Action.LOGIN, actor=user, owner=user, request=request)


def login_failed(sender, credentials, request=None, **kwargs) -> None:
    """The name tried and the IP; the owner is the account it names, if any. Nothing here
    changes what the login page answers."""
    tried = str(credentials.get("username") or credentials.get("email")
                or credentials.get("login") or "")[:150]
    audit_record(action=Action.LOGIN_FAILED, owner=_account_named(tried), request=request,
                 detail={"username": tried})


def _account_named(name: str):
    if not name:
        return None
    users = get_user_model()._default_manager.filter(Q(username__iexact=name)
                                                     | Q(email__iexact=name))[:2]
    return users[0].pk if len(users) == 1 else None
