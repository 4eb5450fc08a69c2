"""Numbers as people read them in decision reasons: "101.23", "0.000028541", "5%"."""

from __future__ import annotations

from decimal import Decimal

SIGNIFICANT_DIGITS = 8


def number(value: float | Decimal) -> str:
    """Eight significant digits, plain notation, no trailing zeros."""
    rounded = Decimal(f"{float(value):.{SIGNIFICANT_DIGITS}g}")
    text = f"{rounded:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(value: float | Decimal) -> str:
    """A percentage parameter (5 means 5%) as "5%"."""
    return f"{number(value)}%"
