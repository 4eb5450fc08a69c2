"""Bots: create, start, pause, resume, stop, and the tick that runs a strategy on one closed
candle.

A tick is the platform's main loop step (reliability: at most one decision per bot and candle,
ever). It loads the strategy's window from the database, runs the strategy, turns its intents
into order intents checked against the portfolio's budget, and records the decision, all in
one transaction that holds the bot's row, so a duplicated, retried or concurrent tick finds
the decision already there and does nothing. Orders are sent after that transaction commits
(never inside it: no network call holds a lock); cancels likewise.
"""

import logging
import time
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from bots import ai, approvals, budget, events, window
from bots.models import Bot, BotDecision
from bots.strategies import Cancel, Context, Intent, ParameterError, get_strategy
from bots.strategies.builtin.ai_combined import ANALYSIS_ID
from bots.strategies.sizing import SizingError, size_intent
from marketdata.exchange.errors import ExchangeError
from marketdata.klines.intervals import STEP_US
from marketdata.symbol_rules import rules_for
from orders.models import Order
from orders.services import OrderRefused, order_cancel, order_create, order_submit
from risk import services as risk_services
from tradingsite import audit, logs

logger = logging.getLogger(__name__)
ZERO = Decimal("0")
HUNDRED = Decimal("100")
S = Bot.Status


class BotRefused(Exception):
    """The bot's settings are not valid; `errors` maps fields to messages in words."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


# --- settings and lifecycle ------------------------------------------------------------------

def bot_validate(*, strategy: str, params: dict, sizing: str, sizing_config: dict) -> dict:
    """The strategy's parameters, complete and typed (JSON-ready), or BotRefused in words."""
    try:
        strategy_class = get_strategy(strategy)
    except KeyError as missing:
        raise BotRefused({"strategy": str(missing.args[0])}) from missing
    try:
        instance = strategy_class(**params)
    except ParameterError as invalid:
        raise BotRefused(dict(invalid.errors)) from invalid
    if sizing not in Bot.Sizing.values:
        raise BotRefused({"sizing": f"choose one of {', '.join(Bot.Sizing.values)}"})
    _check_sizing(sizing, sizing_config)
    return {name: _json(value) for name, value in instance.params.items()}


def _check_sizing(sizing: str, config: dict) -> None:
    try:
        size_intent(sizing, config, equity=Decimal("1000"), allocation=Decimal("1000"),
                    entry_price=Decimal("100"), stop_price=Decimal("90"))
    except SizingError as invalid:
        raise BotRefused({"sizing_config": str(invalid)}) from invalid


def _json(value):
    return str(value) if isinstance(value, Decimal) else value


def bot_create(*, portfolio, name: str, symbol: str, strategy: str, interval: str = "1m",
               params: dict | None = None, sizing: str = Bot.Sizing.FIXED_QUOTE,
               sizing_config: dict | None = None, market: str = "spot") -> Bot:
    symbol = symbol.strip().upper()
    if rules_for(market, symbol) is None:
        raise BotRefused({"symbol": f"{symbol} is not a known {market} symbol"})
    sizing_config = sizing_config or {"amount": "100"}
    params = bot_validate(strategy=strategy, params=params or {}, sizing=sizing,
                          sizing_config=sizing_config)
    return Bot.objects.create(portfolio=portfolio, name=name, market=market, symbol=symbol,
                              interval=interval, strategy=strategy, params=params,
                              sizing=sizing, sizing_config=sizing_config)


# Which statuses each control may move a bot from (stop is always allowed: it is the brake).
CONTROL_FROM = {"start": {S.STOPPED, S.ERROR}, "pause": {S.RUNNING}, "resume": {S.PAUSED},
                "stop": {S.RUNNING, S.PAUSED, S.ERROR, S.STOPPED}}


def _require_status(bot: Bot, action: str) -> None:
    bot.refresh_from_db(fields=["status"])
    if bot.status not in CONTROL_FROM[action]:
        raise BotRefused({"status": f"A {bot.status} bot cannot be told to {action}."})


def bot_update(*, bot: Bot, **fields) -> Bot:
    """Change a stopped bot's settings (validated like a new bot's). A conditional UPDATE: a
    bot started meanwhile (another tab, the API) is refused, not changed under its feet."""
    merged = {key: fields.get(key, getattr(bot, key))
              for key in ("strategy", "params", "sizing", "sizing_config")}
    fields["params"] = bot_validate(**merged)
    if fields.get("strategy", bot.strategy) != bot.strategy:
        fields["state"] = {}  # the old strategy's memory means nothing to the new one
    if not Bot.objects.filter(pk=bot.pk, status=S.STOPPED).update(
            **fields, updated_at=timezone.now()):
        raise BotRefused({"status": "stop the bot before changing it"})
    bot.refresh_from_db()
    events.bot_changed(bot)
    return bot


def bot_approval_rules(*, bot: Bot, above_quote: Decimal | None,
                       below_confidence: float | None, minutes: int) -> Bot:
    """Which of the bot's entries wait for its owner's approval. Changeable while the bot
    runs: like stop, it is a brake; entries already waiting keep their own expiry."""
    errors = approval_rule_errors(above_quote, below_confidence, minutes)
    if errors:
        raise BotRefused(errors)
    Bot.objects.filter(pk=bot.pk).update(
        approval_above_quote=above_quote, approval_below_confidence=below_confidence,
        approval_minutes=minutes, updated_at=timezone.now())
    bot.refresh_from_db()
    events.bot_changed(bot)
    return bot


def approval_rule_errors(above_quote: Decimal | None, below_confidence: float | None,
                         minutes: int) -> dict[str, str]:
    errors = {}
    if above_quote is not None and above_quote <= 0:
        errors["approval_above_quote"] = "a positive quote amount, or empty for none"
    if below_confidence is not None and not 0 < below_confidence <= 1:
        errors["approval_below_confidence"] = "above 0 and at most 1, or empty for none"
    if minutes is None or not 1 <= minutes <= 24 * 60:
        errors["approval_minutes"] = "between 1 and 1440 minutes"
    return errors


def _set_status(bot: Bot, status: str, reason: str = "", *, action: str = "") -> Bot:
    fields = {"status": status, "status_reason": reason[:300], "updated_at": timezone.now()}
    if status == S.RUNNING and bot.status == S.STOPPED:
        fields["started_at"] = timezone.now()
    Bot.objects.filter(pk=bot.pk).update(**fields)
    bot.refresh_from_db()
    events.bot_changed(bot)
    if action:
        audit.record_bot(action, bot, reason=reason)
    return bot


def bot_start(*, bot: Bot) -> Bot:
    _require_status(bot, "start")
    bot_validate(strategy=bot.strategy, params=bot.params, sizing=bot.sizing,
                 sizing_config=bot.sizing_config)
    return _set_status(bot, S.RUNNING, action=audit.Action.BOT_STARTED)


def bot_pause(*, bot: Bot, reason: str = "paused by its owner") -> Bot:
    _require_status(bot, "pause")
    return _set_status(bot, S.PAUSED, reason, action=audit.Action.BOT_PAUSED)


def bot_resume(*, bot: Bot) -> Bot:
    _require_status(bot, "resume")
    return _set_status(bot, S.RUNNING, action=audit.Action.BOT_RESUMED)


def bot_stop(*, bot: Bot, cancel_orders: bool = True, close_position: bool = False) -> Bot:
    """Stop ticking; optionally cancel the bot's open orders and sell what it holds."""
    bot = _set_status(bot, S.STOPPED, "stopped by its owner", action=audit.Action.BOT_STOPPED)
    approvals.approvals_withdraw(bot=bot, because="the bot was stopped")
    if cancel_orders or close_position:
        for order in Order.objects.filter(bot=bot).open():
            _cancel_quietly(order)
    if close_position:
        held = window.bot_position(bot).quantity
        if held > 0:
            order = order_create(portfolio=bot.portfolio, symbol=bot.symbol, side="SELL",
                                 order_type="MARKET", quantity=held, source=Order.Source.BOT,
                                 market=bot.market, bot=bot, tag="close")
            order_submit(order=order)
    return bot


def _cancel_quietly(order: Order) -> None:
    try:
        order_cancel(order=order)
    except ExchangeError as error:  # the reconciler keeps at it; say so in the log
        logger.warning("could not cancel %s yet: %s", order.client_order_id, error)


# --- the tick --------------------------------------------------------------------------------

@dataclass(frozen=True)
class EntryTerms:
    """What the strategy says about an entry on this bar beyond its intent: the share of the
    sized amount to spend, its confidence (0..1, None without one) and the stored AI
    analysis it read."""

    scale: float = 1.0
    confidence: float | None = None
    analysis_id: int | None = None

    @classmethod
    def of(cls, strategy, bar: dict) -> "EntryTerms":
        confidence = bar.get(strategy.size_column) if strategy.size_column else None
        analysis = bar.get(ANALYSIS_ID)
        return cls(scale=strategy.size_scale(bar), confidence=_number(confidence),
                   analysis_id=None if _number(analysis) is None else int(analysis))


def _number(value) -> float | None:
    if value is None or value != value:  # NaN: nothing known
        return None
    return float(value)


@dataclass
class Plan:
    """What one tick decided: order intents to send, tags to cancel, and its record."""

    orders: list[Order] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    warming_up: bool = False


def tick_is_late(bot: Bot, candle_open_time: datetime, now: datetime) -> bool:
    """A candle's tick older than one interval after its close is dropped: the moment it was
    for has passed (the next candle's tick decides on fresher data)."""
    step = timedelta(microseconds=STEP_US[bot.interval])
    return now - (candle_open_time + step) > step


@logs.bound(bot_id=lambda kwargs: kwargs["bot_id"])
def bot_tick(*, bot_id: int, candle_open_time: datetime,
             now: datetime | None = None) -> BotDecision | None:
    """Decide on one closed candle, once. None when there was nothing to do: the bot is not
    running, the tick is late, the candle is not stored yet, or it was decided already."""
    now = now or timezone.now()
    bot = Bot.objects.select_related("portfolio").get(pk=bot_id)
    if bot.status != S.RUNNING:
        return None
    if tick_is_late(bot, candle_open_time, now):
        logger.info("bot %s: dropped the late tick for %s", bot, candle_open_time)
        return None
    try:
        strategy = get_strategy(bot.strategy)(**bot.params)
    except (KeyError, ParameterError) as error:  # a user strategy removed or changed
        _set_status(bot, S.ERROR, f"its strategy cannot run: {error}",
                    action=audit.Action.BOT_ERROR)
        return None
    candles = window.candles(bot, candle_open_time, strategy.lookback())
    if not window.ends_at(candles, candle_open_time):
        logger.info("bot %s: candle %s is not stored yet", bot, candle_open_time)
        return None
    candles, _ = ai.with_ai_analyses(strategy, candles, market=bot.market, symbol=bot.symbol,
                                     interval=bot.interval)
    started = time.perf_counter()
    try:
        decision, plan = _decide_once(bot_id, candle_open_time, strategy, candles, now)
    except DatabaseError:
        raise  # the database's trouble, not the bot's: the next tick tries again
    except Exception as error:  # a strategy bug must stop its bot, visibly, not loop forever
        logger.exception("bot %s failed on %s", bot, candle_open_time)
        _set_status(bot, S.ERROR, f"failed on the {candle_open_time:%H:%M} candle: {error!r}",
                    action=audit.Action.BOT_ERROR)
        return None
    if decision is None:
        return None
    _carry_out(decision, plan)
    BotDecision.objects.filter(pk=decision.pk).update(
        duration_ms=int((time.perf_counter() - started) * 1000))
    return decision


def _decide_once(bot_id: int, candle_open_time: datetime, strategy, candles, now):
    with transaction.atomic():
        bot = Bot.objects.select_for_update().select_related("portfolio").get(pk=bot_id)
        if bot.status != S.RUNNING:
            return None, None
        try:
            with transaction.atomic():
                decision = BotDecision.objects.create(bot=bot, candle_open_time=candle_open_time)
        except IntegrityError:
            return None, None  # decided already: a duplicate, a retry or a concurrent tick
        plan = _decide(bot, decision, strategy, candles, now)
        decision.actions, decision.reason = plan.log, " ".join(plan.reasons)
        decision.outcome = _outcome(plan)
        decision.save()
        events.decision_made(decision)
        bot.last_tick_at = now
        bot.save(update_fields=["state", "last_tick_at", "updated_at"])
    return decision, plan


def _decide(bot: Bot, decision: BotDecision, strategy, candles, now) -> Plan:
    prepared = strategy.prepare(candles)
    if len(prepared) < strategy.warmup():
        return Plan(reasons=[f"warming up: {len(prepared)} of {strategy.warmup()} candles"],
                    warming_up=True)
    bar = prepared.iloc[-1].to_dict()
    decision.inputs = window.inputs(bar)
    position = window.bot_position(bot, candles)
    state = deepcopy(bot.state)
    context = Context(bar=bar, position=position, open_orders=window.open_order_views(bot),
                      state=state, now=now)
    actions = strategy.on_bar(context)
    bot.state = state
    plan = Plan()
    blockers = entry_blockers(bot)
    terms = EntryTerms.of(strategy, bar)
    for action in actions:
        if isinstance(action, Cancel):
            plan.cancels.append(action.tag)
            plan.log.append({"cancel": action.tag, "reason": action.reason})
        else:
            _plan_intent(bot, decision, action, bar, position, blockers, plan, terms, now)
    if not actions:
        plan.reasons.append("no signal")
    return plan


def _outcome(plan: Plan) -> str:
    placed = [entry for entry in plan.log if entry.get("order")]
    if not plan.log:
        return BotDecision.Outcome.SKIPPED if plan.warming_up else BotDecision.Outcome.HOLD
    if not placed and any(entry.get("approval") for entry in plan.log):
        return BotDecision.Outcome.QUEUED
    if not placed and not plan.cancels:
        return BotDecision.Outcome.REFUSED
    sides = {entry.get("side") for entry in placed}
    if sides == {"buy"}:
        return BotDecision.Outcome.ENTER
    if sides == {"sell"}:
        return BotDecision.Outcome.EXIT
    return BotDecision.Outcome.ORDERS


def entry_blockers(bot: Bot) -> list[str]:
    """Why new entries must wait (exits never do): an entry block (a breach, an emergency
    stop), a circuit breaker (Binance failing, stale market data, a symbol not trading, no
    recent reconciliation) or a protection's lock. The order's own pre-trade check says the
    same; asking first keeps the decision log short and skips sizing."""
    reasons = risk_services.entry_stops(portfolio=bot.portfolio, market=bot.market,
                                        symbol=bot.symbol, include_stream=True)
    if rules_for(bot.market, bot.symbol) is None:
        reasons.append(f"{bot.symbol} is not a known {bot.market} symbol")
    return reasons


# --- intents into order intents --------------------------------------------------------------

def _plan_intent(bot, decision, intent: Intent, bar, position, blockers, plan: Plan,
                 terms: EntryTerms, now: datetime) -> None:
    entry = {"side": intent.side, "type": intent.order_type, "tag": intent.tag,
             "reason": intent.reason}
    plan.log.append(entry)
    plan.reasons.append(intent.reason)
    if intent.side == "buy":
        refused = _entry_waits(bot, blockers)
        if refused:
            entry["refused"] = refused
            return
    else:
        approvals.approvals_withdraw(bot=bot, because=f"the bot now wants to sell: "
                                                      f"{intent.reason}")
    try:
        fields = (_buy_fields(bot, intent, bar, terms.scale) if intent.side == "buy"
                  else _sell_fields(intent, position))
        if intent.side == "buy" and _queued(bot, decision, intent, fields, terms, entry, now):
            return
        order = order_create(portfolio=bot.portfolio, symbol=bot.symbol, market=bot.market,
                             source=Order.Source.BOT, bot=bot, decision=decision,
                             tag=intent.tag, **fields)
    except (OrderRefused, SizingError) as refused:
        entry["refused"] = str(refused)
        return
    entry["order"] = order.client_order_id
    entry["risk"] = f"{order.risk_check}: {order.risk_note}"
    plan.orders.append(order)


def _entry_waits(bot: Bot, blockers: list[str]) -> str:
    """Why an entry cannot even be planned ("" when it can)."""
    if blockers:
        return "entries paused: " + "; ".join(blockers)
    waiting = approvals.pending_entry(bot)
    if waiting is not None:
        return f"entry #{waiting.pk} still waits for approval"
    return ""


def _queued(bot: Bot, decision, intent: Intent, fields: dict, terms: EntryTerms,
            entry: dict, now: datetime) -> bool:
    """Queue the entry for its owner's approval when the bot's thresholds say so."""
    amount = fields.get("quote_quantity") or fields["quantity"] * fields["price"]
    why = approvals.waits_because(bot, amount=amount, confidence=terms.confidence)
    if not why:
        return False
    approval = approvals.approval_queue(
        bot=bot, decision=decision, fields=fields, amount=amount, tag=intent.tag,
        reason=intent.reason, why=why, confidence=terms.confidence,
        analysis_id=terms.analysis_id, now=now)
    entry["approval"], entry["waits"] = approval.pk, why
    return True


def _buy_fields(bot: Bot, intent: Intent, bar, scale: float = 1.0) -> dict:
    """Size the entry, then fit it into what the budget has left (in the same transaction as
    the order intent, holding the portfolio's row)."""
    if intent.close_fraction is not None:
        raise OrderRefused("a buy that closes a share of a position covers a short: bots "
                           "trade spot and never hold one")
    close = Decimal(str(bar["close"]))
    price = intent.price if intent.order_type == "limit" else close
    amount = intent.quote_amount or (intent.quantity * price if intent.quantity else None)
    if amount is None:
        # Only what the sizing rules size is scaled: an amount the strategy chose is its own.
        amount = _sized(bot, intent, close) * Decimal(str(scale))
    portfolio = risk_services.lock_portfolio(bot.portfolio_id)
    room = budget.headroom(portfolio, bot.symbol)
    if room.amount <= 0:
        raise OrderRefused(f"no budget left: {room.limit} is fully committed")
    if amount > room.amount:
        amount = room.amount  # reduced to fit; the filters refuse it if it became too small
    if intent.order_type == "market":
        return {"side": "BUY", "order_type": "MARKET", "quote_quantity": amount}
    return {"side": "BUY", "order_type": "LIMIT", "quantity": amount / intent.price,
            "price": intent.price, "time_in_force": "GTC"}


def _sized(bot: Bot, intent: Intent, close: Decimal) -> Decimal:
    stop_pct = Decimal(str(bot.params.get("stop_loss_pct") or 0))
    stop = close * (1 - stop_pct / HUNDRED) if stop_pct > 0 else None
    allocation = budget.allocation_for(bot.portfolio, bot.symbol)
    return size_intent(bot.sizing, bot.sizing_config, equity=bot.portfolio.total_budget,
                       allocation=allocation, entry_price=close, stop_price=stop)


def _sell_fields(intent: Intent, position) -> dict:
    held = position.quantity
    quantity = intent.quantity or held * (intent.close_fraction or Decimal("1"))
    quantity = min(quantity, held)
    if quantity <= 0:
        raise OrderRefused("nothing to sell: the bot holds none")
    if intent.order_type == "market":
        return {"side": "SELL", "order_type": "MARKET", "quantity": quantity}
    return {"side": "SELL", "order_type": "LIMIT", "quantity": quantity, "price": intent.price,
            "time_in_force": "GTC"}


def _carry_out(decision: BotDecision, plan: Plan) -> None:
    """After the decision committed: send its orders, cancel what it asked to cancel."""
    bot = decision.bot
    for tag in plan.cancels:
        for order in Order.objects.filter(bot=bot, tag=tag).open():
            _cancel_quietly(order)
    for order in plan.orders:
        try:
            order_submit(order=order)
        except ExchangeError as error:
            logger.warning("bot %s: order %s not sent: %s", bot, order.client_order_id, error)
