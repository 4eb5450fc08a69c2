"""Stop loss, take profit and trailing stop, checked against one closed bar's high and low.

Percentages are in percent (5 means 5%); 0 turns an exit off. Levels are measured from the
position's average price, the trailing stop from the highest price since entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from bots.strategies.context import HUNDRED, ONE, ZERO, Intent, PositionView, as_decimal
from bots.strategies.wording import number, percent


def protective_exit(
    position: PositionView,
    bar: Mapping[str, Any],
    stop_loss_pct: Decimal,
    take_profit_pct: Decimal,
    trailing_stop_pct: Decimal,
) -> Intent | None:
    """A sell-all intent when this bar reached a protective level, else None."""
    if position.is_flat:
        return None
    # OHLC does not say whether the high or the low came first. When a bar reaches both a
    # stop and the take profit we assume the stop did: the worse outcome, so a backtest
    # never books a profit the market may not have offered.
    return _stop_exit(position, bar, stop_loss_pct, trailing_stop_pct) or _take_profit_exit(
        position, bar, take_profit_pct
    )


def _stop_exit(
    position: PositionView, bar: Mapping[str, Any], stop_loss_pct: Decimal, trailing_pct: Decimal
) -> Intent | None:
    candidates = [
        level
        for level in (
            _stop_loss_level(position, stop_loss_pct),
            _trailing_level(position, bar, trailing_pct),
        )
        if level is not None
    ]
    if not candidates:
        return None
    # The higher of the two stops is the one a falling price meets first.
    tag, level, why = max(candidates, key=lambda candidate: candidate[1])
    low = as_decimal(bar["low"])
    if low > level:
        return None
    name = tag.replace("_", " ")
    return Intent(
        side="sell",
        close_fraction=ONE,
        tag=tag,
        reason=f"low {number(low)} reached the {name} at {number(level)} ({why})",
        # A bar that opened below the stop gapped through it: a stop order fills at the open.
        trigger_price=min(level, as_decimal(bar["open"])),
    )


def _stop_loss_level(position: PositionView, pct: Decimal) -> tuple[str, Decimal, str] | None:
    if pct <= ZERO:
        return None
    level = position.average_price * (ONE - pct / HUNDRED)
    why = f"{percent(pct)} below the average price {number(position.average_price)}"
    return "stop_loss", level, why


def _trailing_level(
    position: PositionView, bar: Mapping[str, Any], pct: Decimal
) -> tuple[str, Decimal, str] | None:
    if pct <= ZERO:
        return None
    # The current bar's high counts: it is the usual assumption (freqtrade makes it too) that
    # the high came before the low; when the close is below the level that is certain anyway.
    highest = max(position.highest_price_since_entry or position.average_price,
                  as_decimal(bar["high"]))
    level = highest * (ONE - pct / HUNDRED)
    why = f"{percent(pct)} below the highest price {number(highest)} since entry"
    return "trailing_stop", level, why


def _take_profit_exit(
    position: PositionView, bar: Mapping[str, Any], pct: Decimal
) -> Intent | None:
    if pct <= ZERO:
        return None
    level = position.average_price * (ONE + pct / HUNDRED)
    high = as_decimal(bar["high"])
    if high < level:
        return None
    why = f"{percent(pct)} above the average price {number(position.average_price)}"
    return Intent(
        side="sell",
        close_fraction=ONE,
        tag="take_profit",
        reason=f"high {number(high)} reached the take profit at {number(level)} ({why})",
        # A limit sell resting at the level fills at the open when the bar gapped above it.
        trigger_price=max(level, as_decimal(bar["open"])),
    )
