"""Optimisation runs: a grid or random search over a strategy's parameter ranges, or a
walk-forward analysis, spread over the Celery workers and ranked by an objective.

- ``optimisation_create`` checks everything in words (BacktestRefused) and queues the start
  task once committed.
- ``optimisation_start`` (the start task) claims the run (queued -> running), loads the
  candles once to record their hash and count, builds the candidates and splits them into
  chunks, about ``CHUNKS_PER_WORKER`` per worker process alive (asked of the workers; a
  chunk never holds more than ``MAX_CHUNK`` candidates), and sends a chord: one chunk task
  per chunk, then the finish task with every chunk's scores.
- ``optimisation_chunk`` (a chunk task) loads the candles itself (kept per process in a
  small LRU, so a worker running several chunks of a run reads them once), backtests its
  candidates (``engine.optimise.evaluate``), counts itself done (an F-expression UPDATE, so
  parallel chunks never lose a count), pushes `optimisation.progress` {id, status,
  progress} to the owner's pages and returns its scores.
- ``optimisation_finish`` (the chord's body) ranks the scores, stores the top
  ``OptimisationRun.TOP_SCORES`` with the counts and the best parameters, and marks the run
  done, or cancelled if a cancel was asked for.
- A chunk that raises does not hang the run: the error callback linked to every chunk and
  to the body (``optimisation_chunk_failed``) marks the run failed in words, and the other
  chunks, which read the run's status before they start and every ``CHECK_SECONDS``, stop.
- ``optimisation_cancel``: a queued run is cancelled at once; a running one is asked to stop
  (``cancel_requested``): chunks skip their work and the finish task marks it cancelled.

Walk-forward: every window tries the same candidates, so the in-sample evaluations of all
windows are independent, and they go out as one chord exactly like a search (chunks of
(window, candidates)); the finish task then runs ``engine.walkforward.walk_forward`` with an
``evaluate_many`` that answers each window from the collected scores, and runs each window's
winner out of sample (one backtest per window) and stitches the curves. No task waits on
other tasks: a task blocking on a group (``.get(disable_sync_subtasks=False)``) holds a
worker slot while it waits, so as many walk-forward runs as the embedded thread pool (or a
served worker) has slots deadlock, and running the windows one after another in one task
would leave every other worker idle.

Chords need a result backend: the served profile keeps results in Redis, the embedded one in
``cache+memory://``, which is shared by the threads of its one process (settings).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import pandas as pd
from celery import chord
from celery.exceptions import ChordError, SoftTimeLimitExceeded, TimeLimitExceeded
from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import F, FloatField, Q, Value
from django.db.models.functions import Cast, Greatest, Least
from django.utils import timezone

from backtests.engine import BacktestConfig, data_hash
from backtests.engine.optimise import (
    OBJECTIVES,
    Score,
    chunked,
    evaluate,
    grid_candidates,
    json_params,
    max_lookback,
    parameter_space,
    random_candidates,
    rank,
)
from backtests.engine.walkforward import Window, walk_forward, walk_forward_windows
from backtests.models import OptimisationRun
from backtests.runs import run_announce, run_cancel, run_finish, run_queue
from backtests.services import (
    STALE_AFTER,
    TIME_LIMIT,
    UNKNOWN_FILTERS_NOTE,
    BacktestRefused,
    backtest_run_validate,
    code_version,
    run_config,
    stored_candles,
    symbol_filters,
)
from bots.ai import with_ai_analyses
from bots.strategies import Strategy, get_strategy
from marketdata.models import Kline

logger = logging.getLogger(__name__)
S = OptimisationRun.Status
K = OptimisationRun.Kind

CHUNKS_PER_WORKER = 4  # a little more than one per process, so a slow chunk does not idle others
MAX_CHUNK = 250  # candidates; keeps every chunk far inside the task's time limit
DEFAULT_WORKERS = 2  # the embedded profile, or when no worker answers in time
INSPECT_TIMEOUT = 0.5  # seconds: inspect waits this long for every answer, so keep it short
CHECK_SECONDS = 0.5  # a chunk re-reads the run's status (cancel, failed) this often
CANDLE_FRAMES = 4  # candle frames kept per process
CURVE_POINTS = 2_000  # the stitched walk-forward curve is thinned to about this many points


# --- create --------------------------------------------------------------------------------

def optimisation_validate(*, owner, strategy: str, symbol: str, interval: str,
                          start: datetime | None, end: datetime | None, settings: dict,
                          kind: str, space: dict | None, fixed: dict | None, objective: str,
                          min_trades: int, samples: int | None = None, seed: int = 0,
                          in_sample: int | None = None, out_of_sample: int | None = None,
                          step: int | None = None, market: str = "spot") -> dict:
    """The run's fields, JSON-ready, or BacktestRefused naming each problem in words."""
    errors: dict[str, str] = {}
    numbers = {"min_trades": min_trades, "seed": seed or 0, "samples": samples,
               "in_sample": in_sample, "out_of_sample": out_of_sample, "step": step}
    _check_kind_and_objective(kind, objective, errors)
    _check_numbers(kind, numbers, errors)
    candidates = _checked_candidates(strategy, kind, space, fixed, samples, seed, errors)
    try:  # the symbol, interval, range, settings and stored candles, as a backtest checks them
        fields = backtest_run_validate(
            owner=owner, strategy=strategy, params=json_params(candidates[0]) if candidates
            else {}, symbol=symbol, interval=interval, start=start, end=end, settings=settings,
            market=market)
    except BacktestRefused as refused:
        fields = None
        # Its parameter check saw only the first candidate, or none when the space is wrong.
        said = {"params"} if errors else set()
        errors.update({name: words for name, words in refused.errors.items()
                       if name not in errors and name not in said})
    if not errors and kind == K.WALK_FORWARD:
        _check_windows(fields, strategy, candidates, in_sample, out_of_sample, step, errors)
    if errors:
        raise BacktestRefused(errors)
    return {"owner": owner, "strategy": strategy, "symbol": fields["symbol"],
            "market": market, "interval": interval, "start": start, "end": end,
            "settings": fields["settings"], "kind": kind, "space": _asked(space or {}),
            "fixed": _jsonable(fixed or {}), "objective": objective, **numbers}


def _check_kind_and_objective(kind: str, objective: str, errors: dict) -> None:
    if kind not in K.values:
        errors["kind"] = f"{kind!r} is not a kind of run: choose one of {', '.join(K.values)}"
    if objective not in OBJECTIVES:
        errors["objective"] = (f"{objective!r} is not an objective: choose one of "
                               f"{', '.join(OBJECTIVES)}")


def _check_numbers(kind: str, numbers: dict, errors: dict) -> None:
    for name, value in numbers.items():
        if value is None:
            continue
        lowest = {"seed": None, "min_trades": 0}.get(name, 1)
        if not isinstance(value, int) or isinstance(value, bool):
            errors[name] = f"give a whole number, not {value!r}"
        elif lowest is not None and value < lowest:
            errors[name] = f"must be at least {lowest}"
    if numbers["min_trades"] is None:
        errors["min_trades"] = "give the fewest trades a candidate needs to be ranked (0: any)"
    if kind == K.RANDOM and numbers["samples"] is None:
        errors["samples"] = "random search needs the number of combinations to draw"
    if kind == K.GRID and numbers["samples"] is not None:
        errors["samples"] = "a grid search tries every combination: use kind random to sample"
    for name in ("in_sample", "out_of_sample", "step"):
        if kind != K.WALK_FORWARD and numbers[name] is not None:
            errors[name] = "only a walk-forward run has in-sample and out-of-sample spans"
        elif kind == K.WALK_FORWARD and name != "step" and numbers[name] is None:
            errors[name] = "walk-forward needs the candles of each in-sample and " \
                           "out-of-sample span"


def _checked_candidates(strategy: str, kind: str, space, fixed, samples, seed,
                        errors: dict) -> list[dict]:
    try:
        strategy_class = get_strategy(strategy)
    except KeyError as missing:
        errors["strategy"] = str(missing.args[0])
        return []
    if not isinstance(space, dict | None) or not isinstance(fixed, dict | None):
        errors["space" if not isinstance(space, dict | None) else "fixed"] = (
            "give an object of parameter name: range")
        return []
    if "samples" in errors or "seed" in errors:  # nothing to draw with: check the space
        kind, samples = K.GRID, None
    try:
        ranges = _ranges(space or {})
        parameters = parameter_space(strategy_class, ranges, fixed)
        candidates = _candidates(strategy_class, parameters, kind, samples, seed)
    except ValueError as invalid:
        errors["space"] = str(invalid)
        return []
    if not candidates:
        errors["space"] = f"no combination of these ranges is valid for {strategy}"
    return candidates


def _check_windows(fields: dict, strategy: str, candidates: list[dict], in_sample: int,
                   out_of_sample: int, step: int | None, errors: dict) -> None:
    rows = Kline.objects.filter(market=fields["market"], symbol=fields["symbol"],
                                interval=fields["interval"])
    if fields["start"] is not None:
        rows = rows.filter(open_time__gte=fields["start"])
    if fields["end"] is not None:
        rows = rows.filter(open_time__lt=fields["end"])
    try:
        walk_forward_windows(rows.count(), in_sample=in_sample, out_of_sample=out_of_sample,
                             step=step, warmup=max_lookback(strategy, candidates))
    except ValueError as invalid:
        errors["windows"] = str(invalid)


def _ranges(space: Mapping[str, Any]) -> dict:
    """The engine's ranges from JSON: {"min", "max", "step"} -> a (min, max, step) tuple; a
    list of values and null (the declared grid) as they are."""
    ranges = {}
    for name, given in space.items():
        if isinstance(given, dict):
            if set(given) != {"min", "max", "step"}:
                raise ValueError(f'{name}: a range is {{"min": …, "max": …, "step": …}}')
            given = (given["min"], given["max"], given["step"])
        elif not isinstance(given, list | tuple | None):
            raise ValueError(f'{name}: give {{"min", "max", "step"}}, a list of values, or '
                             "null for its declared grid")
        ranges[name] = given
    return ranges


def _asked(space: Mapping[str, Any]) -> dict:
    """``space`` for JSON: a tuple becomes {"min", "max", "step"} (a list would read back as
    a list of values)."""
    asked = {}
    for name, given in space.items():
        if isinstance(given, tuple) and len(given) == 3:
            given = dict(zip(("min", "max", "step"), given, strict=True))
        asked[name] = _jsonable(given)
    return asked


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {name: _jsonable(v) for name, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _candidates(strategy_class: type[Strategy], space: dict, kind: str, samples: int | None,
                seed: int) -> list[dict]:
    """A walk-forward run searches each window at random when it has samples."""
    if kind == K.RANDOM or (kind == K.WALK_FORWARD and samples is not None):
        return random_candidates(strategy_class, space, samples, seed or 0)
    return grid_candidates(strategy_class, space)


@transaction.atomic
def optimisation_create(*, owner, strategy: str, symbol: str, interval: str,
                        start: datetime | None, end: datetime | None, settings: dict,
                        kind: str, space: dict | None, fixed: dict | None, objective: str,
                        min_trades: int, samples: int | None = None, seed: int = 0,
                        in_sample: int | None = None, out_of_sample: int | None = None,
                        step: int | None = None, market: str = "spot") -> OptimisationRun:
    """A queued optimisation (checked first: BacktestRefused in words), sent to a worker
    once saved."""
    fields = optimisation_validate(
        owner=owner, strategy=strategy, symbol=symbol, interval=interval, start=start, end=end,
        settings=settings, kind=kind, space=space, fixed=fixed, objective=objective,
        min_trades=min_trades, samples=samples, seed=seed, in_sample=in_sample,
        out_of_sample=out_of_sample, step=step, market=market)
    return run_queue(OptimisationRun, fields, task="backtests.tasks.optimisation_start_task")


def optimisation_repeat(*, run: OptimisationRun) -> OptimisationRun:
    """A new run asked exactly as ``run`` was."""
    return optimisation_create(**run.repeat_kwargs())


# --- start: plan the chunks and send the chord ---------------------------------------------

def optimisation_start(*, run_id: int) -> OptimisationRun | None:
    """Claim a queued run (a duplicate delivery, or a cancelled run, does nothing and
    returns None), split it into chunks and send them to the workers as one chord."""
    claimed = OptimisationRun.objects.filter(pk=run_id, status=S.QUEUED).update(
        status=S.RUNNING, started_at=timezone.now(), progress=0.0)
    if not claimed:
        return None
    run = OptimisationRun.objects.get(pk=run_id)
    run_announce(run)
    try:
        chunks = _plan(run)
    except ValueError as error:  # candles gone, a strategy changed since: already in words
        return run_finish(run, S.FAILED, error=str(error))
    except Exception as error:
        logger.exception("optimisation %s could not start", run_id)
        return run_finish(run, S.FAILED, error=repr(error))
    return _dispatch(run, chunks)


def _plan(run: OptimisationRun) -> list[tuple[dict | None, list[dict]]]:
    """(window, candidates) per chunk; records the data, code and counts on the run."""
    strategy_class = _strategy_class(run)
    candidates = _run_candidates(run, strategy_class)
    candles = stored_candles(symbol=run.symbol, interval=run.interval, start=run.start,
                             end=run.end, market=run.market)
    run.data_hash, run.candle_count = data_hash(candles), len(candles)
    run.code_version = code_version(strategy_class)
    _CANDLES.put(_candle_key(run), _with_analyses(run, candles))
    target = worker_processes() * CHUNKS_PER_WORKER
    if run.kind == K.WALK_FORWARD:
        windows = _windows(run, candles, candidates)
        per_window = max(math.ceil(target / len(windows)),
                         math.ceil(len(candidates) / MAX_CHUNK))
        chunks = [(_span(window), piece) for window in windows
                  for piece in _pieces(candidates, per_window)]
    else:
        pieces = max(target, math.ceil(len(candidates) / MAX_CHUNK))
        chunks = [(None, piece) for piece in _pieces(candidates, pieces)]
    run.candidate_count, run.chunk_count = len(candidates), len(chunks)
    run.save(update_fields=["data_hash", "candle_count", "code_version", "candidate_count",
                            "chunk_count"])
    return chunks


def _pieces(candidates: list[dict], count: int) -> list[list[dict]]:
    return [[json_params(params) for params in piece] for piece in chunked(candidates, count)]


def _span(window: Window) -> dict:
    """The rows a window's in-sample evaluation reads, as ``walk_forward`` slices them."""
    return {"window": window.index, "start": window.warmup_start,
            "end": window.out_of_sample_start,
            "trade_from": window.in_sample_start - window.warmup_start}


def _dispatch(run: OptimisationRun, chunks: list[tuple[dict | None, list[dict]]]
              ) -> OptimisationRun:
    from backtests.tasks import (  # the task module imports this one
        optimisation_chunk_failed_task,
        optimisation_chunk_task,
        optimisation_finish_task,
    )
    from tradingsite.celery import app

    failed = optimisation_chunk_failed_task.s(run_id=run.pk)
    header = [optimisation_chunk_task.s(run.pk, index, params, span).on_error(failed)
              for index, (span, params) in enumerate(chunks)]
    chunk_ids = [signature.freeze().id for signature in header]
    body = optimisation_finish_task.s(run.pk, chunk_ids).on_error(failed)
    run.chord_task_id = body.freeze().id
    OptimisationRun.objects.filter(pk=run.pk).update(chord_task_id=run.chord_task_id)
    try:
        chord(header)(body)
    except Exception as error:
        if app.conf.task_always_eager:
            # Tasks run inline: a chunk's error comes back here, and when eager tasks
            # propagate their errors Celery does not call the error callbacks first.
            return optimisation_chunk_failed(run_id=run.pk, error=error)
        logger.exception("optimisation %s: the chunks could not be sent", run.pk)
        return run_finish(run, S.FAILED, error=f"the chunks could not be sent to the workers: "
                                            f"{error!r}")
    run.refresh_from_db()
    return run


def worker_processes() -> int:
    """How many worker processes (pool slots) are alive, asked of the workers themselves;
    ``DEFAULT_WORKERS`` in the embedded profile (one process: its threads share the GIL),
    with tasks run inline, or when none answers within ``INSPECT_TIMEOUT``."""
    from tradingsite.celery import app

    if django_settings.PLATFORM_PROFILE != "served" or app.conf.task_always_eager:
        return DEFAULT_WORKERS
    try:
        stats = app.control.inspect(timeout=INSPECT_TIMEOUT).stats() or {}
    except Exception:  # the broker hiccuped: plan for the default, the chunks still run
        logger.exception("could not ask the workers how many processes they run")
        return DEFAULT_WORKERS
    slots = sum(int((worker.get("pool") or {}).get("max-concurrency") or 1)
                for worker in stats.values())
    return slots or DEFAULT_WORKERS


# --- chunks --------------------------------------------------------------------------------

def optimisation_chunk(*, run_id: int, index: int, params: list[dict],
                       span: dict | None = None) -> dict:
    """Backtest one chunk's candidates; their scores as dicts. A run no longer running (failed,
    cancelled) or asked to stop is skipped: ``skipped`` true, no scores."""
    part = {"index": index, "window": span["window"] if span else None, "scores": [],
            "skipped": True}
    run = OptimisationRun.objects.filter(pk=run_id).first()
    if run is None or run.status != S.RUNNING or run.cancel_requested:
        return part
    candles, trade_from = _candles(run), 0
    if span is not None:
        candles, trade_from = candles.iloc[span["start"]:span["end"]], span["trade_from"]
    config = _config(run)
    scores, checked_at = [], time.monotonic()
    for candidate in params:
        if time.monotonic() - checked_at >= CHECK_SECONDS:
            if not _wanted(run_id):
                return part
            checked_at = time.monotonic()
        scores += evaluate(run.strategy, [candidate], candles, config, trade_from=trade_from)
    _count_chunk(run)
    return {**part, "scores": [score.as_dict() for score in scores], "skipped": False}


def _wanted(run_id: int) -> bool:
    return OptimisationRun.objects.filter(pk=run_id, status=S.RUNNING,
                                          cancel_requested=False).exists()


def _count_chunk(run: OptimisationRun) -> None:
    # One UPDATE: parallel chunks each add one, and the progress is computed from the same
    # row values (SQL reads the old row on the right-hand side), so it never goes backwards.
    done = Cast(F("chunks_done") + 1, FloatField()) / Greatest(F("chunk_count"), 1)
    counted = OptimisationRun.objects.filter(pk=run.pk, status=S.RUNNING).update(
        chunks_done=F("chunks_done") + 1, progressed_at=timezone.now(),
        progress=Least(done, Value(1.0)))
    if counted:
        run.refresh_from_db(fields=["status", "progress", "chunks_done"])
        run_announce(run)


def optimisation_chunk_failed(*, run_id: int, error: BaseException) -> OptimisationRun | None:
    """The chord's error callback: a chunk (or the finish task) raised; the run fails in
    words, once."""
    run = OptimisationRun.objects.filter(pk=run_id).first()
    if run is None:
        return None
    logger.error("optimisation %s: a chunk failed: %r", run_id, error)
    return run_finish(run, S.FAILED, error=_failure_words(error))


def _failure_words(error: BaseException) -> str:
    if isinstance(error, ChordError) and isinstance(error.__cause__, BaseException):
        error = error.__cause__  # the body's callback hears of a chunk's error wrapped
    if isinstance(error, SoftTimeLimitExceeded | TimeLimitExceeded):
        return (f"a chunk ran past the time limit of {TIME_LIMIT // 60} minutes: narrow the "
                "ranges or shorten the candle range")
    detail = str(error) if isinstance(error, ValueError) and str(error) else repr(error)
    return f"a chunk failed on a worker: {detail}"


# --- candles and configuration, per process ------------------------------------------------

class _FrameCache:
    """The candle frames of the last few runs in this process (the worker's threads share
    it), so a worker running several chunks of a run loads them once."""

    def __init__(self, size: int):
        self.size = size
        self.frames: OrderedDict[tuple, pd.DataFrame] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple, load: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        with self.lock:
            if key in self.frames:
                self.frames.move_to_end(key)
                return self.frames[key]
        frame = load()  # outside the lock: a slow load does not hold up other runs' chunks
        self.put(key, frame)
        return frame

    def put(self, key: tuple, frame: pd.DataFrame) -> None:
        with self.lock:
            self.frames[key] = frame
            self.frames.move_to_end(key)
            while len(self.frames) > self.size:
                self.frames.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.frames.clear()


_CANDLES = _FrameCache(CANDLE_FRAMES)


def _candle_key(run: OptimisationRun) -> tuple:
    return (run.market, run.symbol, run.interval, run.start, run.end, run.candle_count,
            run.data_hash)


def _candles(run: OptimisationRun) -> pd.DataFrame:
    """The candles the run started with: the first ``candle_count`` of its range (candles
    stored since then are left out), checked against its ``data_hash``."""
    def load() -> pd.DataFrame:
        candles = stored_candles(symbol=run.symbol, interval=run.interval, start=run.start,
                                 end=run.end, market=run.market)
        candles = candles.head(run.candle_count).reset_index(drop=True)
        if data_hash(candles) != run.data_hash:
            raise ValueError(f"the stored {run.interval} candles of {run.symbol} changed "
                             "since the optimisation started: run it again")
        return _with_analyses(run, candles)

    return _CANDLES.get(_candle_key(run), load)


def _with_analyses(run: OptimisationRun, candles: pd.DataFrame) -> pd.DataFrame:
    """Every candidate replays the stored AI analyses (for a strategy that reads them), as a
    single backtest run does."""
    return with_ai_analyses(get_strategy(run.strategy), candles, market=run.market,
                            symbol=run.symbol, interval=run.interval)[0]


def _config(run: OptimisationRun) -> BacktestConfig:
    return run_config(run, symbol_filters(symbol=run.symbol, market=run.market))


def _strategy_class(run: OptimisationRun) -> type[Strategy]:
    try:
        return get_strategy(run.strategy)
    except KeyError as missing:
        raise ValueError(str(missing.args[0])) from None


def _space(run: OptimisationRun, strategy_class: type[Strategy]) -> dict[str, list]:
    return parameter_space(strategy_class, _ranges(run.space), run.fixed)


def _run_candidates(run: OptimisationRun, strategy_class: type[Strategy]) -> list[dict]:
    candidates = _candidates(strategy_class, _space(run, strategy_class), run.kind,
                             run.samples, run.seed)
    if not candidates:
        raise ValueError(f"no combination of these ranges is valid for {run.strategy}")
    return candidates


def _windows(run: OptimisationRun, candles: pd.DataFrame,
             candidates: list[dict]) -> list[Window]:
    return walk_forward_windows(len(candles), in_sample=run.in_sample,
                                out_of_sample=run.out_of_sample, step=run.step,
                                warmup=max_lookback(run.strategy, candidates))


# --- finish ---------------------------------------------------------------------------------

def optimisation_finish(*, run_id: int, parts: list[dict]) -> OptimisationRun | None:
    """The chord's body: rank every chunk's scores and store the results (done), or mark the
    run cancelled when a cancel was asked for. A run no longer running is left as it is."""
    run = OptimisationRun.objects.filter(pk=run_id).first()
    if run is None or run.status != S.RUNNING:
        return run
    if run.cancel_requested or any(part["skipped"] for part in parts):
        return run_finish(run, S.CANCELLED)
    try:
        results = _results(run, {part["index"]: part for part in parts})
    except ValueError as error:
        return run_finish(run, S.FAILED, error=str(error))
    except Exception as error:
        logger.exception("optimisation %s: the results could not be put together", run_id)
        return run_finish(run, S.FAILED, error=repr(error))
    try:
        return run_finish(run, S.DONE, progress=1.0, results=results)
    except Exception as error:  # e.g. results the database will not take
        logger.exception("optimisation %s: the results could not be stored", run_id)
        return run_finish(run, S.FAILED, error=f"the results could not be stored: {error!r}")


def _results(run: OptimisationRun, parts: dict[int, dict]) -> dict:
    missing = run.chunk_count - len(parts.keys() & set(range(run.chunk_count)))
    if missing:
        raise ValueError(f"{missing} of {run.chunk_count} chunks brought back no scores")
    ordered = [parts[index] for index in range(run.chunk_count)]
    notes = [] if symbol_filters(symbol=run.symbol, market=run.market) else [
        UNKNOWN_FILTERS_NOTE]
    if run.kind == K.WALK_FORWARD:
        return {**_walk_forward_results(run, ordered), "notes": notes}
    return {**_search_results(run, ordered), "notes": notes}


def _search_results(run: OptimisationRun, parts: list[dict]) -> dict:
    scores = [Score.from_dict(score) for part in parts for score in part["scores"]]
    ranked = rank(scores, run.objective, min_trades=run.min_trades)
    eligible = sum(score.eligible for score in ranked)
    best = ranked[0] if eligible else None
    return {
        "objective": run.objective, "min_trades": run.min_trades,
        "candidates": run.candidate_count, "evaluated": len(ranked), "eligible": eligible,
        "ineligible": len(ranked) - eligible,
        "best": best and best.params, "best_value": best and best.value,
        "best_metrics": best and best.metrics,
        "top": [score.as_dict() for score in ranked[:OptimisationRun.TOP_SCORES]],
        "why_none": "" if best else (f"no candidate reached {run.min_trades} trades with a "
                                     f"{run.objective} value"),
    }


def _walk_forward_results(run: OptimisationRun, parts: list[dict]) -> dict:
    strategy_class = _strategy_class(run)
    candidates = _run_candidates(run, strategy_class)
    candles = _candles(run)
    windows = _windows(run, candles, candidates)
    found: dict[int, list[Score]] = {}
    for part in parts:
        found.setdefault(part["window"], []).extend(map(Score.from_dict, part["scores"]))
    by_first_row = {window.warmup_start: found[window.index] for window in windows}

    def collected(_candidates, in_sample: pd.DataFrame, _config, *, trade_from: int):
        return by_first_row[in_sample.index[0]]  # walk_forward slices keep the row labels

    result = walk_forward(run.strategy, candles, _config(run), _space(run, strategy_class),
                          objective=run.objective, min_trades=run.min_trades, windows=windows,
                          search="random" if run.samples is not None else "grid",
                          samples=run.samples, seed=run.seed, evaluate_many=collected)
    data = result.as_dict()
    winners = [window["best_params"] for window in data["windows"] if window["best_params"]]
    return {**data, "curve": _thinned(data["curve"]), "best": winners[-1] if winners else None}


def _thinned(curve: dict) -> dict:
    """The stitched curve thinned evenly to about CURVE_POINTS (the last point kept)."""
    count = len(curve["equity"])
    step = max(1, count // CURVE_POINTS)
    picks = sorted({*range(0, count, step), count - 1}) if count else []
    return {"times": [curve["times"][i] for i in picks],
            "equity": [curve["equity"][i] for i in picks], "points": count}


# --- cancel, finish, announce ----------------------------------------------------------------

def optimisation_cancel(*, run: OptimisationRun) -> OptimisationRun:
    """A queued run is cancelled at once; a running one is asked to stop (its chunks skip
    their work within CHECK_SECONDS and the finish task marks it cancelled). A run running
    with no chunk finished for longer than a task may take has lost its workers (an embedded
    platform restarted with its in-memory queue, say) and is cancelled at once. Cancelling a
    cancelled run again changes nothing; a finished one is refused."""
    limit = timezone.now() - STALE_AFTER
    run = run_cancel(run, lost=Q(progressed_at__lt=limit)
                     | Q(progressed_at__isnull=True, started_at__lt=limit))
    if run.status in (S.DONE, S.FAILED):
        raise BacktestRefused({"status": f"optimisation #{run.pk} is {run.status}: there is "
                                         "nothing to cancel"})
    return run


