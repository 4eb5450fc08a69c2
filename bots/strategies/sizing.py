"""Position sizing: how much quote currency an entry spends, in exact Decimal.

The three rules return the uncapped amount; :func:`size_intent` picks one by name from a
bot's configuration and never spends more than the bot's allocation (spot cannot borrow).
Exchange rounding (LOT_SIZE, MIN_NOTIONAL) happens later, where the symbol's filters are known.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from bots.strategies.context import HUNDRED, ONE, ZERO

METHODS = ("fixed_quote", "allocation_fraction", "risk_per_trade")


class SizingError(ValueError):
    """A sizing configuration or input that cannot produce an amount."""


def fixed_quote(amount: Decimal) -> Decimal:
    """The same quote amount on every entry."""
    _require_positive("amount", amount)
    return amount


def fraction_of_allocation(allocation: Decimal, fraction: Decimal) -> Decimal:
    """A fraction (0 < f <= 1) of the money the bot is allowed to use."""
    _require_positive("allocation", allocation)
    if not ZERO < fraction <= ONE:
        raise SizingError(f"fraction must be above 0 and at most 1, got {fraction}")
    return allocation * fraction


def risk_per_trade(
    equity: Decimal, risk_fraction: Decimal, entry_price: Decimal, stop_price: Decimal
) -> Decimal:
    """Quote amount such that a fill at ``stop_price`` loses ``risk_fraction`` of ``equity``.

    quantity = equity * risk / (entry - stop); amount = quantity * entry.
    """
    _require_positive("equity", equity)
    _require_positive("entry price", entry_price)
    if not ZERO < risk_fraction < ONE:
        raise SizingError(f"risk fraction must be above 0 and below 1, got {risk_fraction}")
    if not ZERO < stop_price < entry_price:
        raise SizingError(
            f"the stop price {stop_price} must be above 0 and below the entry price "
            f"{entry_price} to size a long position by risk"
        )
    return equity * risk_fraction * entry_price / (entry_price - stop_price)


def size_intent(
    method: str,
    config: Mapping[str, Any],
    *,
    equity: Decimal,
    allocation: Decimal,
    entry_price: Decimal,
    stop_price: Decimal | None = None,
) -> Decimal:
    """Quote amount for an entry whose intent left the size open.

    ``config`` holds the method's settings, numbers as Decimal or strings (from JSON):
    fixed_quote {"amount"}, allocation_fraction {"fraction"}, risk_per_trade
    {"risk_fraction"} (and ``stop_price`` must be given, e.g. from the strategy's stop loss).
    """
    if method == "fixed_quote":
        amount = fixed_quote(_setting(config, "amount"))
    elif method == "allocation_fraction":
        amount = fraction_of_allocation(allocation, _setting(config, "fraction"))
    elif method == "risk_per_trade":
        if stop_price is None:
            raise SizingError("risk_per_trade needs a stop price: set stop_loss_pct on the bot")
        risk = _setting(config, "risk_fraction")
        amount = risk_per_trade(equity, risk, entry_price, stop_price)
    else:
        raise SizingError(f"unknown sizing method '{method}'; use one of {', '.join(METHODS)}")
    return min(amount, allocation)


# An entry is never scaled below this share of its size: a confidence of 0.01 that still
# passed the strategy's threshold should not place an order too small to matter (or to fill).
MIN_CONFIDENCE_SCALE = 0.1


def confidence_scale(confidence: float | None) -> float:
    """The share of the sized amount an entry spends at ``confidence`` (0..1): the
    confidence itself, clamped to [MIN_CONFIDENCE_SCALE, 1]; 1 when there is none (NaN or
    None: a strategy without a confidence, or before its first one)."""
    if confidence is None or confidence != confidence:
        return 1.0
    return min(1.0, max(MIN_CONFIDENCE_SCALE, float(confidence)))


def stop_price_for(entry_price: Decimal, stop_loss_pct: Decimal) -> Decimal | None:
    """The stop a strategy's ``stop_loss_pct`` (percent) puts under an entry; None when off."""
    if stop_loss_pct <= ZERO:
        return None
    return entry_price * (ONE - stop_loss_pct / HUNDRED)


def _setting(config: Mapping[str, Any], key: str) -> Decimal:
    if key not in config:
        raise SizingError(f"the sizing configuration needs '{key}'")
    try:
        return Decimal(str(config[key]))
    except InvalidOperation:
        raise SizingError(f"'{key}' must be a number, got {config[key]!r}") from None


def _require_positive(name: str, value: Decimal) -> None:
    if value <= ZERO:
        raise SizingError(f"{name} must be positive, got {value}")
