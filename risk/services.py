"""Pre-trade risk: what the pure checks (risk.rules, risk.protections) need, read from the
books, and the one entry point every order passes through, whoever sends it.

`pretrade_check` runs inside the transaction that creates the order, after the portfolio's
row is locked (`lock_portfolio`): the state it reads (positions, open entry orders, orders in
the last minute) cannot change under it, so concurrent senders cannot all fit into the same
headroom. Entries first meet the hard stops (entry blocks, circuit breakers, protection
locks), then the limits; exits that reduce a position only meet the exchange's own rules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from django.db.models import Max, Q
from django.utils import timezone

from marketdata import live
from marketdata.exchange.limits import CircuitBreaker
from marketdata.symbol_rules import rules_for
from marketdata.venues import market_data_venue
from orders.models import Balance, Fill, Order, Position
from portfolios.models import EquitySnapshot, Portfolio
from risk import protections, rules
from risk.models import LIMIT_FIELDS, EntryBlock, ProtectionKind, RiskLimit, RiskProtection

logger = logging.getLogger(__name__)
ZERO = Decimal(0)
RETURNS_POINTS = 48  # hourly returns over two days: enough to tell correlated symbols apart


class RiskRefused(Exception):
    """The pre-trade check rejected the order; the message names the rule and the numbers."""


@dataclass(frozen=True)
class Check:
    """The verdict as stored with the order: ``action`` approve, reduce or exit."""

    action: str
    notional: Decimal | None
    note: str


def lock_portfolio(portfolio_id: int) -> Portfolio:
    """The portfolio row, locked until the transaction ends (SQLite: the IMMEDIATE
    transaction already serialises writers)."""
    return Portfolio.objects.select_for_update().get(pk=portfolio_id)


# --- limits ----------------------------------------------------------------------------------

def _as_limits(rows) -> list[rules.Limits]:
    return [rules.Limits(**{name: getattr(row, name) for name in LIMIT_FIELDS}) for row in rows]


def limits_for(*, portfolio: Portfolio, symbol: str, bot=None) -> rules.Limits:
    """The tightest of every limit that applies to this order's scope."""
    rows = RiskLimit.objects.for_order(portfolio=portfolio, symbol=symbol, bot=bot)
    return rules.Limits.merged(*_as_limits(rows))


def portfolio_limits(portfolio: Portfolio) -> rules.Limits:
    return rules.Limits.merged(*_as_limits(RiskLimit.objects.for_portfolio(portfolio)))


# --- the account as the checks see it ----------------------------------------------------------

def account_state(*, portfolio: Portfolio, limits: rules.Limits | None = None,
                  symbol: str = "", now: datetime | None = None) -> rules.AccountState:
    """Equity, its peak and the day's start, free quote balance, signed exposure per symbol
    (held plus open entry orders), orders sent in the last minute, and (when a correlation
    limit is set) recent returns."""
    from portfolios.services import portfolio_valuation

    now = now or timezone.now()
    equity = portfolio_valuation(portfolio=portfolio).equity
    positions = exposure_by_symbol(portfolio)
    returns = {}
    if limits is not None and limits.max_correlated_exposure is not None:
        returns = _hourly_returns(portfolio, [*positions, symbol])
    return rules.AccountState(
        equity=equity, equity_peak=_equity_peak(portfolio, equity),
        day_start_equity=day_start_equity(portfolio, equity, now),
        free_balance=_free_quote(portfolio), positions=positions,
        orders_last_minute=Order.objects.filter(
            portfolio=portfolio, created_at__gte=now - timedelta(minutes=1)).count(),
        returns=returns)


def _equity_peak(portfolio: Portfolio, equity: Decimal) -> Decimal:
    peak = portfolio.snapshots.aggregate(peak=Max("equity"))["peak"]
    return max(peak, equity) if peak is not None else equity


def day_start_equity(portfolio: Portfolio, equity: Decimal, now: datetime) -> Decimal:
    """The equity at 00:00 UTC: the last snapshot before midnight, else the day's first one,
    else (a portfolio younger than its first snapshot) the equity now."""
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    snapshots = EquitySnapshot.objects.filter(portfolio=portfolio)
    before = snapshots.filter(taken_at__lt=midnight).order_by("-taken_at").first()
    first = before or snapshots.filter(taken_at__gte=midnight).order_by("taken_at").first()
    return first.equity if first is not None else equity


def _free_quote(portfolio: Portfolio) -> Decimal:
    balance = Balance.objects.filter(portfolio=portfolio, asset=portfolio.quote_asset).first()
    return balance.free if balance is not None else ZERO


def exposure_by_symbol(portfolio: Portfolio) -> dict[str, Decimal]:
    """Signed notional per symbol: positions at their last price (else their cost), plus the
    open orders that would add to them (reduce-only orders and spot sells would not)."""
    exposure: dict[str, Decimal] = {}
    for position in Position.objects.filter(portfolio=portfolio).exclude(quantity=0):
        price = live.last_price(position.market, position.symbol) or (
            abs(position.cost / position.quantity) if position.quantity else ZERO)
        exposure[position.symbol] = exposure.get(position.symbol, ZERO) + position.quantity * price
    entries = Order.objects.filter(portfolio=portfolio, reduce_only=False).open().exclude(
        market="spot", side=Order.Side.SELL)
    for order in entries:
        sign = 1 if order.side == Order.Side.BUY else -1
        exposure[order.symbol] = exposure.get(order.symbol, ZERO) + sign * open_notional(order)
    return exposure


def open_notional(order: Order) -> Decimal:
    """What an open order may still commit, in the quote asset: paper's exact reservation,
    else what is left of its amount at its price (its stop price, else the last price)."""
    if order.reserved:  # paper: exactly what the order may still spend
        return order.reserved
    if order.quote_quantity is not None:
        return max(order.quote_quantity - order.cumulative_quote, ZERO)
    price = (order.price or order.stop_price or live.last_price(order.market, order.symbol)
             or ZERO)
    return max((order.quantity or ZERO) - order.executed_qty, ZERO) * price


def _hourly_returns(portfolio: Portfolio, symbols: list[str]) -> dict[str, list[float]]:
    from marketdata.models import Kline

    returns = {}
    for symbol in {s for s in symbols if s}:
        closes = list(Kline.objects.filter(market="spot", symbol=symbol, interval="1h")
                      .order_by("-open_time").values_list("close", flat=True)[:RETURNS_POINTS + 1])
        closes.reverse()
        returns[symbol] = [float(b / a - 1) for a, b in pairwise(closes) if a]
    return returns


# --- what stops entries whatever their size ---------------------------------------------------

def circuit_breakers(*, portfolio: Portfolio, market: str = "", symbol: str = "",
                     include_stream: bool = False) -> list[str]:
    """Why entries must wait for the exchange or our view of it, in words: Binance keeps
    failing, the reconciliation has not succeeded, the symbol is halted, or (for bots, which
    decide on streamed prices) the stream is stale."""
    from orders.services import trading_allowed

    reasons = []
    venue = (market_data_venue() if portfolio.is_paper
             else portfolio.exchange_account.venue())
    if CircuitBreaker(venue.key).state() == "open":
        reasons.append("Binance keeps failing (circuit breaker open)")
    if not trading_allowed(portfolio):
        reasons.append("trading on this portfolio waits for its reconciliation with Binance "
                       "to succeed (it runs every 30 s)")
    if symbol:
        symbol_rules = rules_for(market or "spot", symbol)
        if symbol_rules is not None and symbol_rules.status != "TRADING":
            reasons.append(f"{symbol} is not trading ({symbol_rules.status})")
        if include_stream and live.is_stale(market or "spot", symbol):
            reasons.append(f"{symbol}'s market data is stale")
    return reasons


def entry_blocks(*, portfolio: Portfolio, symbol: str) -> list[str]:
    return [f"entries are blocked ({block.get_source_display()}): {block.reason}"
            for block in EntryBlock.objects.covering(portfolio, symbol)]


def protection_lock(*, portfolio: Portfolio, symbol: str,
                    now: datetime | None = None) -> protections.Lock | None:
    """The protection lock covering ``symbol`` now, if any."""
    configured = _protections(portfolio)
    if not configured:
        return None
    now = now or timezone.now()
    curve = []
    if any(isinstance(p, protections.MaxDrawdown) for p in configured):
        since = now - max(p.lookback + p.stop_duration for p in configured
                          if isinstance(p, protections.MaxDrawdown))
        curve = list(portfolio.snapshots.filter(taken_at__gt=since)
                     .values_list("taken_at", "equity"))
    locks = protections.active_locks(configured, closed_trades(portfolio), now=now,
                                     equity_curve=curve)
    return protections.is_locked(locks, symbol, now)


def entry_stops(*, portfolio: Portfolio, market: str, symbol: str, include_stream: bool,
                now: datetime | None = None) -> list[str]:
    """Why an entry must wait whatever its size, in words: entry blocks, circuit breakers
    (the stream's staleness only for bots, which decide on streamed prices) and the
    protection lock covering the symbol."""
    stops = [*entry_blocks(portfolio=portfolio, symbol=symbol),
             *circuit_breakers(portfolio=portfolio, market=market, symbol=symbol,
                               include_stream=include_stream)]
    lock = protection_lock(portfolio=portfolio, symbol=symbol, now=now)
    if lock is not None:
        stops.append(f"{lock.protection}: {lock.reason}")
    return stops


PROTECTION_CLASSES = {
    ProtectionKind.STOPLOSS_GUARD: protections.StoplossGuard,
    ProtectionKind.COOLDOWN: protections.CooldownPeriod,
    ProtectionKind.LOW_PROFIT: protections.LowProfitPairs,
    ProtectionKind.MAX_DRAWDOWN: protections.MaxDrawdown,
}


def protection_from(kind: str, params: dict):
    """The pure protection for a stored row: ``*_minutes`` params become timedeltas,
    percentages Decimals. ValueError/TypeError in words for bad params."""
    values = {}
    for key, value in (params or {}).items():
        if key.endswith("_minutes"):
            values[key.removesuffix("_minutes")] = timedelta(minutes=float(value))
        elif key.endswith("_pct"):
            values[key] = Decimal(str(value))
        else:
            values[key] = value
    return PROTECTION_CLASSES[kind](**values)


def _protections(portfolio: Portfolio) -> list:
    rows = RiskProtection.objects.filter(
        Q(portfolio__isnull=True) | Q(portfolio=portfolio), owner_id=portfolio.owner_id,
        enabled=True)
    made = []
    for row in rows:
        try:
            made.append(protection_from(row.kind, row.params))
        except (TypeError, ValueError, KeyError):
            logger.warning("protection %s has invalid params %r: ignored", row.pk, row.params)
    return made


def closed_trades(portfolio: Portfolio) -> list[protections.ClosedTrade]:
    """One closed trade per sell order that reduced a spot position: its profit in percent of
    the cost it sold, and why it exited (the bot's tag: stop_loss, trailing_stop, ...)."""
    from orders.accounting import PositionState, apply_fill

    states: dict[str, PositionState] = {}
    trades: dict[int, list] = {}
    fills = (Fill.objects.filter(order__portfolio=portfolio, market="spot")
             .select_related("order").order_by("executed_at", "trade_id"))
    for fill in fills:
        symbol_rules = rules_for("spot", fill.symbol)
        if symbol_rules is None:
            continue
        before = states.get(fill.symbol, PositionState())
        after = apply_fill(before, fill.amounts(), base_asset=symbol_rules.base_asset,
                           quote_asset=symbol_rules.quote_asset)
        states[fill.symbol] = after
        if fill.side == "SELL" and before.quantity > 0:
            sold_cost = before.cost * min(fill.quantity, before.quantity) / before.quantity
            pnl = after.realised_pnl - before.realised_pnl
            trades.setdefault(fill.order_id, []).append((fill, pnl, sold_cost))
    return [_closed_trade(parts) for parts in trades.values()]


def _closed_trade(parts) -> protections.ClosedTrade:
    last = parts[-1][0]
    pnl = sum((p for _, p, _ in parts), ZERO)
    cost = sum((c for _, _, c in parts), ZERO)
    return protections.ClosedTrade(
        symbol=last.symbol, closed_at=last.executed_at,
        profit_pct=pnl / cost * 100 if cost else ZERO,
        exit_reason=last.order.tag or "manual")


# --- the check ---------------------------------------------------------------------------------

def pretrade_check(*, portfolio: Portfolio, symbol: str, side: str, notional: Decimal | None,
                   reduces_position: bool, leverage: Decimal = Decimal(1), bot=None,
                   market: str = "spot", now: datetime | None = None) -> Check:
    """Approve, reduce or refuse (RiskRefused) one order. Call it holding the portfolio's row.
    ``notional`` is the order's value in the quote asset (None: no price to value it at)."""
    side = side.lower()
    if reduces_position:
        return Check("exit", notional, f"{side} reduces a position: no entry limit applies")
    hard = entry_stops(portfolio=portfolio, market=market, symbol=symbol,
                       include_stream=bot is not None, now=now)
    if hard:
        raise RiskRefused("; ".join(hard))
    limits = limits_for(portfolio=portfolio, symbol=symbol, bot=bot)
    if limits == rules.Limits():
        return Check("approve", notional, "no risk limits set")
    if notional is None or notional <= 0:
        raise RiskRefused(f"risk limits apply to {symbol} but there is no price to value this "
                          "order at: give a price or wait for market data")
    state = account_state(portfolio=portfolio, limits=limits, symbol=symbol, now=now)
    verdict = rules.check(rules.Intent(symbol=symbol, side=side, notional=notional,
                                       leverage=leverage), state, limits,
                          quote_asset=portfolio.quote_asset)
    if verdict.action == "reject":
        raise RiskRefused(verdict.message)
    return Check(verdict.action, verdict.notional, verdict.message)


def risk_summary(*, portfolio: Portfolio) -> dict:
    """What the pages show: the limits in force, active blocks and open circuit breakers."""
    limits = portfolio_limits(portfolio)
    return {
        "limits": {k: v for k, v in vars(limits).items() if v is not None},
        "blocks": list(EntryBlock.objects.active().filter(portfolio=portfolio)),
        "breakers": circuit_breakers(portfolio=portfolio),
    }


# --- an order's terms, as the check sees them -------------------------------------------------

def order_notional(*, quantity: Decimal | None, quote_quantity: Decimal | None,
                   price: Decimal | None) -> Decimal | None:
    """The order's value in the quote asset (None: nothing to value it at)."""
    if quote_quantity is not None:
        return quote_quantity
    if quantity is None or price is None:
        return None
    return quantity * price


def reduces_position(*, portfolio: Portfolio, market: str, symbol: str, side: str,
                     quantity: Decimal | None, reduce_only: bool) -> bool:
    """Whether the order can only shrink a position: every spot sell (spot cannot go short:
    it sells what is held), a reduce-only futures order, or a futures order against the
    position no larger than it."""
    if market == "spot":
        return side.upper() == "SELL"
    if reduce_only:
        return True
    held = (Position.objects.filter(portfolio=portfolio, market=market, symbol=symbol)
            .values_list("quantity", flat=True).first()) or ZERO
    sign = 1 if side.upper() == "BUY" else -1
    return held * sign < 0 and quantity is not None and quantity <= abs(held)


def leverage_of(*, portfolio: Portfolio, market: str, symbol: str) -> Decimal:
    if market != "futures":
        return Decimal(1)
    from orders.models import FuturesSetting

    setting = FuturesSetting.objects.filter(portfolio=portfolio, symbol=symbol).first()
    return Decimal(setting.leverage if setting is not None else 1)
