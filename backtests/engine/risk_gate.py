"""The risk rules and protections of ``risk`` applied to a backtest's entries, as the live
bot applies them: the same ``risk.rules.check`` on the account as the backtest has it at the
decision's close, the same protections on the trades closed so far. Exits are never checked
(they only reduce a position)."""

from __future__ import annotations

import bisect
from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from backtests.engine.account import Account
from backtests.engine.config import BacktestConfig
from backtests.engine.results import Trade
from bots.strategies import as_decimal
from risk import protections
from risk.rules import AccountState
from risk.rules import Intent as RiskIntent
from risk.rules import check as risk_check

MINUTE = timedelta(minutes=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class RiskGate:
    """Asks ``approve`` before every entry. Cheap when nothing is configured."""

    def __init__(self, config: BacktestConfig, account: Account, close: np.ndarray,
                 close_times: pd.DatetimeIndex):
        self.limits = config.limits if config.has_limits else None
        self.protections = tuple(config.protections)
        self.symbol = config.filters.symbol
        self.quote = config.filters.quote_asset
        self.account, self.close, self.close_times = account, close, close_times
        self.starting_cash = float(config.cash)
        self.closed: list[protections.ClosedTrade] = []
        self.order_times: deque[datetime] = deque()
        self._peak, self._peak_bar = self.starting_cash, -1
        self._curve: deque[tuple[datetime, Decimal]] = deque()  # MaxDrawdown's window
        self._curve_bar = -1
        self._close_us = close_times.as_unit("us").asi8

    @property
    def active(self) -> bool:
        return self.limits is not None or bool(self.protections)

    def approve(self, *, bar: int, now: datetime, notional: float, side: str = "buy",
                leverage: int = 1) -> tuple[float, str]:
        """(notional allowed, why it was cut or refused): 0 means refused. A futures short's
        entry is a sell; ``leverage`` is the position's (futures)."""
        lock = self._lock(bar, now)
        if lock is not None:
            return 0.0, f"protection {lock.protection}: {lock.reason}"
        if self.limits is None:
            return notional, ""
        verdict = risk_check(
            RiskIntent(symbol=self.symbol, side=side, notional=as_decimal(notional),
                       leverage=Decimal(leverage)),
            self._account_state(bar, now), self.limits, quote_asset=self.quote)
        if verdict.action == "approve":
            return notional, ""
        return float(verdict.notional), f"risk: {verdict.message}"

    def order_sent(self, bar: int) -> None:
        """An order decided on ``bar``'s close was sent (counted for orders per minute)."""
        if self.limits is not None and self.limits.max_orders_per_minute is not None:
            self.order_times.append(self.close_times[bar].to_pydatetime())

    def trade_closed(self, trade: Trade, *, closed_at: datetime) -> None:
        """A trade closed: the protections judge the next entries by it."""
        self.closed.append(protections.ClosedTrade(
            symbol=self.symbol, closed_at=closed_at,
            profit_pct=as_decimal(trade.return_pct), exit_reason=trade.exit_reason))

    # --- protections -------------------------------------------------------------------------

    def _lock(self, bar: int, now: datetime) -> protections.Lock | None:
        if not self.protections:
            return None
        curve = self._equity_points(bar, now) if self._wants_curve() else ()
        locks = protections.active_locks(self.protections, self.closed, now=now,
                                         equity_curve=curve)
        return protections.is_locked(locks, self.symbol, now)

    def _wants_curve(self) -> bool:
        return any(isinstance(p, protections.MaxDrawdown) for p in self.protections)

    def _equity_points(self, bar: int, now: datetime) -> list[tuple[datetime, Decimal]]:
        """Equity at each close within the longest MaxDrawdown window, kept as a sliding
        window: each close is valued once (it cannot change once later candles trade)."""
        longest = max(p.lookback + p.stop_duration for p in self.protections
                      if isinstance(p, protections.MaxDrawdown))
        for i in range(self._curve_bar + 1, bar + 1):
            closed = EPOCH + timedelta(microseconds=int(self._close_us[i]))
            self._curve.append((closed, as_decimal(self._equity_at(i))))
        self._curve_bar = max(self._curve_bar, bar)
        while self._curve and self._curve[0][0] <= now - longest:
            self._curve.popleft()
        return list(self._curve)

    # --- the account at the decision ---------------------------------------------------------

    def _account_state(self, bar: int, now: datetime) -> AccountState:
        cash, held = self.account.state_before(bar + 1, self.starting_cash)
        equity = cash + held * self.close[bar]
        return AccountState(
            equity=as_decimal(equity),
            equity_peak=as_decimal(self._equity_peak(bar)),
            day_start_equity=as_decimal(self._day_start_equity(now)),
            free_balance=as_decimal(self.account.free_before(bar + 1, self.starting_cash)),
            # Signed: a futures short is a negative position.
            positions={self.symbol: as_decimal(held * self.close[bar])} if held else {},
            orders_last_minute=self._orders_last_minute(now),
        )

    def _equity_at(self, bar: int) -> float:
        cash, held = self.account.state_before(bar + 1, self.starting_cash)
        return cash + held * self.close[bar]

    def _equity_peak(self, bar: int) -> float:
        """The highest equity at any close up to ``bar``, scanning only the bars not yet
        seen: between two fills equity is cash + held x close, so each stretch needs one
        max over its closes."""
        if bar > self._peak_bar:
            self._peak = max(self._peak, self._highest_between(self._peak_bar + 1, bar))
            self._peak_bar = bar
        return self._peak

    def _highest_between(self, first: int, last: int) -> float:
        account, highest = self.account, -np.inf
        start = bisect.bisect_right(account.event_bars, first)
        edges = [first] + account.event_bars[start:bisect.bisect_right(account.event_bars, last)]
        for begin, end in zip(edges, [*edges[1:], last + 1], strict=True):
            if end <= begin:
                continue
            cash, held = account.state_before(begin + 1, self.starting_cash)
            closes = self.close[begin:end]
            best = closes.max() if held > 0 else closes.min() if held < 0 else 0.0
            highest = max(highest, cash + held * best)
        return highest

    def _day_start_equity(self, now: datetime) -> float:
        midnight = pd.Timestamp(now).floor("D")
        before = int(self.close_times.searchsorted(midnight, side="right")) - 1
        return self._equity_at(before) if before >= 0 else self.starting_cash

    def _orders_last_minute(self, now: datetime) -> int:
        while self.order_times and self.order_times[0] <= now - MINUTE:
            self.order_times.popleft()
        return len(self.order_times)
