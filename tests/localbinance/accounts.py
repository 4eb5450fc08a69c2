"""Accounts, API keys and balances (spot free/locked, USD-M wallet and positions)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal

from . import errors
from .decimals import ZERO, D


@dataclass
class ApiKey:
    """An API key and what it may do (mirrors GET /sapi/v1/account/apiRestrictions)."""

    key: str
    secret: str
    account: Account
    can_trade: bool = True
    enable_futures: bool = True
    enable_reading: bool = True
    enable_withdrawals: bool = False
    ip_restrict: bool = False
    create_time: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


class SpotWallet:
    """Free/locked balances; records which assets changed for outboundAccountPosition."""

    def __init__(self, balances: dict[str, Decimal]) -> None:
        self.balances: dict[str, Balance] = {a: Balance(free=D(v)) for a, v in balances.items()}
        self.changed: list[str] = []

    def get(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    def _touch(self, asset: str) -> None:
        if asset not in self.changed:
            self.changed.append(asset)

    def take_changes(self) -> list[str]:
        changed, self.changed = self.changed, []
        return changed

    def require_free(self, asset: str, amount: Decimal) -> None:
        if self.get(asset).free < amount:
            raise errors.new_order_rejected(errors.MSG_INSUFFICIENT_BALANCE)

    def lock(self, asset: str, amount: Decimal) -> None:
        self.require_free(asset, amount)
        balance = self.get(asset)
        balance.free -= amount
        balance.locked += amount
        self._touch(asset)

    def unlock(self, asset: str, amount: Decimal) -> None:
        balance = self.get(asset)
        amount = min(amount, balance.locked)
        balance.locked -= amount
        balance.free += amount
        self._touch(asset)

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        balance = self.get(asset)
        balance.locked -= amount
        self._touch(asset)

    def spend_free(self, asset: str, amount: Decimal) -> None:
        self.require_free(asset, amount)
        self.get(asset).free -= amount
        self._touch(asset)

    def credit(self, asset: str, amount: Decimal) -> None:
        self.get(asset).free += amount
        self._touch(asset)

    def set_free(self, asset: str, amount: Decimal) -> None:
        self.get(asset).free = amount
        self._touch(asset)


@dataclass
class Position:
    """One-way mode (positionSide BOTH) position of one symbol."""

    symbol: str
    amount: Decimal = ZERO  # signed: > 0 long, < 0 short
    entry_price: Decimal = ZERO
    leverage: int = 20
    margin_type: str = "cross"
    isolated_wallet: Decimal = ZERO
    realized_pnl: Decimal = ZERO  # accumulated, reported as "cr" in ACCOUNT_UPDATE
    update_time: int = 0

    def apply_fill(self, signed_qty: Decimal, price: Decimal) -> Decimal:
        """Add a fill; returns the realized PnL of the part that reduced the position."""
        realized = ZERO
        if self.amount == 0 or (self.amount > 0) == (signed_qty > 0):
            notional = self.entry_price * abs(self.amount) + price * abs(signed_qty)
            self.amount += signed_qty
            self.entry_price = notional / abs(self.amount)
            return realized
        closing = min(abs(signed_qty), abs(self.amount))
        direction = 1 if self.amount > 0 else -1
        realized = (price - self.entry_price) * closing * direction
        self.amount += signed_qty
        if self.amount == 0:
            self.entry_price = ZERO
        elif (self.amount > 0) != (direction > 0):  # flipped through zero
            self.entry_price = price
        self.realized_pnl += realized
        return realized


class FuturesWallet:
    def __init__(self, balances: dict[str, Decimal]) -> None:
        self.balances: dict[str, Decimal] = {a: D(v) for a, v in balances.items()}
        self.positions: dict[str, Position] = {}
        self.update_time = 0

    def position(self, symbol: str) -> Position:
        return self.positions.setdefault(symbol, Position(symbol))

    def wallet(self, asset: str) -> Decimal:
        return self.balances.get(asset, ZERO)

    def add(self, asset: str, amount: Decimal) -> None:
        self.balances[asset] = self.wallet(asset) + amount


class Account:
    """A Binance account: spot wallet, USD-M wallet and the API keys bound to it."""

    def __init__(
        self,
        name: str,
        spot_balances: dict[str, Decimal],
        futures_balances: dict[str, Decimal],
        uid: int,
    ) -> None:
        self.name = name
        self.uid = uid
        self.spot = SpotWallet(spot_balances)
        self.futures = FuturesWallet(futures_balances)
        self.update_time = 0
