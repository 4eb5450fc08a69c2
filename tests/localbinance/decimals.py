"""Decimal helpers: parsing and rendering numbers the way Binance does.

Binance sends every price and quantity as a string. Spot renders them with a fixed
number of decimals ("0.00100000"); USD-M futures renders them with the symbol's
price/quantity precision. Floats never enter the matching engine: one float rounding
error would turn a valid quantity into a -1111 or -1013.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)

# The legal range Binance quotes in its -1100 message for decimal parameters.
DECIMAL_PATTERN = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
_DECIMAL_RE = re.compile(DECIMAL_PATTERN)


def D(value: str | int | Decimal) -> Decimal:  # noqa: N802 - conventional short name
    """Build a Decimal from a string/int, refusing floats (their binary error leaks in)."""
    if isinstance(value, float):
        raise TypeError("floats are not accepted; pass a string")
    return value if isinstance(value, Decimal) else Decimal(value)


def parse_decimal(text: str) -> Decimal | None:
    """Parse a request parameter; None when it is not a plain decimal Binance would accept."""
    if not _DECIMAL_RE.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex already guards this
        return None


def places(value: Decimal) -> int:
    """Number of significant decimal places ("0.00100" -> 3)."""
    normalized = value.normalize()
    exponent = normalized.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def fixed(value: Decimal, decimals: int = 8) -> str:
    """Render with exactly `decimals` places, never in exponent form ("0.00100000")."""
    quantum = Decimal(1).scaleb(-decimals)
    return f"{value.quantize(quantum, rounding=ROUND_DOWN):f}"


def plain(value: Decimal) -> str:
    """Render without trailing zeros and never in exponent form ("2779", "0.005")."""
    text = f"{value.normalize():f}"
    return text


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` not above `value` (how Binance quantizes quantities)."""
    if step == 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def round_up(value: Decimal, decimals: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_UP)


def truncate(value: Decimal, decimals: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_DOWN)


def is_multiple(value: Decimal, base: Decimal, step: Decimal) -> bool:
    """True when (value - base) is an exact multiple of step (step 0 disables the check)."""
    if step == 0:
        return True
    return (value - base) % step == 0
