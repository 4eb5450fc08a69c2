"""Protections after freqtrade's: recent closed trades (or the equity curve) lock a symbol or
the whole portfolio for a while. Pure, so live bots and backtests apply the same ones.

Each protection is stateless: ``locks`` looks at the trades closed up to ``now`` and asks, at
every moment that could have triggered it within the last ``stop_duration`` (a close, or an
equity point), whether it did; a lock runs ``stop_duration`` from the latest trigger. So a
lock lasts its full duration even after the triggering trades leave the lookback window, and
a backtest replaying the same trades sees the same locks as the live bot did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol

ZERO = Decimal(0)
HUNDRED = Decimal(100)
STOP_REASONS = frozenset({"stop_loss", "trailing_stop"})
HOUR = timedelta(hours=1)

EquityCurve = Sequence[tuple[datetime, Decimal]]


@dataclass(frozen=True)
class ClosedTrade:
    symbol: str
    closed_at: datetime
    profit_pct: Decimal
    exit_reason: str


@dataclass(frozen=True)
class Lock:
    """No new entries on ``symbol`` (or on any symbol, for the portfolio scope) before
    ``until``."""

    scope: Literal["symbol", "portfolio"]
    symbol: str | None
    until: datetime
    reason: str
    protection: str

    def covers(self, symbol: str, now: datetime) -> bool:
        return now < self.until and (self.scope == "portfolio" or self.symbol == symbol)


class Protection(Protocol):
    def locks(self, trades: Sequence[ClosedTrade], *, now: datetime,
              equity_curve: EquityCurve = ()) -> list[Lock]: ...


@dataclass(frozen=True)
class StoplossGuard:
    """``trade_limit`` stop-loss or trailing-stop exits within ``lookback`` lock the portfolio
    (or, with ``only_per_symbol``, each symbol that had them) for ``stop_duration``."""

    trade_limit: int = 4
    lookback: timedelta = HOUR
    stop_duration: timedelta = HOUR
    only_per_symbol: bool = False

    def locks(self, trades: Sequence[ClosedTrade], *, now: datetime,
              equity_curve: EquityCurve = ()) -> list[Lock]:
        stops = [t for t in trades if t.exit_reason in STOP_REASONS]
        if not self.only_per_symbol:
            lock = self._lock(stops, None, now)
            return [lock] if lock else []
        symbols = sorted({t.symbol for t in stops})
        return [lock for s in symbols if (lock := self._lock(stops, s, now))]

    def _lock(self, stops: list[ClosedTrade], symbol: str | None, now: datetime) -> Lock | None:
        mine = [t for t in stops if symbol is None or t.symbol == symbol]
        for at in _trigger_times((t.closed_at for t in mine), now, self.stop_duration):
            count = len(_within(mine, at, self.lookback))
            if count >= self.trade_limit:
                return self._make(count, symbol, at, now)
        return None

    def _make(self, count: int, symbol: str | None, at: datetime, now: datetime) -> Lock:
        until = at + self.stop_duration
        where, locked = (f"on {symbol}", "locked") if symbol else (
            "across all symbols", "every symbol locked")
        reason = (f"{_count(count, 'stop-loss', 'stop-losses')} {where} in the "
                  f"{_duration(self.lookback)} up to {_time(at, now)} (limit "
                  f"{self.trade_limit}): {locked} until {_time(until, now)}")
        return Lock("symbol" if symbol else "portfolio", symbol, until, reason, "StoplossGuard")


@dataclass(frozen=True)
class CooldownPeriod:
    """After any exit, no new entry on that symbol for ``stop_duration`` from the close."""

    stop_duration: timedelta = HOUR

    def locks(self, trades: Sequence[ClosedTrade], *, now: datetime,
              equity_curve: EquityCurve = ()) -> list[Lock]:
        latest: dict[str, ClosedTrade] = {}
        for t in trades:
            if t.closed_at <= now and (t.symbol not in latest
                                       or t.closed_at > latest[t.symbol].closed_at):
                latest[t.symbol] = t
        return [self._lock(latest[s], now) for s in sorted(latest)
                if now < latest[s].closed_at + self.stop_duration]

    def _lock(self, trade: ClosedTrade, now: datetime) -> Lock:
        until = trade.closed_at + self.stop_duration
        reason = (f"{trade.symbol} closed a trade at {_time(trade.closed_at, now)} "
                  f"({trade.exit_reason}); cooldown {_duration(self.stop_duration)}: "
                  f"locked until {_time(until, now)}")
        return Lock("symbol", trade.symbol, until, reason, "CooldownPeriod")


@dataclass(frozen=True)
class LowProfitPairs:
    """A symbol with at least ``trade_limit`` trades within ``lookback`` whose profits sum
    below ``required_profit_pct`` is locked for ``stop_duration``."""

    lookback: timedelta = timedelta(hours=6)
    trade_limit: int = 2
    required_profit_pct: Decimal = ZERO
    stop_duration: timedelta = HOUR

    def locks(self, trades: Sequence[ClosedTrade], *, now: datetime,
              equity_curve: EquityCurve = ()) -> list[Lock]:
        symbols = sorted({t.symbol for t in trades})
        return [lock for s in symbols
                if (lock := self._lock([t for t in trades if t.symbol == s], s, now))]

    def _lock(self, mine: list[ClosedTrade], symbol: str, now: datetime) -> Lock | None:
        for at in _trigger_times((t.closed_at for t in mine), now, self.stop_duration):
            window = _within(mine, at, self.lookback)
            profit = sum((t.profit_pct for t in window), ZERO)
            if len(window) >= self.trade_limit and profit < self.required_profit_pct:
                return self._make(symbol, profit, len(window), at, now)
        return None

    def _make(self, symbol: str, profit: Decimal, count: int, at: datetime,
              now: datetime) -> Lock:
        until = at + self.stop_duration
        reason = (f"{symbol} made {_num(profit)}% over {_count(count, 'trade')} in the "
                  f"{_duration(self.lookback)} up to {_time(at, now)} (required "
                  f"{_num(self.required_profit_pct)}% over at least "
                  f"{_count(self.trade_limit, 'trade')}): locked until {_time(until, now)}")
        return Lock("symbol", symbol, until, reason, "LowProfitPairs")


@dataclass(frozen=True)
class MaxDrawdown:
    """A drawdown of the equity curve within ``lookback`` beyond ``max_drawdown_pct`` locks
    the portfolio for ``stop_duration``. The curve is (time, equity) in time order."""

    lookback: timedelta = timedelta(days=1)
    max_drawdown_pct: Decimal = Decimal(10)
    stop_duration: timedelta = HOUR

    def locks(self, trades: Sequence[ClosedTrade], *, now: datetime,
              equity_curve: EquityCurve = ()) -> list[Lock]:
        start = now - self.stop_duration - self.lookback
        curve = [(at, equity) for at, equity in equity_curve if start < at <= now]
        for at in _trigger_times((at for at, _ in curve), now, self.stop_duration):
            drawdown, peak, low = _max_drawdown(
                [equity for t, equity in curve if at - self.lookback < t <= at])
            if drawdown > self.max_drawdown_pct:
                until = at + self.stop_duration
                reason = (f"equity fell {_num(drawdown)}% (from {_num(peak)} to {_num(low)}) "
                          f"in the {_duration(self.lookback)} up to {_time(at, now)} (max "
                          f"{_num(self.max_drawdown_pct)}%): every symbol locked until "
                          f"{_time(until, now)}")
                return [Lock("portfolio", None, until, reason, "MaxDrawdown")]
        return []


def active_locks(protections: Iterable[Protection], trades: Sequence[ClosedTrade], *,
                 now: datetime, equity_curve: EquityCurve = ()) -> list[Lock]:
    """Every lock the protections hold at ``now``."""
    return [lock for p in protections
            for lock in p.locks(trades, now=now, equity_curve=equity_curve)
            if now < lock.until]


def is_locked(locks: Iterable[Lock], symbol: str, now: datetime) -> Lock | None:
    """The lock that keeps ``symbol`` closed longest at ``now`` (a portfolio lock covers every
    symbol), or ``None``."""
    covering = [lock for lock in locks if lock.covers(symbol, now)]
    return max(covering, key=lambda lock: lock.until, default=None)


def _trigger_times(times: Iterable[datetime], now: datetime,
                   stop_duration: timedelta) -> list[datetime]:
    """Moments whose trigger would still hold a lock at ``now``, latest first."""
    return sorted({t for t in times if now - stop_duration < t <= now}, reverse=True)


def _within(trades: Iterable[ClosedTrade], at: datetime,
            lookback: timedelta) -> list[ClosedTrade]:
    return [t for t in trades if at - lookback < t.closed_at <= at]


def _max_drawdown(equities: Sequence[Decimal]) -> tuple[Decimal, Decimal, Decimal]:
    """The deepest fall from a running peak, in percent, with that peak and low."""
    worst = (ZERO, ZERO, ZERO)
    peak = None
    for equity in equities:
        peak = equity if peak is None or equity > peak else peak
        if peak > 0 and (fall := (peak - equity) / peak * HUNDRED) > worst[0]:
            worst = (fall, peak, equity)
    return worst


def _duration(span: timedelta) -> str:
    """"1 day", "3 days", "6 h", "60 min", "90 min", "45 s"."""
    seconds = int(span.total_seconds())
    days, hours, minutes = divmod(seconds, 86400), divmod(seconds, 3600), divmod(seconds, 60)
    if seconds and not days[1]:
        return f"{days[0]} day" + ("s" if days[0] != 1 else "")
    if hours[0] > 1 and not hours[1]:
        return f"{hours[0]} h"
    return f"{minutes[0]} min" if seconds and not minutes[1] else f"{seconds} s"


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def _time(at: datetime, now: datetime) -> str:
    """"14:05 UTC", with the date when it is not ``now``'s day."""
    at, now = at.astimezone(UTC), now.astimezone(UTC)
    return at.strftime("%H:%M UTC" if at.date() == now.date() else "%Y-%m-%d %H:%M UTC")


def _num(value: Decimal) -> str:
    value = value.quantize(Decimal("0.01")) if value.as_tuple().exponent < -2 else value
    return "0" if value == 0 else f"{value.normalize():f}"
