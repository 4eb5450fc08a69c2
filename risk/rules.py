"""Pre-trade risk checks: pure, shared by live trading, paper trading and the backtester.

Every order intent, whoever sends it, goes through ``check``: it is approved, reduced to the
largest size that fits, or rejected, with the deciding rule and the numbers in words. Money is
``Decimal`` in the quote asset; notionals of positions are signed (a short is negative).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Literal

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
DEFAULT_CORRELATION_THRESHOLD = Decimal("0.8")
MIN_CORRELATION_POINTS = 10

# For these a larger value is the tighter one; for every other field the smaller is.
_LARGER_IS_TIGHTER = frozenset({"min_free_balance"})


@dataclass(frozen=True)
class Limits:
    """Risk limits of one scope (global, user, portfolio, bot, symbol). ``None``: no limit.

    ``correlation_threshold`` is ``None`` for the default 0.8 so that a scope which does not
    set it cannot override another scope's choice when merged."""

    max_order_notional: Decimal | None = None
    max_position_notional: Decimal | None = None
    max_open_positions: int | None = None
    max_total_exposure: Decimal | None = None
    max_leverage: Decimal | None = None
    max_orders_per_minute: int | None = None
    max_daily_loss: Decimal | None = None
    max_daily_loss_pct: Decimal | None = None
    max_drawdown_pct: Decimal | None = None
    max_correlated_exposure: Decimal | None = None
    correlation_threshold: Decimal | None = None
    min_free_balance: Decimal | None = None

    @property
    def threshold(self) -> Decimal:
        if self.correlation_threshold is None:
            return DEFAULT_CORRELATION_THRESHOLD
        return self.correlation_threshold

    @classmethod
    def merged(cls, *scopes: Limits) -> Limits:
        """One set of limits from several scopes: the tightest value set in any scope wins
        (the smallest, except ``min_free_balance`` where the largest; a lower correlation
        threshold groups more symbols, so it is the tighter one)."""
        values = {}
        for f in fields(cls):
            given = [getattr(s, f.name) for s in scopes if getattr(s, f.name) is not None]
            pick = max if f.name in _LARGER_IS_TIGHTER else min
            values[f.name] = pick(given) if given else None
        return cls(**values)


@dataclass(frozen=True)
class Intent:
    """An order someone wants: ``notional`` is the quote amount asked for."""

    symbol: str
    side: Literal["buy", "sell"]
    notional: Decimal
    reduces_position: bool = False
    leverage: Decimal = ONE

    def __post_init__(self):
        if self.side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {self.side!r}")
        if self.notional <= 0:
            raise ValueError(f"notional must be positive, got {self.notional}")

    @property
    def sign(self) -> int:
        return 1 if self.side == "buy" else -1


@dataclass(frozen=True)
class AccountState:
    """The account as the check sees it. ``returns``: recent period returns per symbol, oldest
    first, for the correlation limit (symbols without them correlate with nothing)."""

    equity: Decimal
    equity_peak: Decimal
    day_start_equity: Decimal
    free_balance: Decimal
    positions: Mapping[str, Decimal] = field(default_factory=dict)
    orders_last_minute: int = 0
    returns: Mapping[str, Sequence[float]] = field(default_factory=dict)

    def held(self, symbol: str) -> Decimal:
        return self.positions.get(symbol, ZERO)


@dataclass(frozen=True)
class Verdict:
    """``notional`` is the approved amount (0 when rejected); ``rule`` the deciding limit's
    field name ("" when approved untouched); ``binding`` every limit that bound."""

    action: Literal["approve", "reduce", "reject"]
    notional: Decimal
    rule: str
    message: str
    binding: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Case:
    intent: Intent
    state: AccountState
    limits: Limits
    quote: str


@dataclass(frozen=True)
class _Bound:
    """What one limit allows: ``cap`` is the largest notional that fits, ``None`` for a hard
    stop that rejects the entry whatever its size. ``reason`` states the limit and the facts."""

    rule: str
    cap: Decimal | None
    reason: str


def check(intent: Intent, state: AccountState, limits: Limits, *,
          quote_asset: str = "USDT") -> Verdict:
    """Approve, reduce or reject one intent.

    Exits and reductions (``reduces_position=True``) are always approved: entry limits exist
    to stop risk growing, and blocking an exit would keep the risk they guard against. Entries
    are checked against every limit set: hard stops reject, size limits cap the notional, and
    the smallest cap wins (rejected when it leaves nothing)."""
    what = f"{intent.side} of {_num(intent.notional)} {quote_asset} on {intent.symbol}"
    if intent.reduces_position:
        return Verdict("approve", intent.notional, "",
                       f"{what} reduces a position, so no entry limit applies")
    case = _Case(intent, state, limits, quote_asset)
    bounds = [b for name, rule in RULES
              if getattr(limits, name) is not None and (b := rule(case)) is not None]
    binding = [b for b in bounds if b.cap is None or b.cap < intent.notional]
    if not binding:
        return Verdict("approve", intent.notional, "", f"{what} is within every limit")
    names = tuple(b.rule for b in binding)
    hard = [b for b in binding if b.cap is None]
    decider = hard[0] if hard else min(binding, key=lambda b: b.cap)
    asked = f"this {intent.side} of {_num(intent.notional)}"
    if decider.cap is None or decider.cap <= 0:
        return Verdict("reject", ZERO, decider.rule, f"{decider.reason}, so {asked} was rejected",
                       names)
    return Verdict("reduce", decider.cap, decider.rule,
                   f"{decider.reason}, so this {intent.side} was reduced from "
                   f"{_num(intent.notional)} to {_num(decider.cap)}", names)


# Hard stops: reject the entry outright when reached.

def _daily_loss(case: _Case) -> _Bound | None:
    limit, s = case.limits.max_daily_loss, case.state
    lost = s.day_start_equity - s.equity
    if lost < limit:
        return None
    return _Bound("max_daily_loss", None,
                  f"max daily loss is {_num(limit)} {case.quote}; {_num(lost)} has been lost "
                  f"today ({_num(s.day_start_equity)} at the day's start, {_num(s.equity)} now)")


def _daily_loss_pct(case: _Case) -> _Bound | None:
    limit, s = case.limits.max_daily_loss_pct, case.state
    if s.day_start_equity <= 0:
        return None
    lost = s.day_start_equity - s.equity
    lost_pct = lost / s.day_start_equity * HUNDRED
    if lost_pct < limit:
        return None
    allowed = s.day_start_equity * limit / HUNDRED
    return _Bound("max_daily_loss_pct", None,
                  f"max daily loss is {_num(limit)}% of the day's starting equity "
                  f"({_num(allowed)} of {_num(s.day_start_equity)} {case.quote}); "
                  f"{_num(lost_pct, 2)}% ({_num(lost)}) has been lost today")


def _drawdown(case: _Case) -> _Bound | None:
    limit, s = case.limits.max_drawdown_pct, case.state
    if s.equity_peak <= 0:
        return None
    drawdown = (s.equity_peak - s.equity) / s.equity_peak * HUNDRED
    if drawdown <= limit:
        return None
    return _Bound("max_drawdown_pct", None,
                  f"max drawdown is {_num(limit)}% from the equity peak of "
                  f"{_num(s.equity_peak)} {case.quote}; equity is {_num(s.equity)}, "
                  f"{_num(drawdown, 2)}% below it")


def _orders_per_minute(case: _Case) -> _Bound | None:
    limit, sent = case.limits.max_orders_per_minute, case.state.orders_last_minute
    if sent < limit:
        return None
    return _Bound("max_orders_per_minute", None,
                  f"max orders per minute is {limit}; {sent} were sent in the last minute")


def _leverage(case: _Case) -> _Bound | None:
    limit, asked = case.limits.max_leverage, case.intent.leverage
    if asked <= limit:
        return None
    return _Bound("max_leverage", None,
                  f"max leverage is {_num(limit)}x; this {case.intent.side} asks for "
                  f"{_num(asked)}x")


def _open_positions(case: _Case) -> _Bound | None:
    limit, symbol = case.limits.max_open_positions, case.intent.symbol
    open_symbols = sorted(sym for sym, notional in case.state.positions.items() if notional)
    if symbol in open_symbols or len(open_symbols) < limit:
        return None
    return _Bound("max_open_positions", None,
                  f"max open positions is {limit}; {len(open_symbols)} are open "
                  f"({', '.join(open_symbols) or 'none'}) and {symbol} is not one of them")


# Size limits: cap the notional. ``limit - sign * held`` is the largest notional that keeps
# |held + sign * notional| within the limit; an order against the position may go as far as
# it shrinks the position or lands within the limit on the other side.

def _order_notional(case: _Case) -> _Bound:
    limit = case.limits.max_order_notional
    return _Bound("max_order_notional", limit,
                  f"max order notional is {_num(limit)} {case.quote}")


def _position_notional(case: _Case) -> _Bound:
    limit, intent = case.limits.max_position_notional, case.intent
    held = case.state.held(intent.symbol)
    return _Bound("max_position_notional", limit - intent.sign * held,
                  f"max position notional for {intent.symbol} is {_num(limit)} {case.quote}; "
                  f"{_num(held)} is held")


def _total_exposure(case: _Case) -> _Bound:
    limit, intent, s = case.limits.max_total_exposure, case.intent, case.state
    total = sum((abs(n) for n in s.positions.values()), ZERO)
    others = total - abs(s.held(intent.symbol))
    return _Bound("max_total_exposure", limit - others - intent.sign * s.held(intent.symbol),
                  f"max total exposure is {_num(limit)} {case.quote}; {_num(total)} is open "
                  "across all symbols")


def _correlated_exposure(case: _Case) -> _Bound:
    limit, intent, s = case.limits.max_correlated_exposure, case.intent, case.state
    threshold = case.limits.threshold
    group = correlated_symbols(intent.symbol, s, threshold)
    others = sum((abs(s.held(sym)) for sym in group), ZERO)
    held = others + abs(s.held(intent.symbol))
    if group:
        where = (f"{intent.symbol} and {', '.join(group)} (returns correlated at "
                 f"{_num(threshold)} or more)")
    else:
        where = f"{intent.symbol} (no held symbol correlates at {_num(threshold)} or more)"
    return _Bound("max_correlated_exposure", limit - others - intent.sign * s.held(intent.symbol),
                  f"max correlated exposure is {_num(limit)} {case.quote}; {_num(held)} is held "
                  f"in {where}")


def _free_balance(case: _Case) -> _Bound:
    limit, intent, free = case.limits.min_free_balance, case.intent, case.state.free_balance
    # With leverage the order only ties up notional / leverage of the free balance.
    leverage = f" and leverage is {_num(intent.leverage)}x" if intent.leverage != ONE else ""
    return _Bound("min_free_balance", (free - limit) * intent.leverage,
                  f"min free balance is {_num(limit)} {case.quote}; {_num(free)} is free"
                  f"{leverage}")


RULES: tuple[tuple[str, Callable[[_Case], _Bound | None]], ...] = (
    ("max_daily_loss", _daily_loss),
    ("max_daily_loss_pct", _daily_loss_pct),
    ("max_drawdown_pct", _drawdown),
    ("max_orders_per_minute", _orders_per_minute),
    ("max_leverage", _leverage),
    ("max_open_positions", _open_positions),
    ("max_order_notional", _order_notional),
    ("max_position_notional", _position_notional),
    ("max_total_exposure", _total_exposure),
    ("max_correlated_exposure", _correlated_exposure),
    ("min_free_balance", _free_balance),
)


def correlated_symbols(symbol: str, state: AccountState, threshold: Decimal) -> list[str]:
    """Held symbols (other than ``symbol``) whose returns correlate with ``symbol``'s at
    ``threshold`` or more, sorted."""
    mine = state.returns.get(symbol, ())
    return sorted(
        other for other, notional in state.positions.items()
        if other != symbol and notional
        and (r := correlation(mine, state.returns.get(other, ()))) is not None
        and r >= float(threshold)
    )


def correlation(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Pearson correlation over the most recent points the two series share; ``None`` with
    fewer than ``MIN_CORRELATION_POINTS`` of them or when either series is constant."""
    n = min(len(a), len(b))
    if n < MIN_CORRELATION_POINTS:
        return None
    try:
        return statistics.correlation(list(a)[-n:], list(b)[-n:])
    except statistics.StatisticsError:
        return None


def _num(value: Decimal, places: int = 8) -> str:
    """A plain number for messages: at most ``places`` decimals, no trailing zeros."""
    value = Decimal(value)
    if value.as_tuple().exponent < -places:
        value = value.quantize(Decimal(1).scaleb(-places))
    if value == 0:
        return "0"
    return f"{value.normalize():f}"
