"""Order workflows: every order exactly once, whatever the exchange or the network does.

The rules (reliability.md sections 0-1):
- the order is saved with our client_order_id before anything is sent;
- exactly one caller may send it: CREATED -> SUBMITTING is a conditional UPDATE;
- an answer lost on the way back (timeout, 5xx, dropped connection, -1007) makes it UNKNOWN,
  and UNKNOWN is settled by querying with origClientOrderId, never by sending again;
- a cancel answered "unknown order" (-2011) is checked with a query before anything is recorded:
  the order may have filled meanwhile;
- fills are booked once per trade id, and an order's totals are the sum of its fills.
No network call happens inside a database transaction.
"""

import logging
from datetime import timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from marketdata import live
from marketdata.exchange.errors import (
    CircuitOpen,
    ClockSkew,
    DefiniteRejection,
    ExchangeError,
    RateLimited,
    RetryableError,
    UnknownOutcome,
)
from marketdata.exchange.filters import (
    OrderRejected,
    format_decimal,
    normalise_order,
    round_quantity,
    round_stop_price,
)
from marketdata.exchange.gateway import BinanceGateway
from marketdata.symbol_rules import rules_for
from orders import events, fillmodel, sync
from orders.accounting import FillAmounts, PositionState, apply_fill, apply_futures_fill
from orders.gateways import paper
from orders.gateways.base import ExchangeOrder, OrderGateway, TradeFill
from orders.gateways.binance_futures import CONDITIONAL_TYPES, BinanceFuturesGateway
from orders.gateways.binance_spot import BinanceSpotGateway
from orders.gateways.paper import PaperGateway
from orders.models import (
    EXCHANGE_STATUS,
    Fill,
    FuturesSetting,
    Order,
    OrderStatus,
    Position,
    new_client_order_id,
)
from portfolios.models import Portfolio
from risk import monitor as risk_monitor
from risk import services as risk_services
from tradingsite import audit, logs

logger = logging.getLogger(__name__)
S = OrderStatus

NOT_FOUND = -2013  # "Order does not exist."
CANCEL_REJECTED = -2011  # "Unknown order sent."
# An order Binance keeps answering "does not exist" for is absent only after this many checks
# spread over this long: a fresh order can be invisible to queries for a while (freqtrade#4991).
ABSENT_AFTER_CHECKS = 5
ABSENT_AFTER = timedelta(seconds=30)
# An intent nobody sent within this long is stale: the moment it was meant for has passed.
INTENT_DEADLINE = timedelta(seconds=60)
# The reconciler runs every 30 s; without a success for this long, new orders wait.
RECONCILED_FOR_SECONDS = 600
NOT_SENT_YET = "not sent yet: "  # the exchange asked us to wait (429/418, circuit, clock)


class OrderRefused(Exception):
    """The order breaks a rule and was not saved; the message says which, in words."""


# --- gateways --------------------------------------------------------------------------------

def _rules_of(order: Order):
    return _rules(order.symbol, order.market)


def gateway_for(portfolio: Portfolio) -> OrderGateway:
    if portfolio.is_paper:
        return PaperGateway(rules_for=_rules_of)
    account = portfolio.exchange_account
    api_key, api_secret = account.credentials()
    client = BinanceGateway(account.venue(), api_key=api_key, api_secret=api_secret)
    if account.market == "futures":
        return BinanceFuturesGateway(client)
    return BinanceSpotGateway(client)


def _check_market(portfolio: Portfolio, market: str) -> None:
    if market not in ("spot", "futures"):
        raise OrderRefused(f"unknown market {market!r}: spot or futures")
    if portfolio.is_paper and market == "futures":
        # The paper venue books spot balances; margin, leverage and shorts are not simulated.
        raise OrderRefused("paper portfolios trade spot only for now: futures orders need a "
                           "portfolio on a testnet or live futures account")
    account = portfolio.exchange_account
    if account is not None and not portfolio.is_paper and account.market != market:
        raise OrderRefused(f"this portfolio trades through a {account.get_market_display()} "
                           f"account: it cannot place {market} orders")


# --- placing ---------------------------------------------------------------------------------

def _rules(symbol: str, market: str):
    rules = rules_for(market, symbol)
    if rules is None:
        raise OrderRefused(f"{symbol} is not a known {market} symbol: sync symbols first")
    return rules


def order_create(*, portfolio: Portfolio, symbol: str, side: str, order_type: str,
                 quantity: Decimal | None = None, quote_quantity: Decimal | None = None,
                 price: Decimal | None = None, stop_price: Decimal | None = None,
                 time_in_force: str = "", source: str = Order.Source.MANUAL,
                 market: str = "spot", reference_price: Decimal | None = None,
                 reduce_only: bool = False, position_side: str = "",
                 callback_rate: Decimal | None = None,
                 activation_price: Decimal | None = None, bot=None, decision=None,
                 tag: str = "") -> Order:
    """Check the order against the symbol's filters and the pre-trade risk check, then save it
    (nothing is sent yet). Entries wait for a recent reconciliation with Binance (a circuit
    breaker of the risk check); exits do not, so positions can be closed while Binance fails."""
    _check_market(portfolio, market)
    rules = _rules(symbol, market)
    trailing = _trailing_stop(rules, order_type, callback_rate, activation_price)
    if reference_price is None:
        reference_price = _live_price(market, symbol)
    try:
        normalised = normalise_order(rules, side=side, order_type=order_type,
                                     quantity=quantity, price=price, stop_price=stop_price,
                                     reference_price=reference_price,
                                     quote_amount=quote_quantity, reduce_only=reduce_only,
                                     time_in_force=time_in_force or None)
    except OrderRejected as rejected:
        detail = getattr(rejected, "detail", "") or str(rejected)
        raise OrderRefused(detail + _rounding_note(rules, quantity, order_type)) from rejected
    with transaction.atomic():  # the check and the order it admits, under the portfolio lock
        risk_services.lock_portfolio(portfolio.pk)
        normalised, check = _risk_checked(portfolio, rules, normalised, reference_price, bot)
        return Order.objects.create(
            portfolio=portfolio, source=source, market=market, symbol=symbol, side=side,
            type=order_type, quantity=normalised.quantity,
            quote_quantity=normalised.quote_amount, price=normalised.price,
            stop_price=normalised.stop_price, time_in_force=normalised.time_in_force or "",
            reduce_only=normalised.reduce_only, position_side=position_side, bot=bot,
            decision=decision, tag=tag, risk_check=check.action, risk_note=check.note[:500],
            **trailing)


def _risk_checked(portfolio: Portfolio, rules, normalised, reference_price, bot):
    """The order as the pre-trade check admits it (reduced when a limit caps it), with the
    verdict; OrderRefused when the check rejects it."""
    price = normalised.price or normalised.stop_price or reference_price
    market, symbol = rules.market, rules.symbol
    try:
        check = risk_services.pretrade_check(
            portfolio=portfolio, symbol=symbol, side=normalised.side, market=market, bot=bot,
            notional=risk_services.order_notional(
                quantity=normalised.quantity, quote_quantity=normalised.quote_amount,
                price=price),
            reduces_position=risk_services.reduces_position(
                portfolio=portfolio, market=market, symbol=symbol, side=normalised.side,
                quantity=normalised.quantity, reduce_only=normalised.reduce_only),
            leverage=risk_services.leverage_of(portfolio=portfolio, market=market,
                                               symbol=symbol))
    except risk_services.RiskRefused as refused:
        raise OrderRefused(f"risk: {refused}") from refused
    if check.action != "reduce":
        return normalised, check
    return _reduced(rules, normalised, check, price), check


def _reduced(rules, normalised, check, price):
    """The same order at the notional the check allows, rounded down like any order."""
    if normalised.quote_amount is not None:
        amounts = {"quantity": None, "quote_amount": check.notional}
    else:
        amounts = {"quantity": check.notional / price, "quote_amount": None}
    try:
        return normalise_order(rules, side=normalised.side, order_type=normalised.order_type,
                               price=normalised.price, stop_price=normalised.stop_price,
                               reference_price=price, reduce_only=normalised.reduce_only,
                               time_in_force=normalised.time_in_force, **amounts)
    except OrderRejected as rejected:
        detail = getattr(rejected, "detail", "") or str(rejected)
        raise OrderRefused(f"risk: {check.note}; what is left is too small to trade: "
                           f"{detail}") from rejected


def _trailing_stop(rules, order_type: str, callback_rate: Decimal | None,
                   activation_price: Decimal | None) -> dict:
    """A futures trailing stop's callback rate (0.1% to 10%, Binance's bounds) and optional
    activation price, rounded to the tick; other orders take neither."""
    if order_type != Order.Type.TRAILING_STOP_MARKET:
        if callback_rate is not None or activation_price is not None:
            raise OrderRefused("only a futures TRAILING_STOP_MARKET takes a callback rate or "
                               "an activation price")
        return {}
    if not rules.is_futures:
        raise OrderRefused("TRAILING_STOP_MARKET is a futures order type; on spot use "
                           "STOP_LOSS_LIMIT")
    if callback_rate is None or not Decimal("0.1") <= Decimal(callback_rate) <= Decimal("10"):
        raise OrderRefused("a trailing stop needs a callback rate between 0.1 and 10 (percent)")
    rate = Decimal(callback_rate).quantize(Decimal("0.1"))
    if activation_price is not None:
        activation_price = round_stop_price(rules, activation_price)
    return {"callback_rate": rate, "activation_price": activation_price}


def _live_price(market: str, symbol: str) -> Decimal | None:
    """The streamed last price, when it is fresh: market orders' notional and the price bands
    can then be checked here instead of by a -1013 from Binance."""
    return None if live.is_stale(market, symbol) else live.last_price(market, symbol)


def _rounding_note(rules, quantity: Decimal | None, order_type: str) -> str:
    """Say so when the quantity the trader typed was rounded down to the symbol's step."""
    if quantity is None:
        return ""
    rounded = round_quantity(rules, quantity, market=order_type == Order.Type.MARKET)
    if rounded == Decimal(quantity):
        return ""
    return (f" ({format_decimal(Decimal(quantity))} was rounded down to "
            f"{format_decimal(rounded)}, the symbol's quantity step)")


def _claim(order: Order) -> bool:
    """CREATED -> SUBMITTING as one conditional UPDATE: exactly one caller wins the send."""
    now = timezone.now()
    if not Order.objects.filter(pk=order.pk, status=S.CREATED).update(
            status=S.SUBMITTING, submitted_at=now, updated_at=now):
        order.refresh_from_db()
        return False
    order.status, order.submitted_at = S.SUBMITTING, now
    return True


@logs.bound(order_id=lambda kw: kw["order"].pk, bot_id=lambda kw: kw["order"].bot_id)
def order_submit(*, order: Order, gateway: OrderGateway | None = None) -> Order:
    """Send a CREATED order once. Whoever wins the claim sends; everyone else just reads."""
    gateway = gateway or gateway_for(order.portfolio)
    try:
        if getattr(gateway, "local", False):
            # Paper: the claim, the fill and its booking commit together, or not at all; the
            # claim's UPDATE holds the row, so the instance in hand is the locked one.
            with transaction.atomic():
                if not _claim(order):
                    return order
                return _sent(order, gateway.place(order), gateway, held=True)
        if not _claim(order):
            return order
        answer = gateway.place(order)
    except (RateLimited, CircuitOpen, ClockSkew) as error:
        # Refused before it could reach the matching engine: nothing exists, send later.
        return _unclaim(order, reason=f"{NOT_SENT_YET}{error}")
    except DefiniteRejection as error:
        return _set_status(order, S.REJECTED, reason=str(error), code=error.code)
    except (UnknownOutcome, RetryableError) as error:
        logger.warning("order %s: outcome unknown (%s); will query, never resend",
                       order.client_order_id, error)
        return _set_status(order, S.UNKNOWN, reason=f"outcome unknown: {error}",
                           code=error.code)
    return _sent(order, answer, gateway)


def _sent(order: Order, answer: ExchangeOrder, gateway: OrderGateway, *,
          held: bool = False) -> Order:
    """The exchange took the order: record that it was sent and when it answered (the round
    trip /metrics reports), then apply its answer."""
    order.acknowledged_at = timezone.now()
    Order.objects.filter(pk=order.pk).update(acknowledged_at=order.acknowledged_at)
    audit.record_order(audit.Action.ORDER_SENT, order, code=answer.status,
                       exchange_order_id=answer.exchange_order_id)
    return order_apply(order=order, answer=answer, venue=gateway.venue, held=held)


def _unclaim(order: Order, *, reason: str) -> Order:
    """SUBMITTING back to CREATED, to be sent later: conditional, so a cancel that came
    meanwhile (an emergency stop, the owner) is never overwritten and the order never sent."""
    with transaction.atomic():
        if Order.objects.filter(pk=order.pk, status=S.SUBMITTING).update(
                status=S.CREATED, reason=reason[:300], updated_at=timezone.now()):
            locked = _locked(order.pk)
            events.order_changed(locked, owner_id=locked.portfolio.owner_id)
    order.refresh_from_db()
    return order


def order_place(*, portfolio: Portfolio, gateway: OrderGateway | None = None,
                **fields) -> Order:
    gateway = gateway or gateway_for(portfolio)
    if getattr(gateway, "local", False):
        # Paper: the intent, its fill and the booking commit together, or not at all.
        with transaction.atomic():
            return order_submit(order=order_create(portfolio=portfolio, **fields),
                                gateway=gateway)
    order = order_create(portfolio=portfolio, **fields)
    return order_submit(order=order, gateway=gateway)


# --- OCO (spot) ------------------------------------------------------------------------------

def oco_place(*, portfolio: Portfolio, symbol: str, side: str, quantity: Decimal,
              price: Decimal, stop_price: Decimal, stop_limit_price: Decimal,
              source: str = Order.Source.MANUAL,
              gateway: OrderGateway | None = None) -> tuple[Order, Order]:
    """One-cancels-the-other: a LIMIT_MAKER leg at `price` and a STOP_LOSS_LIMIT leg that
    triggers at `stop_price` and rests at `stop_limit_price`. A SELL takes profit above the
    market and stops out below it; a BUY the reverse. Filling (or triggering) one leg cancels
    the other. Both legs are saved with their own ids and the list's before anything is sent.
    Returns (limit leg, stop leg)."""
    _check_oco_prices(side, price, stop_price, _live_price("spot", symbol))
    gateway = gateway or gateway_for(portfolio)
    common = {"portfolio": portfolio, "symbol": symbol, "side": side, "quantity": quantity,
              "source": source}
    with transaction.atomic():  # paper: the legs, their placement and booking, or nothing
        list_id = new_client_order_id()
        limit = order_create(order_type=Order.Type.LIMIT_MAKER, price=price, **common)
        stop = order_create(order_type=Order.Type.STOP_LOSS_LIMIT, price=stop_limit_price,
                            stop_price=stop_price, time_in_force="GTC", **common)
        Order.objects.filter(pk__in=[limit.pk, stop.pk]).update(list_client_order_id=list_id)
        limit.list_client_order_id = stop.list_client_order_id = list_id
        if getattr(gateway, "local", False):
            _oco_submit(limit, stop, gateway)
    if not getattr(gateway, "local", False):
        _oco_submit(limit, stop, gateway)
    return limit, stop


def _check_oco_prices(side: str, price: Decimal, stop_price: Decimal,
                      last: Decimal | None) -> None:
    above, below = (price, stop_price) if side == "SELL" else (stop_price, price)
    if above <= below:
        wanted = ("its limit price above its stop price" if side == "SELL"
                  else "its stop price above its limit price")
        raise OrderRefused(f"an OCO {side.lower()} needs {wanted}")
    if last is not None and not below < last < above:
        raise OrderRefused(f"the market ({format_decimal(last)}) must lie between the two "
                           f"legs ({format_decimal(below)} and {format_decimal(above)})")


def _oco_submit(limit: Order, stop: Order, gateway: OrderGateway) -> None:
    above, below = (limit, stop) if limit.side == "SELL" else (stop, limit)
    legs = (above, below)
    local = getattr(gateway, "local", False)
    try:
        if local:
            with transaction.atomic():
                if all(_claim(leg) for leg in legs):
                    _apply_legs(legs, gateway.place_oco(above, below), gateway, held=True)
                return
        if not all(_claim(leg) for leg in legs):
            return
        reports = gateway.place_oco(above, below)
    except (RateLimited, CircuitOpen, ClockSkew) as error:
        # Nothing reached the matching engine; a list cannot be resent leg by leg later.
        for leg in legs:
            _set_status(leg, S.REJECTED, reason=f"not sent, nothing was placed: {error}",
                        code=error.code)
        return
    except DefiniteRejection as error:
        for leg in legs:
            _set_status(leg, S.REJECTED, reason=str(error), code=error.code)
        return
    except (UnknownOutcome, RetryableError) as error:
        for leg in legs:  # each leg is then queried by its own id, never resent
            _set_status(leg, S.UNKNOWN, reason=f"outcome unknown: {error}", code=error.code)
        return
    _apply_legs(legs, reports, gateway)


def _apply_legs(legs, reports: dict[str, ExchangeOrder], gateway, *, held=False) -> None:
    for leg in legs:
        _sent(leg, reports[leg.client_order_id], gateway, held=held)


# --- applying what the exchange says ---------------------------------------------------------

def _locked(order_id: int) -> Order:
    """The order row, locked for this transaction, with its portfolio (not locked) at hand."""
    return (Order.objects.select_related("portfolio").select_for_update(of=("self",))
            .get(pk=order_id))


def _set_status(order: Order, status: str, *, reason: str = "", force: bool = False,
                code: int | None = None) -> Order:
    with transaction.atomic():
        locked = _locked(order.pk)
        if force or locked.can_become(status):
            locked.status = status
            locked.reason = reason[:300]
            locked.save(update_fields=["status", "reason", "updated_at"])
            events.order_changed(locked, owner_id=locked.portfolio.owner_id)
            audit.record_order_status(locked, status, code=code, reason=reason)
    order.refresh_from_db()
    return order


def order_apply(*, order: Order, answer: ExchangeOrder, venue: str,
                held: bool = False) -> Order:
    """Take the exchange's view of an order: book new fills, move the status forward only.
    `held`: the caller's transaction already holds this order's row and the instance is
    current (paper paths), so it is used as it is instead of read again."""
    with transaction.atomic():
        locked = order if held else _locked(order.pk)
        for trade in answer.fills:
            if _book_fill(locked, trade, venue):
                # Totals grow by each fill booked under the order's lock: the sum of its fills.
                locked.executed_qty += trade.quantity
                locked.cumulative_quote += trade.quote_quantity
        status = EXCHANGE_STATUS[answer.status]
        if locked.can_become(status):
            locked.status = status
        if answer.exchange_order_id:
            locked.exchange_order_id = answer.exchange_order_id
        if venue == paper.VENUE and locked.is_terminal:
            paper.release(locked, _rules_of(locked))
        locked.save()
        events.order_changed(locked, owner_id=locked.portfolio.owner_id)
    if not held:
        order.refresh_from_db()
    if order.executed_qty < answer.executed_qty:
        # The exchange knows of fills we have not seen (a lost event): fetch them.
        _fetch_missing_fills(order, venue)
    return order


def _book_fill(order: Order, trade: TradeFill, venue: str) -> bool:
    """Book one trade, once: the unique constraint makes a replay a no-op."""
    try:
        with transaction.atomic():
            fill = Fill.objects.create(
                order=order, venue=venue, market=order.market, symbol=order.symbol,
                trade_id=trade.trade_id, side=order.side, price=trade.price,
                quantity=trade.quantity, quote_quantity=trade.quote_quantity,
                commission=trade.commission, commission_asset=trade.commission_asset,
                is_maker=trade.is_maker, executed_at=trade.executed_at)
    except IntegrityError:
        return False
    rules = _rules_of(order)
    if venue == paper.VENUE:
        paper.settle_fill(order, trade, rules)
    _position_apply(order, trade, rules)
    events.fill_booked(fill, owner_id=order.portfolio.owner_id)
    audit.record_fill(fill, order)
    risk_monitor.evaluate_soon(order.portfolio_id)  # a fill can breach a loss limit
    return True


def _position_apply(order: Order, trade: TradeFill, rules) -> None:
    position, _ = Position.objects.select_for_update().get_or_create(
        portfolio=order.portfolio, market=order.market, symbol=order.symbol)
    state = PositionState(quantity=position.quantity, cost=position.cost,
                          realised_pnl=position.realised_pnl, fees_paid=position.fees_paid)
    amounts = FillAmounts(side=order.side, price=trade.price, quantity=trade.quantity,
                          quote_quantity=trade.quote_quantity, commission=trade.commission,
                          commission_asset=trade.commission_asset,
                          commission_quote=_fee_value(trade, rules))
    if order.market == "futures":
        state = apply_futures_fill(state, amounts, quote_asset=rules.quote_asset)
    else:
        state = apply_fill(state, amounts, base_asset=rules.base_asset,
                           quote_asset=rules.quote_asset)
    position.quantity, position.cost = state.quantity, state.cost
    position.realised_pnl, position.fees_paid = state.realised_pnl, state.fees_paid
    position.save()
    events.position_changed(position, owner_id=order.portfolio.owner_id)


def _fee_value(trade: TradeFill, rules) -> Decimal | None:
    """A fee paid in a third asset (BNB), valued in the quote asset at its live price; None
    when there is no fresh price (the fee is then reported in BNB only)."""
    if trade.commission_asset in ("", rules.base_asset, rules.quote_asset):
        return None
    # The last streamed price even if a little old: a fee's value is not a trading decision.
    price = live.last_price("spot", f"{trade.commission_asset}{rules.quote_asset}")
    return trade.commission * price if price is not None else None


def _fetch_missing_fills(order: Order, venue: str, gateway: OrderGateway | None = None) -> None:
    gateway = gateway or gateway_for(order.portfolio)
    try:
        trades = gateway.trades(order)
    except ExchangeError as error:
        logger.warning("order %s: could not fetch its trades yet: %s", order.client_order_id,
                       error)
        return
    with transaction.atomic():
        locked = _locked(order.pk)
        for trade in trades:
            if _book_fill(locked, trade, venue):
                locked.executed_qty += trade.quantity
                locked.cumulative_quote += trade.quote_quantity
        locked.save(update_fields=["executed_qty", "cumulative_quote", "updated_at"])
    order.refresh_from_db()


# --- settling unknowns -----------------------------------------------------------------------

def order_resolve(*, order: Order, gateway: OrderGateway | None = None) -> Order:
    """Ask the exchange about an order whose state we do not know; never resend it."""
    if order.is_terminal:
        return order
    gateway = gateway or gateway_for(order.portfolio)
    try:
        answer = gateway.query(order)
    except DefiniteRejection as error:
        if error.code != NOT_FOUND:
            raise
        return _count_absence(order)
    except (RetryableError, UnknownOutcome) as error:
        logger.info("order %s: still cannot ask about it: %s", order.client_order_id, error)
        return order
    return order_apply(order=order, answer=answer, venue=gateway.venue)


def _count_absence(order: Order) -> Order:
    Order.objects.filter(pk=order.pk).update(resolve_attempts=order.resolve_attempts + 1)
    order.refresh_from_db()
    age = timezone.now() - (order.submitted_at or order.created_at)
    if order.resolve_attempts >= ABSENT_AFTER_CHECKS and age >= ABSENT_AFTER:
        return _set_status(order, S.REJECTED, reason=(
            f"never reached the exchange: not found after {order.resolve_attempts} checks"))
    return order


@logs.bound(order_id=lambda kw: kw["order"].pk, bot_id=lambda kw: kw["order"].bot_id)
def order_cancel(*, order: Order, gateway: OrderGateway | None = None) -> Order:
    """Cancel an order; an unknown-order answer is checked with a query before recording.
    The audit log keeps the request with the status it led to (an open order as seen here)."""
    asked = not order.is_terminal
    order = _cancel(order, gateway)
    if asked:
        audit.record_order(audit.Action.ORDER_CANCELLED, order, code=order.status)
    return order


def _cancel(order: Order, gateway: OrderGateway | None) -> Order:
    if Order.objects.filter(pk=order.pk, status=S.CREATED).update(
            status=S.CANCELED, reason="cancelled before it was sent"):
        order.refresh_from_db()
        return order
    order.refresh_from_db()
    if order.is_terminal:
        return order
    _set_status(order, S.PENDING_CANCEL)
    gateway = gateway or gateway_for(order.portfolio)
    if getattr(gateway, "local", False):
        with transaction.atomic():
            legs = [order] + [o for o in [order.other_leg()] if o and not o.is_terminal]
            for leg in legs:  # paper: a list is cancelled whole, as Binance does
                order_apply(order=leg, answer=gateway.cancel(leg), venue=gateway.venue)
        order.refresh_from_db()
        return order
    try:
        answer = gateway.cancel(order)
    except DefiniteRejection as error:
        if error.code not in (CANCEL_REJECTED, NOT_FOUND):
            raise
        # It may have filled in the meantime: only the exchange can say.
        return order_resolve(order=order, gateway=gateway)
    except (UnknownOutcome, RetryableError) as error:
        logger.warning("cancel of %s: outcome unknown (%s); will query",
                       order.client_order_id, error)
        return order
    order = order_apply(order=order, answer=answer, venue=gateway.venue)
    _follow_other_leg(order, gateway)
    return order


def _follow_other_leg(order: Order, gateway: OrderGateway) -> None:
    """Cancelling an OCO leg cancels its list: Binance did it, so ask about the sibling."""
    other = order.other_leg()
    if other is not None and not other.is_terminal:
        order_resolve(order=other, gateway=gateway)


def orders_reconcile(*, portfolio: Portfolio, gateway: OrderGateway | None = None) -> dict:
    """Compare every non-terminal order of a portfolio with the exchange; expire stale intents.

    Open orders are included, not only doubtful ones: a fill or cancel the user stream missed
    (a reconnect, a restart) is found here.
    """
    stale = timezone.now() - INTENT_DEADLINE
    expired = Order.objects.filter(portfolio=portfolio, status=S.CREATED,
                                   created_at__lt=stale).update(
        status=S.EXPIRED, reason="not sent in time; the moment it was meant for has passed")
    waiting = Order.objects.filter(portfolio=portfolio, status=S.CREATED,
                                   reason__startswith=NOT_SENT_YET)
    for order in waiting.order_by("pk"):  # held back by a pause: try again while still fresh
        order_submit(order=order, gateway=gateway)
    settled = 0
    sent_and_open = Order.objects.filter(portfolio=portfolio).open().exclude(status=S.CREATED)
    for order in sent_and_open.order_by("pk"):
        before = (order.status, order.executed_qty)
        order = order_resolve(order=order, gateway=gateway)
        settled += (order.status, order.executed_qty) != before
    report = {"expired_intents": expired, "settled": settled}
    if not portfolio.is_paper and sync.sole_portfolio(portfolio.exchange_account_id):
        # Raises on an exchange error: the portfolio then stays closed for new orders.
        report.update(sync.holdings_sync(portfolio=portfolio,
                                         gateway=gateway or gateway_for(portfolio)))
    cache.set(_reconciled_key(portfolio.pk), timezone.now().isoformat(),
              timeout=RECONCILED_FOR_SECONDS)
    return report


def _reconciled_key(portfolio_id: int) -> str:
    return f"orders:reconciled:{portfolio_id}"


def trading_allowed(portfolio: Portfolio) -> bool:
    """A portfolio on an exchange trades only once a reconciliation with it has succeeded
    recently: orders placed before we know what is open there could double what exists."""
    return portfolio.is_paper or cache.get(_reconciled_key(portfolio.pk)) is not None


@audit.audit_source("stream")
def orders_refresh_for_account(*, account_id: int) -> dict:
    """On start-up and after a user stream (re)connects: catch up on every portfolio trading on
    the account, and adopt or flag the open orders the platform did not place."""
    portfolios = list(Portfolio.objects.filter(exchange_account_id=account_id, active=True))
    reports = {p.pk: orders_reconcile(portfolio=p) for p in portfolios}
    if portfolios:
        reports["adopted"] = _adopt_open_orders(account_id, gateway_for(portfolios[0]))
    return reports


def _adopt_open_orders(account_id: int, gateway: OrderGateway) -> int:
    adopted = 0
    for report in gateway.open_orders():
        if Order.objects.filter(client_order_id=report.client_order_id).exists():
            continue
        order = _adopt_external(account_id, report)
        if order is not None:
            order_apply(order=order, answer=report.answer, venue=gateway.venue)
            adopted += 1
    return adopted


@audit.audit_source("stream")
def order_event_apply(*, account_id: int, venue: str, event) -> Order | None:
    """Apply one user-stream order event; an order we did not place is adopted or flagged."""
    order = Order.objects.filter(client_order_id=event.client_order_id,
                                 portfolio__exchange_account_id=account_id).first()
    if order is None and event.order_type in CONDITIONAL_TYPES:
        # The order a triggered algo order placed: its fills are booked on the algo order,
        # which its ALGO_UPDATE (or the reconciler) resolves; adopting it would book them twice.
        return None
    order = order or _adopt_external(account_id, event)
    if order is None:
        return None
    return order_apply(order=order, answer=event.answer, venue=venue)


@audit.audit_source("stream")
def algo_event_apply(*, account_id: int, client_order_id: str) -> Order | None:
    """An ALGO_UPDATE: ask about the conditional order (and what its trigger placed)."""
    order = Order.objects.filter(client_order_id=client_order_id,
                                 portfolio__exchange_account_id=account_id).first()
    return order_resolve(order=order) if order is not None else None


def _adopt_external(account_id: int, event) -> Order | None:
    portfolio = sync.sole_portfolio(account_id)
    if portfolio is None:
        logger.warning("order %s on account %s was placed outside the platform and cannot be "
                       "given to one portfolio; flagged, not booked", event.client_order_id,
                       account_id)
        return None
    logger.warning("adopting order %s placed outside the platform into %s",
                   event.client_order_id, portfolio)
    order, _ = Order.objects.get_or_create(
        client_order_id=event.client_order_id,
        defaults={"portfolio": portfolio, "source": Order.Source.EXTERNAL,
                  "market": portfolio.exchange_account.market, "symbol": event.symbol,
                  "side": event.side, "type": event.order_type, "quantity": event.quantity,
                  "price": event.price or None, "reason": "placed outside the platform"})
    return order


# --- futures settings ------------------------------------------------------------------------

def futures_configure(*, portfolio: Portfolio, symbol: str, leverage: int | None = None,
                      margin_type: str | None = None) -> FuturesSetting:
    """Set a futures symbol's leverage and/or margin type on Binance, then remember them.
    Asking for what is already set is fine (Binance's -4046 counts as success)."""
    _rules(symbol, "futures")
    if leverage is not None and not 1 <= int(leverage) <= 125:
        raise OrderRefused("leverage must be a whole number from 1 to 125")
    if margin_type is not None and margin_type not in FuturesSetting.MarginType.values:
        raise OrderRefused("margin type must be CROSSED or ISOLATED")
    _check_market(portfolio, "futures")
    _check_leverage_limit(portfolio, symbol, leverage)
    gateway = gateway_for(portfolio)
    if not portfolio.is_paper:
        try:
            if margin_type is not None:
                gateway.set_margin_type(symbol, margin_type)
            if leverage is not None:
                gateway.set_leverage(symbol, int(leverage))
        except DefiniteRejection as error:
            raise OrderRefused(f"Binance refused: {error}") from error
    setting, _ = FuturesSetting.objects.get_or_create(portfolio=portfolio, symbol=symbol)
    setting.leverage = int(leverage) if leverage is not None else setting.leverage
    setting.margin_type = margin_type or setting.margin_type
    setting.save()
    return setting


def _check_leverage_limit(portfolio: Portfolio, symbol: str, leverage: int | None) -> None:
    limit = risk_services.limits_for(portfolio=portfolio, symbol=symbol).max_leverage
    if leverage is not None and limit is not None and leverage > limit:
        raise OrderRefused(f"risk: max leverage for {symbol} is {format_decimal(limit)}x; "
                           f"{leverage}x was asked for")


# --- paper matching --------------------------------------------------------------------------

@audit.audit_source("stream")
def paper_orders_match(*, market: str, symbol: str, trade: fillmodel.Trade | None = None,
                       book: fillmodel.MarketState | None = None) -> int:
    """Offer one market print (a trade or a book update) to the resting paper orders of a
    symbol; returns how many orders it filled or triggered."""
    resting = Order.objects.filter(portfolio__mode=Portfolio.Mode.PAPER, market=market,
                                   symbol=symbol, status__in=[S.NEW, S.PARTIALLY_FILLED])
    resting = resting.filter(_may_cross(trade, book))
    touched = 0
    # One transaction per print: its fills commit together (one commit, not one per order).
    with transaction.atomic():
        locked = resting.select_related("portfolio").select_for_update(of=("self",))
        ended = set()
        for order in locked.order_by("pk"):
            if order.pk in ended:
                continue
            outcome = _paper_outcome(order, trade, book)
            if outcome.fills or (outcome.triggered and not order.stop_triggered):
                if order.list_client_order_id:
                    ended |= _paper_end_other_leg(order)
                order_apply(order=order, answer=paper.answer(order, outcome),
                            venue=paper.VENUE, held=True)
                touched += 1
    return touched


def _paper_end_other_leg(order: Order) -> set[int]:
    """A paper OCO leg fills or triggers: its sibling is cancelled, as Binance does, and
    hands over the list's reservation. Returns the ended sibling's id."""
    other = (Order.objects.select_for_update().filter(
        list_client_order_id=order.list_client_order_id).exclude(pk=order.pk).first())
    if other is None or other.is_terminal:
        return set()
    paper.take_over_reservation(order, other)
    other.status, other.reason = S.CANCELED, "the other leg of its OCO filled or triggered"
    other.save()
    events.order_changed(other, owner_id=order.portfolio.owner_id)
    return {other.pk}


RESTING_LIMIT_TYPES = (Order.Type.LIMIT, Order.Type.LIMIT_MAKER)


def _may_cross(trade, book) -> Q:
    """Which resting orders a print could touch, as a filter: plain limits only when the
    price reached them (the fill model decides the rest; stops are few, so all are offered).
    Skipping the others keeps a busy symbol's untouched orders out of the per-print work."""
    buy_touch = trade.price if trade is not None else book.ask
    sell_touch = trade.price if trade is not None else book.bid
    return (~Q(type__in=RESTING_LIMIT_TYPES)
            | Q(side=Order.Side.BUY, price__gte=buy_touch)
            | Q(side=Order.Side.SELL, price__lte=sell_touch))


def _paper_outcome(order: Order, trade, book) -> fillmodel.Outcome:
    fees = paper.fee_schedule(order, _rules_of(order))
    slippage = order.portfolio.slippage_bps
    if trade is not None:
        return fillmodel.on_trade(paper.paper_order(order), trade, fees, slippage_bps=slippage)
    return fillmodel.on_market(paper.paper_order(order), book, fees, slippage_bps=slippage)


def paper_deposit(*, portfolio: Portfolio, asset: str, amount: Decimal) -> None:
    """Put simulated money into a paper portfolio (its starting budget, or a top-up)."""
    if not portfolio.is_paper:
        raise OrderRefused("only paper portfolios take simulated deposits")
    with transaction.atomic():
        balance = paper.balance_for(portfolio, asset.upper())
        balance.free += amount
        balance.save()
