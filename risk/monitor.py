"""The risk monitor: every portfolio against its portfolio-wide limits, on a beat, after each
equity snapshot and soon after fills.

A breach raises one RiskAlert that stays active while the breach lasts (the model's unique
constraint keeps it single even when two workers evaluate at once), acts once when raised
(warn, block new entries, pause the portfolio's bots, or an emergency stop: the strongest
`on_breach` among the limits breached), and is resolved when the breach ends. Every change
of an alert is pushed to its owner's pages and to staff; email and webhooks go out after
the commit, from a task, never from the trading path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from celery.exceptions import SoftTimeLimitExceeded
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from bots.models import Bot
from portfolios.models import Portfolio
from risk import rules
from risk.models import BreachAction, EntryBlock, RiskAlert, RiskLimit
from risk.services import account_state, lock_portfolio, portfolio_limits
from tradingsite import audit
from tradingsite.events import publish_to_group_on_commit, publish_to_user_on_commit, staff_group

logger = logging.getLogger(__name__)
ZERO = Decimal(0)
HUNDRED = Decimal(100)
ALERT_EVENT = "risk.alert"
EVALUATE_SOON_SECONDS = 5  # fills come in bursts (a sweep of the book): one evaluation each
Severity = RiskAlert.Severity
A = BreachAction
ACTION_RANK = {A.WARN: 0, A.BLOCK_ENTRIES: 1, A.PAUSE_BOTS: 2, A.EMERGENCY_STOP: 3}
BLOCKING_ACTIONS = (A.BLOCK_ENTRIES, A.PAUSE_BOTS, A.EMERGENCY_STOP)
DAILY_RULES = frozenset({"max_daily_loss", "max_daily_loss_pct"})
_num = rules._num  # the same plain numbers as the pre-trade messages


@dataclass(frozen=True)
class Breach:
    """One limit the portfolio is past: the limit's field name, how bad, the numbers."""

    rule: str
    severity: str
    message: str
    values: dict[str, str] = field(default_factory=dict)


def _values(**numbers) -> dict[str, str]:
    return {name: _num(value) if isinstance(value, Decimal) else value
            for name, value in numbers.items()}


# --- the rules (pure: a limit's value and the account in, a breach or None out) ---------------

def _daily_loss(limit: Decimal, s: rules.AccountState, quote: str) -> Breach | None:
    lost = s.day_start_equity - s.equity
    if lost <= 0 or lost < limit:
        return None
    return Breach("max_daily_loss", Severity.CRITICAL,
                  f"max daily loss is {_num(limit)} {quote}; {_num(lost)} has been lost today "
                  f"({_num(s.day_start_equity)} at 00:00 UTC, {_num(s.equity)} now)",
                  _values(limit=limit, lost=lost, day_start_equity=s.day_start_equity,
                          equity=s.equity))


def _daily_loss_pct(limit: Decimal, s: rules.AccountState, quote: str) -> Breach | None:
    lost = s.day_start_equity - s.equity
    if s.day_start_equity <= 0 or lost <= 0:
        return None
    lost_pct = lost / s.day_start_equity * HUNDRED
    if lost_pct < limit:
        return None
    return Breach("max_daily_loss_pct", Severity.CRITICAL,
                  f"max daily loss is {_num(limit)}% of the equity at 00:00 UTC "
                  f"({_num(s.day_start_equity)} {quote}); {_num(lost_pct, 2)}% ({_num(lost)}) "
                  f"has been lost today",
                  _values(limit=limit, lost_pct=lost_pct.quantize(Decimal("0.01")), lost=lost,
                          day_start_equity=s.day_start_equity, equity=s.equity))


def _drawdown(limit: Decimal, s: rules.AccountState, quote: str) -> Breach | None:
    if s.equity_peak <= 0:
        return None
    drawdown = (s.equity_peak - s.equity) / s.equity_peak * HUNDRED
    if drawdown <= limit:
        return None
    return Breach("max_drawdown_pct", Severity.CRITICAL,
                  f"max drawdown is {_num(limit)}% from the equity peak of "
                  f"{_num(s.equity_peak)} {quote}; equity is {_num(s.equity)}, "
                  f"{_num(drawdown, 2)}% below it",
                  _values(limit=limit, drawdown_pct=drawdown.quantize(Decimal("0.01")),
                          equity_peak=s.equity_peak, equity=s.equity))


def _total_exposure(limit: Decimal, s: rules.AccountState, quote: str) -> Breach | None:
    total = sum((abs(n) for n in s.positions.values()), ZERO)
    if total <= limit:
        return None
    return Breach("max_total_exposure", Severity.WARNING,
                  f"max total exposure is {_num(limit)} {quote}; {_num(total)} is open across "
                  "all symbols (positions and open entry orders)",
                  _values(limit=limit, exposure=total))


def _free_balance(limit: Decimal, s: rules.AccountState, quote: str) -> Breach | None:
    if s.free_balance >= limit:
        return None
    return Breach("min_free_balance", Severity.WARNING,
                  f"min free balance is {_num(limit)} {quote}; {_num(s.free_balance)} is free",
                  _values(limit=limit, free=s.free_balance))


def _open_positions(limit: int, s: rules.AccountState, quote: str) -> Breach | None:
    open_symbols = sorted(symbol for symbol, notional in s.positions.items() if notional)
    if len(open_symbols) <= limit:
        return None
    return Breach("max_open_positions", Severity.WARNING,
                  f"max open positions is {limit}; {len(open_symbols)} are open "
                  f"({', '.join(open_symbols)})",
                  {"limit": limit, "open": len(open_symbols), "symbols": open_symbols})


PORTFOLIO_RULES: dict[str, Callable[..., Breach | None]] = {
    "max_daily_loss": _daily_loss,
    "max_daily_loss_pct": _daily_loss_pct,
    "max_drawdown_pct": _drawdown,
    "max_total_exposure": _total_exposure,
    "min_free_balance": _free_balance,
    "max_open_positions": _open_positions,
}


def breaches(limits: rules.Limits, state: rules.AccountState, *,
             quote_asset: str = "USDT") -> list[Breach]:
    """Every portfolio-wide limit set in ``limits`` that ``state`` is past."""
    found = []
    for name, rule in PORTFOLIO_RULES.items():
        limit = getattr(limits, name)
        if limit is not None and (breach := rule(limit, state, quote_asset)) is not None:
            found.append(breach)
    return found


def breach_action(*, portfolio: Portfolio, breach: Breach, state: rules.AccountState) -> str:
    """The strongest ``on_breach`` among the limit rows whose own value of the rule is breached
    (a loose global limit that still holds does not lend its action to a tight one)."""
    rule = PORTFOLIO_RULES[breach.rule]
    rows = RiskLimit.objects.for_portfolio(portfolio).exclude(**{f"{breach.rule}__isnull": True})
    actions = [row.on_breach for row in rows
               if rule(getattr(row, breach.rule), state, portfolio.quote_asset) is not None]
    return max(actions, key=ACTION_RANK.__getitem__, default=A.WARN)


# --- evaluation --------------------------------------------------------------------------------

def portfolio_evaluate(*, portfolio: Portfolio, now: datetime | None = None) -> list[RiskAlert]:
    """Raise (and act on) an alert for each new breach, resolve those whose breach ended, and
    lift yesterday's daily-loss blocks. Returns the alerts now active for the monitored rules.
    Call it outside a transaction: each alert commits (and is announced) on its own."""
    now = now or timezone.now()
    limits = portfolio_limits(portfolio)
    found, state = [], None
    # No limit set: nothing to value. Correlation is not monitored: no returns (limits=None).
    if any(getattr(limits, name) is not None for name in PORTFOLIO_RULES):
        state = account_state(portfolio=portfolio, now=now)
        found = breaches(limits, state, quote_asset=portfolio.quote_asset)
    active = {alert.rule: alert for alert in _monitored(portfolio)}
    breached = {breach.rule for breach in found}
    for rule, alert in active.items():
        if rule not in breached:
            _resolve(alert, now)
    for breach in found:
        if breach.rule not in active:
            action = breach_action(portfolio=portfolio, breach=breach, state=state)
            risk_alert_raise(portfolio=portfolio, breach=breach, action=action)
    _lift_daily_blocks(portfolio, now)
    return list(_monitored(portfolio))


def _monitored(portfolio: Portfolio):
    return RiskAlert.objects.active().filter(portfolio=portfolio, rule__in=PORTFOLIO_RULES)


def portfolios_evaluate(*, now: datetime | None = None) -> int:
    """Evaluate every active portfolio the monitor has something to watch on; returns how many
    were evaluated."""
    evaluated = 0
    for portfolio in watched_portfolios():
        try:
            portfolio_evaluate(portfolio=portfolio, now=now)
        except SoftTimeLimitExceeded:
            raise
        except Exception:  # one portfolio's bad data must not leave the others unwatched
            logger.exception("risk monitor: could not evaluate portfolio %s", portfolio.pk)
            continue
        evaluated += 1
    return evaluated


def watched_portfolios():
    """Active portfolios with a portfolio-wide limit (their own, their owner's or a global
    one), or an active alert or breach block left to settle."""
    wide = RiskLimit.objects.filter(bot__isnull=True, symbol="")
    active = Portfolio.objects.filter(active=True).order_by("pk")
    if wide.filter(owner__isnull=True, portfolio__isnull=True).exists():
        return active  # a global limit watches everyone
    return active.filter(
        Q(owner_id__in=wide.filter(portfolio__isnull=True).values("owner_id"))
        | Q(pk__in=wide.values("portfolio_id"))
        | Q(pk__in=RiskAlert.objects.active().filter(rule__in=PORTFOLIO_RULES)
            .values("portfolio_id"))
        | Q(pk__in=EntryBlock.objects.active().filter(source=EntryBlock.Source.BREACH)
            .values("portfolio_id")))


def evaluate_soon(portfolio_id: int) -> bool:
    """After a fill: evaluate the portfolio once the transaction commits, at most once every
    few seconds (a burst of fills, one evaluation, which runs after the burst so it sees it
    all). Returns whether an evaluation was queued."""
    if not cache.add(f"risk:evaluate-soon:{portfolio_id}", 1, timeout=EVALUATE_SOON_SECONDS):
        return False
    from risk.tasks import portfolio_evaluate_task  # risk.tasks imports this module

    transaction.on_commit(lambda: portfolio_evaluate_task.apply_async(
        (portfolio_id,), countdown=EVALUATE_SOON_SECONDS))
    return True


# --- alerts --------------------------------------------------------------------------------

def risk_alert_raise(*, portfolio: Portfolio, breach: Breach,
                     action: str = A.WARN) -> RiskAlert | None:
    """Record a breach and act on it, or None when an alert for the rule is already active
    (another worker raised it a moment ago, and acted)."""
    blocks = ACTION_RANK[action] >= ACTION_RANK[A.BLOCK_ENTRIES]
    with transaction.atomic():
        if blocks:
            # Like order_create, under the portfolio's lock: an order being admitted right now
            # is either in the books before the block or refused by it.
            lock_portfolio(portfolio.pk)
        try:
            with transaction.atomic():
                alert = RiskAlert.objects.create(
                    owner_id=portfolio.owner_id, portfolio=portfolio, severity=breach.severity,
                    rule=breach.rule, message=breach.message, values=breach.values,
                    action_taken=action)
        except IntegrityError:  # risk_alert_one_active_per_rule
            return None
        if blocks and _block_entries(portfolio, alert.message):
            audit.record_entries_blocked(portfolio, reason=alert.message, alert_id=alert.pk)
        _act_after_commit(alert, portfolio)
        _announce(alert)
        _notify_later(alert)
    logger.warning("risk alert on portfolio %s: %s (%s)", portfolio.pk, alert.message, action)
    return alert


def _resolve(alert: RiskAlert, now: datetime) -> bool:
    if not RiskAlert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
            resolved_at=now):
        return False  # another worker resolved it
    alert.resolved_at = now
    _announce(alert)
    return True


def risk_alert_acknowledge(*, alert: RiskAlert, by) -> RiskAlert:
    """Mark the alert seen by ``by`` (its owner or staff). A second acknowledgement keeps the
    first's who and when."""
    _require_owner_or_staff(by, alert.owner_id)
    if RiskAlert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now(), acknowledged_by=by):
        alert.refresh_from_db()
        _announce(alert)
    else:
        alert.refresh_from_db()
    return alert


def _require_owner_or_staff(user, owner_id: int) -> None:
    if user.pk != owner_id and not user.is_staff:
        raise PermissionDenied("only the owner or staff can do this")


def _announce(alert: RiskAlert) -> None:
    """To the owner's pages and to staff's, once committed."""
    data = alert.as_event()
    publish_to_user_on_commit(user_id=alert.owner_id, event_type=ALERT_EVENT, data=data)
    publish_to_group_on_commit(group=staff_group(), event_type=ALERT_EVENT, data=data)


def _notify_later(alert: RiskAlert) -> None:
    from risk.tasks import risk_alert_notify_task  # risk.tasks imports this module

    alert_id = alert.pk
    transaction.on_commit(lambda: risk_alert_notify_task.delay(alert_id), robust=True)


# --- actions -------------------------------------------------------------------------------

def _act_after_commit(alert: RiskAlert, portfolio: Portfolio) -> None:
    """Bots are paused, and the emergency stop runs, once the alert and its block committed:
    a tick locks its bot, then the portfolio, so pausing bots while holding the portfolio
    would deadlock with one; and the stop calls Binance, never under a lock. (An emergency
    stop breach blocks entries itself too, so they stay blocked should the stop fail.)"""
    if alert.action_taken == A.PAUSE_BOTS:
        reason = f"risk: {alert.message}"
        transaction.on_commit(lambda: _pause_bots(portfolio, reason), robust=True)
    elif alert.action_taken == A.EMERGENCY_STOP:
        transaction.on_commit(lambda: _emergency_stop(portfolio), robust=True)


def _block_entries(portfolio: Portfolio, reason: str) -> bool:
    """Whether this breach blocked entries (False: another breach already blocks them)."""
    try:
        with transaction.atomic():
            EntryBlock.objects.create(portfolio=portfolio, symbol="",
                                      source=EntryBlock.Source.BREACH, reason=reason[:500])
    except IntegrityError:  # entry_block_one_active
        return False
    return True


def _pause_bots(portfolio: Portfolio, reason: str) -> None:
    from bots.services import BotRefused, bot_pause  # bots.services imports orders.services

    for bot in Bot.objects.running().filter(portfolio=portfolio).order_by("pk"):
        with suppress(BotRefused):  # paused or stopped meanwhile: nothing left to pause
            bot_pause(bot=bot, reason=reason)


def _emergency_stop(portfolio: Portfolio) -> None:
    from risk.emergency import emergency_stop  # it brings in the order gateways

    emergency_stop(portfolios=[portfolio], via="monitor")


# --- entry blocks ----------------------------------------------------------------------------

def entry_block_clear(*, block: EntryBlock, by=None) -> EntryBlock:
    """Let entries through again (``by`` None: the monitor itself). Clearing twice keeps the
    first's who and when."""
    if by is not None:
        _require_owner_or_staff(by, block.portfolio.owner_id)
    EntryBlock.objects.filter(pk=block.pk, cleared_at__isnull=True).update(
        cleared_at=timezone.now(), cleared_by=by)
    block.refresh_from_db()
    return block


def _lift_daily_blocks(portfolio: Portfolio, now: datetime) -> None:
    """A breach block raised before today (UTC) goes by itself when only daily-loss alerts
    stood behind it and all of them have ended: a new day, a new loss budget. Any other
    breach leaves its block for a human to clear."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    blocks = EntryBlock.objects.active().filter(portfolio=portfolio, symbol="",
                                               source=EntryBlock.Source.BREACH,
                                               created_at__lt=midnight)
    for block in blocks:
        # The blocking alerts that were active at some point while the block stood.
        behind = RiskAlert.objects.filter(
            Q(resolved_at__isnull=True) | Q(resolved_at__gte=block.created_at),
            portfolio=portfolio, action_taken__in=BLOCKING_ACTIONS)
        if (behind.exists() and not behind.exclude(rule__in=DAILY_RULES).exists()
                and not behind.filter(resolved_at__isnull=True).exists()):
            entry_block_clear(block=block)
            logger.info("risk monitor: lifted the daily-loss entry block on portfolio %s",
                        portfolio.pk)
