"""Strategy parameters: declared once, validated and coerced from forms, JSON or code.

A strategy declares a tuple of :class:`Parameter`; :func:`validate_params` turns whatever a
form, an API call or a backtest configuration sent (often strings) into a complete, typed
dict, or raises :class:`ParameterError` listing every problem in plain words.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

Kind = Literal["int", "float", "decimal", "bool", "choice"]
KINDS = ("int", "float", "decimal", "bool", "choice")

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", ""})

# A check receives the validated values and returns {name: message} for what is wrong together.
Check = Callable[[dict[str, Any]], Mapping[str, str]]


class ParameterError(ValueError):
    """Parameters that cannot be used; ``errors`` maps each parameter name to a message."""

    def __init__(self, errors: Mapping[str, str]):
        self.errors = dict(errors)
        super().__init__("; ".join(self.errors.values()))


@dataclass(frozen=True)
class Parameter:
    """One tunable setting. ``default=None`` makes it required (there is no sensible default).

    ``minimum``/``maximum`` bound the value (inclusive); ``step`` spaces the optimisation grid.
    """

    name: str
    kind: Kind
    default: Any = None
    minimum: Any = None
    maximum: Any = None
    step: Any = None
    choices: tuple[Any, ...] = ()
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {', '.join(KINDS)}")
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"{self.name}: a choice parameter needs choices")
        if self.default is not None:
            # A default that fails its own bounds is a programming error: fail at import time.
            coerce(self, self.default)

    @property
    def required(self) -> bool:
        return self.default is None


def fast_below_slow(params: Mapping[str, Any]) -> dict[str, str]:
    """The cross-field check of every fast/slow pair of averages (a `check` hook's result)."""
    if params["fast"] >= params["slow"]:
        return {"fast": "fast must be smaller than slow"}
    return {}


def validate_params(
    parameters: tuple[Parameter, ...], given: Mapping[str, Any], check: Check | None = None
) -> dict[str, Any]:
    """Complete, typed values for ``parameters`` from ``given``.

    Missing values (and empty strings, which is what an empty form field sends) take the
    default. Cross-field ``check`` runs only once every value is valid on its own.
    """
    known = {parameter.name for parameter in parameters}
    errors = {name: f"unknown parameter '{name}'" for name in given if name not in known}
    values: dict[str, Any] = {}
    for parameter in parameters:
        raw = given.get(parameter.name)
        try:
            values[parameter.name] = _value_or_default(parameter, raw)
        except ValueError as error:
            errors[parameter.name] = str(error)
    if not errors and check is not None:
        errors.update(check(values))
    if errors:
        raise ParameterError(errors)
    return values


def _value_or_default(parameter: Parameter, raw: Any) -> Any:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if parameter.required:
            raise ValueError(f"{parameter.name} is required")
        return coerce(parameter, parameter.default)
    return coerce(parameter, raw)


def coerce(parameter: Parameter, raw: Any) -> Any:
    """``raw`` as the parameter's type, within its bounds; ValueError in words otherwise."""
    value = _CONVERTERS[parameter.kind](parameter, raw)
    _check_bounds(parameter, value)
    return value


def _to_int(parameter: Parameter, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(f"{parameter.name} must be a whole number")
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"{parameter.name} must be a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise ValueError(f"{parameter.name} must be a whole number")
    return int(number)


def _to_decimal(parameter: Parameter, raw: Any) -> Decimal:
    if isinstance(raw, bool):
        raise ValueError(f"{parameter.name} must be a number")
    try:
        # str() first: Decimal(0.1) would carry the float's binary noise into prices.
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f"{parameter.name} must be a number") from None
    if not number.is_finite():
        raise ValueError(f"{parameter.name} must be a finite number")
    return number


def _to_float(parameter: Parameter, raw: Any) -> float:
    return float(_to_decimal(parameter, raw))


def _to_bool(parameter: Parameter, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = str(raw).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{parameter.name} must be true or false")


def _to_choice(parameter: Parameter, raw: Any) -> Any:
    for choice in parameter.choices:
        if raw == choice or str(raw).strip() == str(choice):
            return choice
    allowed = ", ".join(str(choice) for choice in parameter.choices)
    raise ValueError(f"{parameter.name} must be one of: {allowed}")


_CONVERTERS: dict[str, Callable[[Parameter, Any], Any]] = {
    "int": _to_int,
    "float": _to_float,
    "decimal": _to_decimal,
    "bool": _to_bool,
    "choice": _to_choice,
}


def _check_bounds(parameter: Parameter, value: Any) -> None:
    if parameter.kind in ("bool", "choice"):
        return
    if parameter.minimum is not None and value < _bound(parameter, parameter.minimum):
        raise ValueError(f"{parameter.name} must be at least {parameter.minimum}")
    if parameter.maximum is not None and value > _bound(parameter, parameter.maximum):
        raise ValueError(f"{parameter.name} must be at most {parameter.maximum}")


def _bound(parameter: Parameter, bound: Any) -> Any:
    return _CONVERTERS[parameter.kind](parameter, bound)


def grid(parameter: Parameter) -> Iterator[Any]:
    """The values an optimiser tries: minimum to maximum (inclusive) by step.

    Booleans give both values and choices every choice. A numeric parameter without a
    minimum, maximum and step is not meant to be optimised and yields only its default.
    """
    if parameter.kind == "bool":
        yield from (False, True)
        return
    if parameter.kind == "choice":
        yield from parameter.choices
        return
    if None in (parameter.minimum, parameter.maximum, parameter.step):
        yield coerce(parameter, parameter.default)
        return
    # Count in Decimal so 0.1 steps land on 0.3, not 0.30000000000000004.
    low, high = Decimal(str(parameter.minimum)), Decimal(str(parameter.maximum))
    step = Decimal(str(parameter.step))
    if step <= 0:
        raise ValueError(f"{parameter.name}: step must be positive")
    value = low
    while value <= high:
        yield _CONVERTERS[parameter.kind](parameter, value)
        value += step
