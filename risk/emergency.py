"""The emergency stop: block entries, pause the bots, cancel every open order and (when asked)
close the positions at market, recording each step for the audit.

Safe to run twice or at once: the block is unique among active ones, a bot that is no longer
running is left as it is, a second cancel of a cancelled order comes back as "unknown order" and
is settled by a query, and a close order is claimed under the portfolio's lock (at most one
open "emergency_close" order per symbol). It works while Binance is failing: cancels are retried
with backoff until the deadline, and what is still open then is reported with the last error,
for `emergency_stops_continue` (the beat) to finish.

Orders whose placement is in doubt (SUBMITTING, UNKNOWN) are asked about, never sent again.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from bots.models import Bot
from bots.services import BotRefused, bot_pause
from marketdata import live
from marketdata.exchange.errors import ExchangeError, RateLimited
from marketdata.exchange.filters import format_decimal, round_quantity, unsellable
from marketdata.symbol_rules import rules_for
from orders.models import Order, OrderStatus, Position
from orders.services import (
    OrderRefused,
    gateway_for,
    order_cancel,
    order_create,
    order_resolve,
    order_submit,
)
from portfolios.models import Portfolio
from risk.models import EmergencyStop, EmergencyStopStep, EntryBlock
from risk.services import lock_portfolio
from tradingsite import audit

logger = logging.getLogger(__name__)
S = OrderStatus
Step = EmergencyStopStep
ZERO = Decimal(0)

CLOSE_TAG = "emergency_close"
VIA = ("dashboard", "admin", "api", "command", "monitor")
# Who placed a close order, as Order.source has it (it has no "risk" source of its own).
CLOSE_SOURCE = {"api": Order.Source.API, "admin": Order.Source.ADMIN,
                "command": Order.Source.ADMIN}
# Backoff between rounds of retries: doubling from the first delay, capped.
RETRY_FIRST_SECONDS = 0.25
RETRY_MAX_SECONDS = 2.0
IN_DOUBT = (S.SUBMITTING, S.UNKNOWN)


# --- words -----------------------------------------------------------------------------------

def order_words(order: Order) -> str:
    """"BTCUSDT BUY LIMIT 0.01 @ 20000 (ts-...)": what a trader recognises on the exchange."""
    if order.quantity is not None:
        amount = format_decimal(order.quantity)
    else:
        rules = rules_for(order.market, order.symbol)
        amount = (f"for {format_decimal(order.quote_quantity)} "
                  f"{rules.quote_asset if rules else 'quote'}")
    price = f" @ {format_decimal(order.price)}" if order.price is not None else ""
    return f"{order.symbol} {order.side} {order.type} {amount}{price} ({order.client_order_id})"


def _portfolio_words(portfolio: Portfolio) -> str:
    return f"portfolio {portfolio.name} (#{portfolio.pk})"


def _who(user) -> str:
    return user.get_username() if user is not None else "the system"


def _ended(order: Order) -> str:
    """How an order that is no longer open ended, in words."""
    if order.tag == CLOSE_TAG:
        return _close_ended(order)
    filled = (f"; {format_decimal(order.executed_qty)} had filled"
              if order.executed_qty else "")
    if order.status == S.FILLED:
        return f"filled ({format_decimal(order.executed_qty)}) before the cancel reached it"
    if order.status == S.CANCELED:
        return f"cancelled{filled}"
    reason = f": {order.reason}" if order.reason else ""
    return f"{order.get_status_display()}{reason}{filled}"


def _close_ended(order: Order) -> str:
    traded = ""
    if order.executed_qty:
        traded = (f"{'sold' if order.side == Order.Side.SELL else 'bought'} "
                  f"{format_decimal(order.executed_qty)} at market, average price "
                  f"{format_decimal(order.average_price.quantize(Decimal('0.00000001')))}")
    if order.status == S.FILLED:
        return traded
    reason = f": {order.reason}" if order.reason else ""
    ended = f"{order.get_status_display()}{reason}"
    return f"{traded}, then {ended}" if traded else ended


def _end_outcome(order: Order) -> str:
    """A cancel is done however the order ended; a close only when it filled."""
    if order.tag == CLOSE_TAG and order.status != S.FILLED:
        return Step.Outcome.FAILED
    return Step.Outcome.DONE


# --- one run: the deadline and the gateways ----------------------------------------------------

class _Witness:
    """A portfolio's gateway that remembers each order's last exchange error. order_cancel and
    order_resolve leave a failed call to the reconciler without saying why; the stop's report
    must say why an order is still open."""

    def __init__(self, gateway):
        self._gateway = gateway
        self.errors: dict[str, ExchangeError] = {}

    def __getattr__(self, name):
        return getattr(self._gateway, name)

    def place(self, order):
        return self._watch("place", order)

    def query(self, order):
        return self._watch("query", order)

    def cancel(self, order):
        return self._watch("cancel", order)

    def _watch(self, call: str, order):
        try:
            answer = getattr(self._gateway, call)(order)
        except ExchangeError as error:
            self.errors[order.client_order_id] = error
            raise
        self.errors.pop(order.client_order_id, None)
        return answer


class _Run:
    """One pass of a stop over its orders: the deadline, backoff, one gateway per portfolio."""

    def __init__(self, stop: EmergencyStop, deadline_seconds: float, *,
                 continuing: bool = False):
        self.stop, self.continuing = stop, continuing
        self.deadline = time.monotonic() + max(deadline_seconds, 0.0)
        self.rounds = 0
        self._gateways: dict[int, _Witness] = {}

    def gateway(self, portfolio: Portfolio) -> _Witness:
        if portfolio.pk not in self._gateways:
            self._gateways[portfolio.pk] = _Witness(gateway_for(portfolio))
        return self._gateways[portfolio.pk]

    def error(self, order: Order) -> ExchangeError | None:
        witness = self._gateways.get(order.portfolio_id)
        return witness.errors.get(order.client_order_id) if witness else None

    def why_open(self, order: Order) -> str:
        error = self.error(order)
        if order.status in IN_DOUBT:
            last = f" (last answer: {error})" if error else ""
            return f"its placement's outcome is still unknown{last}"
        return str(error) if error else f"still {order.get_status_display()}"

    def backoff(self, pending: list[Order]) -> bool:
        """Wait before the next round of retries; False once the deadline has passed (the
        round under way when it passes still finishes)."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            return False
        delay = min(RETRY_FIRST_SECONDS * 2 ** self.rounds, RETRY_MAX_SECONDS)
        waits = [e.retry_after for e in map(self.error, pending) if isinstance(e, RateLimited)]
        self.rounds += 1
        time.sleep(min(max([delay, *waits]), left))
        return True

    def record(self, kind: str, target: str, outcome: str, detail: str = "",
               order: Order | None = None) -> Step | None:
        if self.continuing and not self._news(outcome, detail, order):
            return None
        logger.info("emergency stop #%s: %s %s: %s %s", self.stop.pk, kind, target, outcome,
                    detail)
        return Step.objects.create(stop=self.stop, kind=kind, target=target[:200],
                                   outcome=outcome, detail=detail[:500], order=order)

    def _news(self, outcome: str, detail: str, order: Order | None) -> bool:
        """Whether a continuation's step says something new: the beat retries every minute,
        and an order failing the same way each time needs one step, not one a minute."""
        if outcome == Step.Outcome.RETRYING:
            return False  # its STILL_OPEN step already says it is being retried
        last = self.stop.steps.filter(order=order).order_by("at", "pk").last()
        return last is None or (last.outcome, last.detail) != (outcome, detail[:500])


# --- the stop --------------------------------------------------------------------------------

def emergency_stop(*, portfolios: Iterable[Portfolio] | None = None, requested_by=None,
                   via: str, close_positions: bool = False,
                   deadline_seconds: float = 20.0) -> EmergencyStop:
    """Stop trading on ``portfolios`` (None: every active one) and record what became of each
    bot, order and position. Returns the stop, DONE or INCOMPLETE (orders still open)."""
    chosen = _scope(portfolios)
    stop = EmergencyStop.objects.create(
        requested_by=requested_by, requested_via=_checked_via(via),
        portfolio=chosen[0] if portfolios is not None and len(chosen) == 1 else None,
        scope=_scope_words(chosen, everything=portfolios is None),
        close_positions=close_positions)
    audit.record_emergency_stop(stop, chosen)
    run = _Run(stop, deadline_seconds)
    reason = f"emergency stop #{stop.pk} by {_who(requested_by)} via {via}"
    for portfolio in chosen:  # entries first: nothing new may start while the rest happens
        _block_entries(run, portfolio, reason)
    for portfolio in chosen:
        _pause_bots(run, portfolio, reason)
    orders = (Order.objects.filter(portfolio__in=chosen).open().exclude(tag=CLOSE_TAG)
              .select_related("portfolio").order_by("pk"))
    still_open = _cancel_orders(run, list(orders))
    if close_positions:
        still_open += _close_positions(run, chosen, still_open)
    return _finish(run, still_open)


def _checked_via(via: str) -> str:
    if via not in VIA:
        raise ValueError(f"via must be one of {', '.join(VIA)}, not {via!r}")
    return via


def _scope(portfolios: Iterable[Portfolio] | None) -> list[Portfolio]:
    if portfolios is None:
        return list(Portfolio.objects.filter(active=True).order_by("pk"))
    chosen = sorted({p.pk: p for p in portfolios}.values(), key=lambda p: p.pk)
    if not chosen:
        raise ValueError("no portfolio to stop: pass portfolios=None to stop them all")
    return chosen


def _scope_words(chosen: list[Portfolio], *, everything: bool) -> str:
    if everything:
        return f"every active portfolio ({len(chosen)})"
    words = ", ".join(f"{p.name} (#{p.pk})" for p in chosen)
    return f"portfolio {words}" if len(chosen) == 1 else f"portfolios {words}"[:200]


def _block_entries(run: _Run, portfolio: Portfolio, reason: str) -> None:
    """The block is created holding the portfolio's row: an order being created right now
    (which holds it too) is either in the books before the block or refused by it."""
    source = EntryBlock.Source.EMERGENCY_STOP
    target = _portfolio_words(portfolio)
    try:
        with transaction.atomic():
            lock_portfolio(portfolio.pk)
            block, created = EntryBlock.objects.active().get_or_create(
                portfolio=portfolio, symbol="", source=source, defaults={"reason": reason})
    except IntegrityError:  # a concurrent stop's block won the unique constraint
        block = EntryBlock.objects.active().get(portfolio=portfolio, symbol="", source=source)
        created = False
    if created:
        run.record(Step.Kind.BLOCK_ENTRIES, target, Step.Outcome.DONE, reason)
    else:
        run.record(Step.Kind.BLOCK_ENTRIES, target, Step.Outcome.ALREADY,
                   f"already blocked since {block.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}"
                   f" UTC: {block.reason}")


def _pause_bots(run: _Run, portfolio: Portfolio, reason: str) -> None:
    for bot in Bot.objects.filter(portfolio=portfolio).order_by("pk"):
        target = f"bot {bot.name} ({bot.strategy} on {bot.symbol} {bot.interval})"
        try:
            bot_pause(bot=bot, reason=reason)
        except BotRefused:  # not running (or no longer: stopped or paused meanwhile)
            run.record(Step.Kind.PAUSE_BOT, target, Step.Outcome.ALREADY,
                       f"not running: {bot.get_status_display()}")
        else:
            run.record(Step.Kind.PAUSE_BOT, target, Step.Outcome.DONE, "paused")


# --- cancelling ------------------------------------------------------------------------------

def _kind(order: Order) -> str:
    return Step.Kind.CLOSE_POSITION if order.tag == CLOSE_TAG else Step.Kind.CANCEL_ORDER


def _cancel_orders(run: _Run, orders: list[Order]) -> list[Order]:
    """Cancel each order, retrying in rounds with backoff until the deadline. Records one step
    per order that ended, one RETRYING step at its first failure and one STILL_OPEN step for
    each order left open at the deadline, which is returned."""
    pending = []
    for order in orders:
        if order.is_terminal:
            run.record(_kind(order), order_words(order), Step.Outcome.ALREADY,
                       f"already {_ended(order)}", order)
        else:
            pending.append(order)
    warned: set[int] = set()
    while pending:
        pending = [order for order in pending if not _cancelled(run, order, warned)]
        if not pending or not run.backoff(pending):
            break
    for order in pending:
        run.record(_kind(order), order_words(order), Step.Outcome.STILL_OPEN,
                   run.why_open(order), order)
    return pending


def _cancelled(run: _Run, order: Order, warned: set[int]) -> bool:
    """One attempt at ending an order; True when it is no longer open."""
    # A failure is kept by the witness for the report; the next round tries again.
    with contextlib.suppress(ExchangeError):
        _cancel_once(order, run.gateway(order.portfolio))
    order.refresh_from_db()
    if order.is_terminal:
        run.record(_kind(order), order_words(order), _end_outcome(order), _ended(order), order)
        return True
    if order.pk not in warned:
        warned.add(order.pk)
        run.record(_kind(order), order_words(order), Step.Outcome.RETRYING,
                   run.why_open(order), order)
    return False


def _cancel_once(order: Order, gateway) -> None:
    """An order in doubt is asked about first (never sent again) and cancelled only once the
    exchange has it open. A CREATED one is cancelled before it is sent: order_cancel's
    conditional UPDATE and order_submit's claim cannot both win. A close order is never
    cancelled: it is settled (sent if nothing reached the exchange, else asked about)."""
    order.refresh_from_db()
    if order.tag == CLOSE_TAG:
        _settle_close(order, gateway)
        return
    if order.status in IN_DOUBT:
        order_resolve(order=order, gateway=gateway)
        if order.status in IN_DOUBT or order.is_terminal:
            return
    order_cancel(order=order, gateway=gateway)


# --- closing positions -------------------------------------------------------------------------

def _close_positions(run: _Run, chosen: list[Portfolio], still_open: list[Order]) -> list[Order]:
    """One MARKET order reducing each open position; returns the close orders left open."""
    waiting = Counter((o.portfolio_id, o.market, o.symbol) for o in still_open)
    positions = (Position.objects.filter(portfolio__in=chosen).exclude(quantity=0)
                 .select_related("portfolio").order_by("portfolio_id", "pk"))
    closes = []
    for position in positions:
        open_orders = waiting[(position.portfolio_id, position.market, position.symbol)]
        if open_orders:
            # What is still open could fill after the close and leave a position behind.
            run.record(Step.Kind.CLOSE_POSITION, _position_words(position), Step.Outcome.FAILED,
                       f"not closed: {open_orders} order(s) on {position.symbol} are still "
                       "open; close it once they are cancelled")
            continue
        order = _claim_close(run, position)
        if order is not None:
            closes.append(order)
    return _cancel_orders(run, closes)  # for close orders this sends and settles them


def _position_words(position: Position) -> str:
    return f"{position.market} {position.symbol} position in {_portfolio_words(position.portfolio)}"


def _claim_close(run: _Run, position: Position) -> Order | None:
    """Create the close order unless one is open already, holding the portfolio's row: two
    stops at once see each other's claim and send one close, not two."""
    target = _position_words(position)
    try:
        with transaction.atomic():
            lock_portfolio(position.portfolio_id)
            position.refresh_from_db()
            skip = _no_close_needed(position)
            if skip:
                run.record(Step.Kind.CLOSE_POSITION, target, Step.Outcome.ALREADY, skip)
                return None
            order = order_create(portfolio=position.portfolio, symbol=position.symbol,
                                 market=position.market, order_type=Order.Type.MARKET,
                                 tag=CLOSE_TAG, **_close_fields(run, position))
    except OrderRefused as refused:
        run.record(Step.Kind.CLOSE_POSITION, target, Step.Outcome.FAILED, f"not closed: {refused}")
        return None
    return order


def _no_close_needed(position: Position) -> str:
    """Why no close order is needed (flat, one already open, or dust), else ""."""
    if not position.quantity:
        return "already flat (closed meanwhile)"
    existing = (Order.objects.filter(portfolio_id=position.portfolio_id, market=position.market,
                                     symbol=position.symbol, tag=CLOSE_TAG).open().first())
    if existing is not None:
        return f"a close order is already open: {order_words(existing)}"
    rules = rules_for(position.market, position.symbol)
    return _dust(rules, position) if rules is not None else ""


def _close_fields(run: _Run, position: Position) -> dict:
    """Spot sells what is held, rounded down to the step; futures reduces only, whatever the
    side. The position's market must be its portfolio's (order_create says so otherwise)."""
    rules = rules_for(position.market, position.symbol)
    if rules is None:
        raise OrderRefused(f"{position.symbol} is not a known {position.market} symbol")
    side = Order.Side.SELL if position.quantity > 0 else Order.Side.BUY
    return {"side": side, "reduce_only": position.market == "futures",
            "quantity": round_quantity(rules, abs(position.quantity), market=True),
            "source": CLOSE_SOURCE.get(run.stop.requested_via, Order.Source.MANUAL)}


def _dust(rules, position: Position) -> str:
    """What is held but cannot be sold, in words; "" when it can be."""
    price = live.last_price(position.market, position.symbol) or position.average_entry
    why = unsellable(rules, position.quantity, price=price,
                     futures=position.market == "futures")
    return f"{why.replace('dust: ', 'dust, not sent: ', 1)}" if why else ""


def _settle_close(order: Order, gateway) -> None:
    """A close order not sent yet is sent (its claim makes that happen once: a 429 or an open
    circuit put it back to CREATED, nothing having reached the exchange); one in doubt or
    resting is asked about."""
    if order.status == S.CREATED:
        order_submit(order=order, gateway=gateway)
    else:
        order_resolve(order=order, gateway=gateway)


# --- finishing ---------------------------------------------------------------------------------

def _finish(run: _Run, still_open: list[Order]) -> EmergencyStop:
    stop = run.stop
    for order in still_open:
        order.refresh_from_db()
    left = [order for order in still_open if not order.is_terminal]
    status = EmergencyStop.Status.INCOMPLETE if left else EmergencyStop.Status.DONE
    summary = _summary(run, left)
    finished = EmergencyStop.objects.filter(pk=stop.pk)
    if left:  # a concurrent continuation that finished the job is not undone
        finished = finished.exclude(status=EmergencyStop.Status.DONE)
    finished.update(status=status, summary=summary, finished_at=timezone.now())
    stop.refresh_from_db()
    logger.warning("emergency stop #%s of %s: %s", stop.pk, stop.scope, stop.summary)
    return stop


def _summary(run: _Run, left: list[Order]) -> str:
    if left:
        listed = "; ".join(f"{order_words(o)}: {run.why_open(o)}" for o in left)
        plural = "order" if len(left) == 1 else "orders"
        return f"{len(left)} {plural} still open: {listed}"
    counts = Counter((step.kind, step.outcome) for step in run.stop.steps.all())
    done, failed = Step.Outcome.DONE, Step.Outcome.FAILED
    blocked = counts[(Step.Kind.BLOCK_ENTRIES, done)] + counts[(Step.Kind.BLOCK_ENTRIES,
                                                                Step.Outcome.ALREADY)]
    parts = [f"entries blocked on {blocked} portfolio(s)",
             f"{counts[(Step.Kind.PAUSE_BOT, done)]} bot(s) paused",
             f"{counts[(Step.Kind.CANCEL_ORDER, done)]} order(s) cancelled or settled",
             f"{counts[(Step.Kind.CLOSE_POSITION, done)]} position(s) closed"]
    if counts[(Step.Kind.CLOSE_POSITION, failed)]:
        parts.append(f"{counts[(Step.Kind.CLOSE_POSITION, failed)]} position(s) NOT closed "
                     "(see the steps)")
    return "nothing left open: " + ", ".join(parts)


# --- afterwards --------------------------------------------------------------------------------

def emergency_stops_continue(*, deadline_seconds: float = 10.0) -> int:
    """Retry the orders INCOMPLETE stops left open (the beat calls this every minute); a stop
    turns DONE once they are all closed. Returns how many stops it turned DONE."""
    finished = 0
    for stop in EmergencyStop.objects.filter(status=EmergencyStop.Status.INCOMPLETE).order_by("pk"):
        run = _Run(stop, deadline_seconds, continuing=True)
        still_open = _cancel_orders(run, _left_open(stop))
        finished += _finish(run, still_open).status == EmergencyStop.Status.DONE
    return finished


def _left_open(stop: EmergencyStop) -> list[Order]:
    """The orders whose latest step says STILL_OPEN."""
    latest: dict[int, str] = {}
    for order_id, outcome in stop.steps.filter(order__isnull=False).order_by(
            "at", "pk").values_list("order_id", "outcome"):
        latest[order_id] = outcome
    ids = [pk for pk, outcome in latest.items() if outcome == Step.Outcome.STILL_OPEN]
    return list(Order.objects.filter(pk__in=ids).select_related("portfolio").order_by("pk"))


def entries_resume(*, portfolio: Portfolio, by) -> int:
    """Lift the emergency stop's entry block on a portfolio. The bots stay paused: a human
    resumes each one. Returns how many blocks were cleared (0 or 1)."""
    cleared = (EntryBlock.objects.active()
               .filter(portfolio=portfolio, source=EntryBlock.Source.EMERGENCY_STOP)
               .update(cleared_at=timezone.now(), cleared_by=by))
    audit.record_entries_resumed(portfolio, by=by, cleared=cleared)
    return cleared
