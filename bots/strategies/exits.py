"""Stop loss, take profit and trailing stop, checked against one closed bar's high and low.

Percentages are in percent (5 means 5%); 0 turns an exit off. Levels are measured from the
position's average price, the trailing stop from the highest price since entry. A short
(futures, in backtests) is the mirror: its stops sit above, its take profit below, its
trailing stop follows the lowest price since entry, and its exits are buys.
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
    """A close-all intent when this bar reached a protective level, else None."""
    if position.is_flat:
        return None
    if position.is_short:
        return _short_stop_exit(position, bar, stop_loss_pct, trailing_stop_pct) or (
            _short_take_profit_exit(position, bar, take_profit_pct))
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
    tag, level, why, standing = max(candidates, key=lambda candidate: candidate[1])
    low = as_decimal(bar["low"])
    if low > level:
        return None
    name = tag.replace("_", " ")
    opening = as_decimal(bar["open"])
    return Intent(
        side="sell",
        close_fraction=ONE,
        tag=tag,
        reason=f"low {number(low)} reached the {name} at {number(level)} ({why})",
        # A bar that opened below a stop already standing gapped through it: a stop order
        # fills at the open. A level this bar's own high raised came after the open.
        trigger_price=opening if opening <= standing else level,
    )


def _stop_loss_level(position: PositionView,
                     pct: Decimal) -> tuple[str, Decimal, str, Decimal] | None:
    """(tag, level, words, the level that stood before this bar opened)."""
    if pct <= ZERO:
        return None
    level = position.average_price * (ONE - pct / HUNDRED)
    why = f"{percent(pct)} below the average price {number(position.average_price)}"
    return "stop_loss", level, why, level


def _trailing_level(
    position: PositionView, bar: Mapping[str, Any], pct: Decimal
) -> tuple[str, Decimal, str, Decimal] | None:
    if pct <= ZERO:
        return None
    # The current bar's high counts: it is the usual assumption (freqtrade makes it too) that
    # the high came before the low; when the close is below the level that is certain anyway.
    before = position.highest_price_since_entry or position.average_price
    highest = max(before, as_decimal(bar["high"]))
    level = highest * (ONE - pct / HUNDRED)
    why = f"{percent(pct)} below the highest price {number(highest)} since entry"
    return "trailing_stop", level, why, before * (ONE - pct / HUNDRED)


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


# --- shorts: the mirror image ---------------------------------------------------------------

def _short_stop_exit(
    position: PositionView, bar: Mapping[str, Any], stop_loss_pct: Decimal, trailing_pct: Decimal
) -> Intent | None:
    candidates = []
    if stop_loss_pct > ZERO:
        level = position.average_price * (ONE + stop_loss_pct / HUNDRED)
        candidates.append(("stop_loss", level, f"{percent(stop_loss_pct)} above the average "
                           f"price {number(position.average_price)}", level))
    if trailing_pct > ZERO:
        before = position.lowest_price_since_entry or position.average_price
        lowest = min(before, as_decimal(bar["low"]))
        level = lowest * (ONE + trailing_pct / HUNDRED)
        candidates.append(("trailing_stop", level, f"{percent(trailing_pct)} above the "
                           f"lowest price {number(lowest)} since entry",
                           before * (ONE + trailing_pct / HUNDRED)))
    if not candidates:
        return None
    # The lower of the two stops is the one a rising price meets first.
    tag, level, why, standing = min(candidates, key=lambda candidate: candidate[1])
    high = as_decimal(bar["high"])
    if high < level:
        return None
    opening = as_decimal(bar["open"])
    return Intent(
        side="buy", close_fraction=ONE, tag=tag,
        reason=f"high {number(high)} reached the short's {tag.replace('_', ' ')} at "
        f"{number(level)} ({why})",
        # Opened above a stop already standing: filled at the open (the long's mirror).
        trigger_price=opening if opening >= standing else level,
    )


def _short_take_profit_exit(
    position: PositionView, bar: Mapping[str, Any], pct: Decimal
) -> Intent | None:
    if pct <= ZERO:
        return None
    level = position.average_price * (ONE - pct / HUNDRED)
    low = as_decimal(bar["low"])
    if low > level:
        return None
    why = f"{percent(pct)} below the average price {number(position.average_price)}"
    return Intent(
        side="buy", close_fraction=ONE, tag="take_profit",
        reason=f"low {number(low)} reached the short's take profit at {number(level)} ({why})",
        trigger_price=min(level, as_decimal(bar["open"])),
    )
