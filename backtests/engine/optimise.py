"""Parameter optimisation: the candidates to try, their backtests and their ranking. Pure.

The steps a platform task chains together::

    space = parameter_space(cls, {"fast": (5, 50, 5)}, fixed={"stop_loss_pct": 2})
    candidates = grid_candidates(cls, space)          # or random_candidates(..., seed=)
    for chunk in chunked(candidates, workers):        # one Celery task per chunk
        scores += evaluate(cls.name, chunk, candles, config)
    ranked = rank(scores, "sharpe", min_trades=10)

``evaluate`` takes only picklable values (a strategy name, params dicts, a candle frame, a
config) so a worker process can run it; ``Score.as_dict`` / ``from_dict`` carry its answer
back through JSON. Walk-forward analysis is in ``walkforward``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd

from backtests.engine.config import BacktestConfig
from backtests.engine.run import run_backtest
from bots.strategies import Parameter, ParameterError, Strategy, get_strategy, grid
from bots.strategies.params import coerce

MAX_COMBINATIONS = 100_000
SCORE_METRICS = (
    "total_return_pct", "cagr_pct", "max_drawdown_pct", "sharpe", "sortino", "calmar",
    "trade_count", "win_rate_pct", "profit_factor", "final_equity",
)

Metrics = Mapping[str, Any]
Objective = Callable[[Metrics], float | None]
Range = tuple[Any, Any, Any] | list[Any] | None


def _return_drawdown(metrics: Metrics) -> float | None:
    drawdown = metrics.get("max_drawdown_pct")
    if not drawdown or metrics.get("total_return_pct") is None:
        return None
    return metrics["total_return_pct"] / drawdown


OBJECTIVES: dict[str, Objective] = {
    "sharpe": lambda metrics: metrics.get("sharpe"),
    "sortino": lambda metrics: metrics.get("sortino"),
    "calmar": lambda metrics: metrics.get("calmar"),
    "return": lambda metrics: metrics.get("total_return_pct"),
    "return_drawdown": _return_drawdown,
}
# Why an objective can be missing, for the ranking's "why" (a None is never read as a 0).
MISSING = {
    "sharpe": "no Sharpe ratio: the equity did not vary",
    "sortino": "no Sortino ratio: the equity never fell",
    "calmar": "no Calmar ratio: no drawdown (or no growth rate)",
    "return": "no total return",
    "return_drawdown": "no return/drawdown: the run had no drawdown",
}


def objective_value(objective: str, metrics: Metrics) -> float | None:
    try:
        function = OBJECTIVES[objective]
    except KeyError:
        names = ", ".join(OBJECTIVES)
        raise ValueError(f"unknown objective '{objective}'; choose one of {names}") from None
    value = function(metrics)
    return float(value) if value is not None and math.isfinite(value) else None


# --- the space -------------------------------------------------------------------------------


def parameter_space(strategy_class: type[Strategy], ranges: Mapping[str, Range] | None = None,
                    fixed: Mapping[str, Any] | None = None) -> dict[str, list]:
    """The values to try for every parameter of ``strategy_class``, in declaration order.

    Without ``ranges`` every parameter takes its declared grid (``params.grid``). With
    ``ranges``, the parameters it names are tried over their declared grid (value None), a
    ``(minimum, maximum, step)`` tuple or an explicit list, and the others keep their
    default. ``fixed`` pins values. ValueError in words for a range outside the declared
    bounds, an unknown parameter or more than ``MAX_COMBINATIONS`` combinations.
    """
    parameters = {p.name: p for p in strategy_class.all_parameters()}
    ranges, fixed = dict(ranges or {}), dict(fixed or {})
    unknown = [name for name in (*ranges, *fixed) if name not in parameters]
    if unknown:
        raise ValueError(f"{strategy_class.name} has no parameter {', '.join(unknown)}; "
                         f"its parameters are {', '.join(parameters)}")
    space = {}
    for name, parameter in parameters.items():
        if name in fixed:
            space[name] = [_coerced(parameter, fixed[name])]
        elif name in ranges or not ranges:
            space[name] = _values(parameter, ranges.get(name))
        else:
            space[name] = [coerce(parameter, parameter.default)]
    _check_size(math.prod(len(values) for values in space.values()))
    return space


def _values(parameter: Parameter, given: Range) -> list:
    if given is None:
        return _distinct(grid(parameter))
    if isinstance(given, tuple):
        return _stepped(parameter, *_three(parameter, given))
    if isinstance(given, list):
        if not given:
            raise ValueError(f"{parameter.name}: give at least one value to try")
        return _distinct(_coerced(parameter, value) for value in given)
    raise ValueError(f"{parameter.name}: give a (minimum, maximum, step) tuple or a list of "
                     "values")


def _three(parameter: Parameter, given: tuple) -> tuple[Any, Any, Any]:
    if len(given) != 3:
        raise ValueError(f"{parameter.name}: a range is (minimum, maximum, step)")
    if parameter.kind in ("bool", "choice"):
        raise ValueError(f"{parameter.name} is a {parameter.kind}: list its values instead "
                         "of giving a range")
    return given


def _stepped(parameter: Parameter, low: Any, high: Any, step: Any) -> list:
    low, high = _coerced(parameter, low), _coerced(parameter, high)
    try:
        step = Decimal(str(step))
    except InvalidOperation:
        raise ValueError(f"{parameter.name}: the step must be a number, got {step!r}") from None
    if not (step.is_finite() and step > 0):
        raise ValueError(f"{parameter.name}: the step must be positive, got {step}")
    if low > high:
        raise ValueError(f"{parameter.name}: the range starts at {low}, above its end {high}")
    start, end = Decimal(str(low)), Decimal(str(high))
    count = int((end - start) / step) + 1
    _check_size(count, parameter.name)
    # Count in Decimal so 0.1 steps land on 0.3, not 0.30000000000000004 (as params.grid).
    return _distinct(coerce(parameter, start + step * i) for i in range(count))


def _coerced(parameter: Parameter, value: Any) -> Any:
    try:
        return coerce(parameter, value)
    except ValueError as error:
        bounds = ""
        if parameter.minimum is not None and parameter.maximum is not None:
            bounds = f" (declared range {parameter.minimum} to {parameter.maximum})"
        raise ValueError(f"{parameter.name}: cannot try {value}: {error}{bounds}") from None


def _distinct(values: Iterable[Any]) -> list:
    return list(dict.fromkeys(values))


def _check_size(count: int, name: str = "") -> None:
    if count > MAX_COMBINATIONS:
        what = f"{name}'s range gives" if name else "the ranges give"
        raise ValueError(f"{what} {count:,} combinations; at most {MAX_COMBINATIONS:,} can be "
                         "tried: narrow a range or widen its step")


# --- the candidates ----------------------------------------------------------------------------


def grid_candidates(strategy_class: type[Strategy], space: Mapping[str, list]) -> list[dict]:
    """Every combination of ``space`` the strategy accepts (its cross-field ``check`` refuses
    e.g. fast >= slow), typed as the strategy validates them, the last parameter varying
    fastest."""
    names = list(space)
    candidates = []
    for values in itertools.product(*(space[name] for name in names)):
        params = _valid(strategy_class, dict(zip(names, values, strict=True)))
        if params is not None:
            candidates.append(params)
    return candidates


def random_candidates(strategy_class: type[Strategy], space: Mapping[str, list], count: int,
                      seed: int) -> list[dict]:
    """``count`` distinct valid combinations drawn at random (all of them when the space
    holds fewer); the same seed draws the same ones in the same order."""
    if count < 1:
        raise ValueError(f"random search needs at least one sample, got {count}")
    # The space is capped at MAX_COMBINATIONS, so drawing from its valid list is cheap and
    # can neither repeat a candidate nor return an invalid one.
    valid = grid_candidates(strategy_class, space)
    return random.Random(seed).sample(valid, min(count, len(valid)))


def _valid(strategy_class: type[Strategy], params: dict) -> dict | None:
    try:
        return strategy_class(**params).params
    except ParameterError:
        return None


def chunked(candidates: Sequence[dict], chunks: int) -> list[list[dict]]:
    """``candidates`` in at most ``chunks`` consecutive pieces whose sizes differ by one at
    most (no empty piece), in order."""
    if chunks < 1:
        raise ValueError(f"need at least one chunk, got {chunks}")
    size, extra = divmod(len(candidates), chunks)
    pieces, start = [], 0
    for index in range(min(chunks, len(candidates))):
        end = start + size + (index < extra)
        pieces.append(list(candidates[start:end]))
        start = end
    return pieces


def max_lookback(strategy_name: str, candidates: Iterable[Mapping[str, Any]]) -> int:
    """The most candles any candidate needs before it can trade (walk-forward warm-up)."""
    cls = get_strategy(strategy_name)
    return max((cls(**params).lookback() for params in candidates), default=0)


# --- the scores ------------------------------------------------------------------------------


@dataclass
class Score:
    """One candidate's backtest figures (``SCORE_METRICS``). ``rank`` fills ``value`` (the
    objective) and ``eligible`` / ``why``."""

    params: dict
    metrics: dict
    value: float | None = None
    eligible: bool = True
    why: str = ""

    def as_dict(self) -> dict:
        return {"params": json_params(self.params), "metrics": dict(self.metrics),
                "value": self.value, "eligible": self.eligible, "why": self.why}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Score:
        return cls(params=dict(data["params"]), metrics=dict(data["metrics"]),
                   value=data.get("value"), eligible=data.get("eligible", True),
                   why=data.get("why", ""))


def json_params(params: Mapping[str, Any]) -> dict:
    """Params for JSON: Decimals as strings (exact; ``validate_params`` reads them back)."""
    return {name: str(v) if isinstance(v, Decimal) else v for name, v in params.items()}


def score_metrics(metrics: Metrics) -> dict:
    """The ``SCORE_METRICS`` of a run's figures as plain floats and ints (None for a NaN)."""
    subset = {}
    for name in SCORE_METRICS:
        value = metrics.get(name)
        if isinstance(value, float):  # numpy's float64 too
            value = float(value) if math.isfinite(value) else None
        subset[name] = int(value) if name == "trade_count" and value is not None else value
    return subset


def evaluate(strategy_name: str, candidates: Iterable[Mapping[str, Any]], candles: pd.DataFrame,
             config: BacktestConfig, *, trade_from: int = 0) -> list[Score]:
    """Backtest each candidate on ``candles`` (the figures start at ``trade_from``): the work
    of one optimisation chunk. A candidate the strategy refuses scores as ineligible."""
    cls = get_strategy(strategy_name)
    scores = []
    for params in candidates:
        try:
            strategy = cls(**params)
        except ParameterError as error:
            scores.append(Score(dict(params), {}, eligible=False, why=str(error)))
            continue
        result = run_backtest(strategy, candles, config, trade_from=trade_from)
        scores.append(Score(dict(strategy.params), score_metrics(result.metrics)))
    return scores


def rank(scores: Iterable[Score], objective: str, *, min_trades: int = 0) -> list[Score]:
    """``scores`` best first by ``objective`` (a name in ``OBJECTIVES``). A score with fewer
    than ``min_trades`` trades or no objective value goes last, ``eligible=False``, with
    the reason in ``why``. Ties keep their input order."""
    marked = [_marked(score, objective, min_trades) for score in scores]
    return sorted(marked, key=lambda s: (not s.eligible, s.value is None, -(s.value or 0.0)))


def _marked(score: Score, objective: str, min_trades: int) -> Score:
    if not score.metrics:  # refused by the strategy: keep its reason
        return replace(score, value=None, eligible=False)
    value = objective_value(objective, score.metrics)
    trades = score.metrics.get("trade_count") or 0
    if trades < min_trades:
        why = f"{trades} trades, fewer than the minimum of {min_trades}"
        return replace(score, value=value, eligible=False, why=why)
    if value is None:
        return replace(score, value=None, eligible=False, why=MISSING[objective])
    return replace(score, value=value, eligible=True, why="")
