"""The simulated USD-M futures account of one backtest: a wallet and one position, long or
short, on isolated margin. Float64 arithmetic; the same bookkeeping as
``orders.accounting.apply_futures_fill`` (signed quantity, entry price, fees in the quote
asset, realised PnL into the wallet).

* margin = |quantity| x entry / leverage, taken from the wallet when the position opens;
* equity = wallet + quantity x (price - entry);
* liquidation: when the margin left equals the maintenance margin (a fraction ``mmr`` of the
  position's value): a long at entry x (1 - 1/L) / (1 - mmr), a short at
  entry x (1 + 1/L) / (1 + mmr). The position is then closed at its bankruptcy price,
  entry x (1 -/+ 1/L): its whole margin is lost, and never more (isolated margin).

The equity curve and the risk gate read the same events as the spot ``Account``:
(bar, cash, held) with cash = wallet - quantity x entry and held = quantity, so that
equity = cash + held x close for spot and futures alike.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from backtests.engine.account import Account
from backtests.engine.results import Trade


@dataclass
class FuturesAccount(Account):
    """``cash`` is the wallet balance; ``held`` the signed position; ``cost`` its margin."""

    leverage: int = 1
    maintenance: float = 0.004
    entry: float = 0.0
    funding_paid: float = 0.0
    event_free: list[float] = field(default_factory=list)

    # --- reading ---------------------------------------------------------------------------

    def sellable(self) -> float:
        return abs(self.held)

    def is_flat(self) -> bool:
        return self.held == 0

    @property
    def average_price(self) -> float:
        return self.entry

    @property
    def side(self) -> str:
        return "long" if self.held > 0 else "short"

    @property
    def margin(self) -> float:
        return abs(self.held) * self.entry / self.leverage

    def equity(self, price: float) -> float:
        return self.cash + self.held * (price - self.entry)

    def liquidation_price(self) -> float:
        """Where the margin left equals the maintenance margin (0: a 1x long never is)."""
        if self.held > 0:
            return max(self.entry * (1 - 1 / self.leverage) / (1 - self.maintenance), 0.0)
        return self.entry * (1 + 1 / self.leverage) / (1 + self.maintenance)

    def bankruptcy_price(self) -> float:
        """Where the margin is gone: a liquidated position closes here."""
        if self.held > 0:
            return self.entry * (1 - 1 / self.leverage)
        return self.entry * (1 + 1 / self.leverage)

    def free_before(self, bar: int, starting_cash: float) -> float:
        index = bisect.bisect_left(self.event_bars, bar) - 1
        return self.event_free[index] if index >= 0 else starting_cash

    # --- fills -----------------------------------------------------------------------------

    def open_position(self, *, bar: int, side: str, price: float, quantity: float,
                      signal_bar: int) -> Trade:
        fee = quantity * price * self.costs.taker_fee
        self.held, self.entry = (quantity if side == "long" else -quantity), price
        self.cash -= fee
        self.fees_paid += fee
        trade = Trade(entry_bar=bar, entry_price=price, quantity=quantity, entry_fee=fee,
                      signal_bar=signal_bar, side=side, cost=self.margin)
        self.trades.append(trade)
        self._record(bar, False)
        return trade

    def pay_funding(self, *, bar: int, price: float, rate: float) -> None:
        """One funding payment at ``price`` (the mark price, here the candle's open): a
        positive rate makes longs pay shorts."""
        payment = self.held * price * rate
        self.cash -= payment
        self.funding_paid += payment
        trade = self.open_trade
        if trade is not None:
            trade.funding += payment
        self._record(bar, False)

    def close_position(self, *, bar: int, price: float, reason: str, fee_rate: float) -> Trade:
        trade = self.open_trade
        fee = abs(self.held) * price * fee_rate
        self.cash += self.held * (price - self.entry) - fee
        self.fees_paid += fee
        trade.exit_fee += fee
        trade.exit_bar, trade.exit_price, trade.exit_reason = bar, price, reason
        self._settle(trade)
        self.held = self.entry = 0.0
        self._record(bar, True)
        return trade

    def mark_open_trade(self, bar: int, price: float) -> None:
        trade = self.open_trade
        if trade is None:
            return
        trade.exit_bar, trade.exit_price, trade.exit_reason = bar, price, "open_at_end"
        self._settle(trade, unrealised=self.held * (price - self.entry))

    def _settle(self, trade: Trade, unrealised: float | None = None) -> None:
        gross = (trade.exit_price - trade.entry_price) * trade.quantity
        if trade.side == "short":
            gross = -gross
        if unrealised is not None:
            gross = unrealised
        trade.pnl = gross - trade.fees - trade.funding
        trade.return_pct = trade.pnl / trade.cost * 100 if trade.cost else 0.0

    def _record(self, bar: int, flat: bool) -> None:
        # The curve's "cash": equity = cash + held x close, with cash = wallet - held x entry.
        wallet, self.cash = self.cash, self.cash - self.held * self.entry
        super()._record(bar, flat)
        self.cash = wallet
        free = wallet - self.margin
        if len(self.event_free) == len(self.event_bars):
            self.event_free[-1] = free
        else:
            self.event_free.append(free)
