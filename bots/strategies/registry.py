"""Strategy names to classes: the built-ins, plus user strategies loaded from a directory."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bots.strategies.base import Strategy
from bots.strategies.params import Parameter

BUILTIN_PACKAGE = "bots.strategies.builtin"
USER_MODULE_PREFIX = "user_strategy_"
DEFAULT_USER_DIR = Path(__file__).resolve().parents[2] / "user_strategies"
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*")

_strategies: dict[str, type[Strategy]] = {}
_user_names: set[str] = set()


@dataclass(frozen=True)
class LoadError:
    """A user strategy file that could not be used, and why."""

    path: Path
    error: str

    def __str__(self) -> str:
        return f"{self.path.name}: {self.error}"


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TypeError(f"{cls!r} is not a Strategy subclass")
    if not NAME_PATTERN.fullmatch(cls.name or ""):
        raise ValueError(
            f"strategy name {cls.name!r} of {cls.__qualname__} must start with a lowercase "
            "letter and use only lowercase letters, digits and underscores"
        )
    taken = _strategies.get(cls.name)
    if taken is not None and taken is not cls:
        kind = "a built-in" if _is_builtin(taken) else "another"
        raise ValueError(
            f"strategy name '{cls.name}' is already used by {kind} strategy "
            f"({taken.__module__}.{taken.__qualname__}); choose another name"
        )
    _check_parameter_names(cls)
    _strategies[cls.name] = cls
    return cls


def _check_parameter_names(cls: type[Strategy]) -> None:
    names = [parameter.name for parameter in cls.parameters]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{cls.name}: parameters declared twice: {', '.join(duplicates)}")


def _is_builtin(cls: type[Strategy]) -> bool:
    return cls.__module__.startswith(BUILTIN_PACKAGE + ".")


def _ensure_builtins() -> None:
    importlib.import_module(BUILTIN_PACKAGE)  # its modules register on import


def available() -> dict[str, type[Strategy]]:
    """Every registered strategy by name, sorted."""
    _ensure_builtins()
    return dict(sorted(_strategies.items()))


def get_strategy(name: str) -> type[Strategy]:
    _ensure_builtins()
    try:
        return _strategies[name]
    except KeyError:
        names = ", ".join(sorted(_strategies))
        raise KeyError(f"unknown strategy '{name}'; available: {names}") from None


def describe(name: str) -> dict[str, Any]:
    """A JSON-friendly description of a strategy and its parameters (forms, API)."""
    cls = get_strategy(name)
    return {
        "name": cls.name,
        "title": cls.title,
        "description": cls.description,
        "builtin": _is_builtin(cls),
        "parameters": [_describe_parameter(p) for p in cls.all_parameters()],
    }


def _describe_parameter(parameter: Parameter) -> dict[str, Any]:
    return {
        "name": parameter.name,
        "kind": parameter.kind,
        "default": _json_value(parameter.default),
        "required": parameter.required,
        "minimum": _json_value(parameter.minimum),
        "maximum": _json_value(parameter.maximum),
        "step": _json_value(parameter.step),
        "choices": [_json_value(choice) for choice in parameter.choices],
        "help": parameter.help,
    }


def _json_value(value: Any) -> Any:
    # Decimals travel as strings so "0.1" stays exactly 0.1 through JSON.
    return str(value) if isinstance(value, Decimal) else value


def load_user_strategies(path: str | Path | None = None) -> list[LoadError]:
    """Import every ``*.py`` in ``path`` (default: ``user_strategies/`` at the repository root)
    and register the strategies they declare with ``@register``.

    Calling it again reloads: the user strategies of the previous call are dropped first. A
    file that fails to import, clashes with another strategy's name or registers nothing is
    reported and skipped; the others still load.
    """
    _ensure_builtins()
    _forget_user_strategies()
    directory = Path(path) if path is not None else DEFAULT_USER_DIR
    if not directory.is_dir():
        if path is None:
            return []  # no user strategies installed
        return [LoadError(directory, "not a directory")]
    errors = []
    for file in sorted(directory.glob("*.py")):
        if not file.name.startswith("_"):
            error = _load_file(file)
            if error is not None:
                errors.append(error)
    return errors


def _forget_user_strategies() -> None:
    for name in _user_names:
        _strategies.pop(name, None)
    _user_names.clear()


def _load_file(file: Path) -> LoadError | None:
    module_name = USER_MODULE_PREFIX + file.stem
    before = dict(_strategies)
    try:
        spec = importlib.util.spec_from_file_location(module_name, file)
        if spec is None or spec.loader is None:
            return LoadError(file, "cannot be imported as a Python module")
        module = importlib.util.module_from_spec(spec)
        # Registered before running: dataclasses and pickling look the module up by name.
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:  # a user file must not stop the others
        sys.modules.pop(module_name, None)
        _strategies.clear()
        _strategies.update(before)  # a half-imported file keeps none of its strategies
        return LoadError(file, f"{type(error).__name__}: {error}")
    added = set(_strategies) - set(before)
    if not added:
        return LoadError(file, "registers no strategy (decorate the class with @register)")
    _user_names.update(added)
    return None
