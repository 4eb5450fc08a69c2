"""Human in the loop: entries a bot proposed that wait for their owner.

A bot's entry waits (instead of being sent) when it would spend more than the bot's
``approval_above_quote`` or its strategy's confidence is below ``approval_below_confidence``.
The tick stores a TradeApproval in its own transaction; nothing is sent. Approving places the
order then, through the same filters, budget and pre-trade risk check as any order (the
moment has changed: a stale budget or a new risk block still refuses it). A waiting entry
expires after ``approval_minutes``, is withdrawn when the bot's signal turns or the bot is
stopped, and never blocks exits.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from bots import budget
from bots.models import Bot, BotDecision, TradeApproval
from marketdata.exchange.errors import ExchangeError
from orders.models import Order
from orders.services import OrderRefused, order_create, order_submit
from risk import services as risk_services
from tradingsite.events import publish_to_user_on_commit

logger = logging.getLogger(__name__)
A = TradeApproval.Status


class ApprovalRefused(Exception):
    """The approval cannot be carried out now; the message says why, in words."""


def waits_because(bot: Bot, *, amount: Decimal, confidence: float | None) -> str:
    """Why an entry of ``amount`` quote at ``confidence`` must wait ("" when it need not)."""
    reasons = []
    if bot.approval_above_quote is not None and amount > bot.approval_above_quote:
        reasons.append(f"it spends {amount:.2f}, above the bot's approval threshold "
                       f"{bot.approval_above_quote:.2f}")
    below = bot.approval_below_confidence
    if below is not None and confidence is not None and confidence < below:
        reasons.append(f"its confidence {confidence:.2f} is below the bot's approval "
                       f"threshold {below:.2f}")
    return "; ".join(reasons)


def approval_queue(*, bot: Bot, decision: BotDecision, fields: dict, amount: Decimal,
                   tag: str, reason: str, why: str, confidence: float | None,
                   analysis_id: int | None, now: datetime) -> TradeApproval:
    """Store the entry the tick would have sent (inside the tick's transaction)."""
    approval = TradeApproval.objects.create(
        bot=bot, decision=decision, side=fields["side"].lower(),
        order_type=fields["order_type"].lower(), tag=tag, quote_amount=amount,
        price=fields.get("price"), confidence=confidence, reason=reason,
        waits_because=why[:300], analysis_id=analysis_id,
        expires_at=now + timedelta(minutes=bot.approval_minutes))
    _announce(approval)
    return approval


def pending_entry(bot: Bot) -> TradeApproval | None:
    return TradeApproval.objects.filter(bot=bot).pending().first()


def approvals_withdraw(*, bot: Bot, because: str) -> int:
    """The bot's waiting entries no longer stand (its signal turned, it was stopped)."""
    return _close_pending(TradeApproval.objects.filter(bot=bot).pending(), A.WITHDRAWN,
                          because)


def approvals_expire(*, now: datetime | None = None) -> int:
    """Expire every waiting entry past its time (beat, every minute; approving one that is
    due expires it too)."""
    now = now or timezone.now()
    return _close_pending(TradeApproval.objects.due(now), A.EXPIRED,
                          "nobody approved it in time")


def _close_pending(approvals, status: str, because: str) -> int:
    closed = 0
    for approval in approvals.select_related("bot__portfolio"):
        # Conditional: an approval being approved this instant keeps its own outcome.
        if TradeApproval.objects.filter(pk=approval.pk, status=A.PENDING).update(
                status=status, decided_at=timezone.now(), outcome_note=because[:500]):
            approval.status, approval.outcome_note = status, because
            _announce(approval)
            closed += 1
    return closed


def approval_reject(*, approval: TradeApproval, user) -> TradeApproval:
    with transaction.atomic():
        approval = _locked_pending(approval.pk)
        _decide(approval, A.REJECTED, user, f"rejected by {user.get_username()}")
    return approval


def approval_approve(*, approval: TradeApproval, user,
                     now: datetime | None = None) -> TradeApproval:
    """Place the waiting entry now. ApprovalRefused (it stays waiting) when the bot is not
    running or entries are paused; a refusal by the order checks ends it as refused."""
    approvals_expire(now=now)
    with transaction.atomic():
        approval = _locked_pending(approval.pk)
        _require_tradeable(approval.bot)
        try:
            order = _order_for(approval)
        except OrderRefused as refused:
            _decide(approval, A.REFUSED, user, str(refused))
            return approval
        approval.order = order
        _decide(approval, A.APPROVED, user, f"approved by {user.get_username()}")
    _send(order)
    return approval


def _locked_pending(pk: int) -> TradeApproval:
    approval = (TradeApproval.objects.select_for_update(of=("self",))
                .select_related("bot__portfolio", "decision").get(pk=pk))
    if not approval.is_pending:
        raise ApprovalRefused(f"This entry is already {approval.get_status_display()}.")
    return approval


def _require_tradeable(bot: Bot) -> None:
    from bots.services import entry_blockers  # bots.services queues approvals: no cycle

    bot.refresh_from_db(fields=["status"])
    if bot.status != Bot.Status.RUNNING:
        raise ApprovalRefused(f"The bot is {bot.status}: resume it before approving its "
                              f"entries.")
    blockers = entry_blockers(bot)
    if blockers:
        raise ApprovalRefused("Entries are paused: " + "; ".join(blockers))


def _order_for(approval: TradeApproval) -> Order:
    """The entry as an order intent, fitted into what the budget has left now."""
    bot = approval.bot
    portfolio = risk_services.lock_portfolio(bot.portfolio_id)
    room = budget.headroom(portfolio, bot.symbol)
    if room.amount <= 0:
        raise OrderRefused(f"no budget left: {room.limit} is fully committed")
    amount = min(approval.quote_amount, room.amount)
    if approval.order_type == "market":
        size = {"quote_quantity": amount}
    else:
        size = {"quantity": amount / approval.price, "price": approval.price,
                "time_in_force": "GTC"}
    return order_create(portfolio=bot.portfolio, symbol=bot.symbol, market=bot.market,
                        side=approval.side.upper(), order_type=approval.order_type.upper(),
                        source=Order.Source.BOT, bot=bot, decision=approval.decision,
                        tag=approval.tag, **size)


def _decide(approval: TradeApproval, status: str, user, note: str) -> None:
    approval.status, approval.decided_by = status, user
    approval.decided_at, approval.outcome_note = timezone.now(), note[:500]
    approval.save(update_fields=["status", "decided_by", "decided_at", "outcome_note",
                                 "order"])
    _announce(approval)


def _send(order: Order) -> None:
    try:
        order_submit(order=order)
    except ExchangeError as error:  # the order is stored: the reconciler resolves it
        logger.warning("approved order %s not sent: %s", order.client_order_id, error)


def _announce(approval: TradeApproval) -> None:
    """bot.approval: {id, bot_id, status, side, quote_amount, expires_at} to the owner."""
    data = {"id": approval.pk, "bot_id": approval.bot_id, "status": approval.status,
            "side": approval.side, "quote_amount": str(approval.quote_amount),
            "expires_at": approval.expires_at.isoformat()}
    publish_to_user_on_commit(user_id=approval.bot.portfolio.owner_id,
                              event_type="bot.approval", data=data)
