"""The trader's optimisation pages: the list of runs (live progress), the form (ranges per
parameter, the search, its objective; the combinations it would try counted as it is filled),
and a run's page: progress with its chunks, then the ranked candidates with a heatmap when two
parameters vary, or the walk-forward windows, stitched out-of-sample equity and the
parameters' stability; "Backtest these" runs a candidate as a backtest.

Every query starts from `request.user` (`OptimisationRun.objects.owned_by`): anyone else's run
is a 404. The form validates, a service acts, the page or the one partial an event refreshes
renders.
"""

from datetime import datetime
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import F, Window
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import RowNumber
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backtests.engine.optimise import objective_value, parameter_space
from backtests.forms import OptimisationForm, engine_ranges
from backtests.models import OptimisationRun
from backtests.optimisation import optimisation_cancel, optimisation_create, optimisation_repeat
from backtests.services import BacktestRefused, backtest_run_create
from backtests.views import (
    POLL_SECONDS,
    RUNS_PER_PAGE,
    _figure_groups,
    _number,
    _pairs,
    _range_text,
    _sign,
    cancel_response,
    create_response,
    figure_text,
    label,
    repeat_response,
)
from bots.strategies import ParameterError, available, get_strategy
from marketdata.models import Kline

S = OptimisationRun.Status
K = OptimisationRun.Kind
# The figures of each ranked candidate shown beside its objective.
SCORE_FIGURES = ("total_return_pct", "max_drawdown_pct", "sharpe", "trade_count")
HEATMAP_AXIS = 30  # values per axis; a longer range shows only the values of the kept scores


def _owned(request, pk) -> OptimisationRun:
    return get_object_or_404(OptimisationRun.objects.owned_by(request.user), pk=pk)


# --- words and numbers -----------------------------------------------------------------------

def _objective_text(objective: str, value) -> str:
    number = _number(value)
    if number is None:
        return "–"
    return figure_text("total_return_pct", number) if objective == "return" else f"{number:.3f}"


def _shown(value):
    """A parameter's value as the scores store it (Decimals as strings)."""
    return str(value) if isinstance(value, Decimal) else value


def _asked_text(run: OptimisationRun) -> str:
    """The ranges as asked, in words: "fast 5 to 15 by 5, slow 20/30/40, stop_loss_pct = 2"."""
    parts = []
    for name, given in (run.space or {}).items():
        if isinstance(given, dict):
            parts.append(f"{name} {given.get('min')} to {given.get('max')} by {given.get('step')}")
        elif isinstance(given, list):
            parts.append(f"{name} {'/'.join(str(value) for value in given)}")
        else:
            parts.append(f"{name} over its declared range")
    parts += [f"{name} = {value}" for name, value in (run.fixed or {}).items()]
    return ", ".join(parts) or "every parameter over its declared range"


def _search_text(run: OptimisationRun) -> str:
    if run.kind == K.RANDOM:
        return f"random search, {run.samples} samples (seed {run.seed})"
    if run.kind == K.WALK_FORWARD:
        search = f"{run.samples} samples (seed {run.seed})" if run.samples else "every combination"
        step = f", step {run.step:,}" if run.step else ""
        return (f"walk-forward: {run.in_sample:,} candles in sample, {run.out_of_sample:,} out "
                f"of sample{step}; {search} in each window")
    return "grid search: every combination"


def _best_text(run: OptimisationRun) -> tuple[str, str]:
    """The list's best value (walk-forward: the stitched out-of-sample objective) and its
    note. Reads the annotations of `_listed_runs`, or the results."""
    if run.kind == K.WALK_FORWARD:
        metrics = getattr(run, "wf_metrics", None) or (run.results or {}).get("metrics") or {}
        value = objective_value(run.objective, metrics) if metrics else None
        return _objective_text(run.objective, value), "out of sample" if metrics else ""
    if hasattr(run, "best_value"):
        return _objective_text(run.objective, run.best_value), ""
    best = (run.results or {}).get("best_value")
    return _objective_text(run.objective, best), ""


# --- the list ------------------------------------------------------------------------------

def _listed_runs(user):
    """The owner's runs without their results, but with the two figures the list shows."""
    return (OptimisationRun.objects.owned_by(user).defer("results")
            .annotate(best_value=KeyTransform("best_value", "results"),
                      wf_metrics=KeyTransform("metrics", "results")))


def _listed(run: OptimisationRun) -> OptimisationRun:
    run.range_text = _range_text(run)
    run.asked_text = _asked_text(run)
    run.best_text, run.best_note = _best_text(run)
    return run


@login_required
@require_GET
def optimisation_list(request):
    page = Paginator(_listed_runs(request.user), RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "backtests/optimisation_list.html",
                  {"page": page, "runs": [_listed(run) for run in page],
                   "poll_seconds": POLL_SECONDS})


@login_required
@require_GET
def optimisation_row(request, pk):
    run = get_object_or_404(_listed_runs(request.user), pk=pk)
    return render(request, "backtests/optimisation_row.html",
                  {"run": _listed(run), "poll_seconds": POLL_SECONDS})


# --- the form ------------------------------------------------------------------------------

@login_required
@require_GET
def optimisation_parameters(request):
    """The range fields of the strategy chosen on the form (HTMX swaps them in), with the
    combinations counted for the search chosen."""
    strategy = request.GET.get("strategy", "")
    if strategy not in available():
        raise Http404("no such strategy")
    chosen = {name: request.GET[name] for name in ("kind", "samples") if name in request.GET}
    return render(request, "backtests/optimisation_parameters.html",
                  {"form": OptimisationForm(strategy=strategy, initial=chosen)})


@login_required
@require_POST
def optimisation_combinations(request):
    """The combinations the form as filled would try (refreshed on every change)."""
    return render(request, "backtests/optimisation_combinations.html",
                  {"form": OptimisationForm(request.POST)})


@login_required
@require_http_methods(["GET", "POST"])
def optimisation_create_view(request):
    return create_response(request, form_class=OptimisationForm, owned=_owned,
                           create=optimisation_create,
                           template="backtests/optimisation_form.html",
                           detail="backtests:optimisation-detail", label="Optimisation")


# --- a run's page --------------------------------------------------------------------------

def _space_values(run: OptimisationRun) -> dict[str, list]:
    """Every value the run tried per parameter (empty when its strategy has gone)."""
    try:
        return parameter_space(get_strategy(run.strategy), engine_ranges(run.space or {}),
                               run.fixed)
    except (KeyError, ValueError):
        return {}


def _varied(values: dict[str, list], tried: list[dict]) -> list[str]:
    """The parameters that took more than one value (from the space, else from the params
    found in the results)."""
    names = [name for name, options in values.items() if len(options) > 1]
    if names or not tried:
        return names
    return [name for name in tried[0] if len({str(params.get(name)) for params in tried}) > 1]


def _score_figures(objective: str) -> list[str]:
    """The figures beside the objective (not the objective's own figure a second time)."""
    own = {"sharpe": "sharpe", "return": "total_return_pct"}.get(objective)
    return [name for name in SCORE_FIGURES if name != own]


def _score_row(rank: int, score: dict, varied: list[str], objective: str) -> dict:
    metrics = score.get("metrics") or {}
    return {"rank": rank, "params": [score["params"].get(name) for name in varied],
            "value": _objective_text(objective, score.get("value")),
            "figures": [{"name": name, "text": figure_text(name, metrics.get(name)),
                         "sign": _sign(metrics.get(name)) if name == "total_return_pct" else ""}
                        for name in _score_figures(objective)],
            "eligible": score.get("eligible"), "why": score.get("why")}


def _search_context(run: OptimisationRun) -> dict:
    results = run.results or {}
    scores = run.top_scores()
    values = _space_values(run)
    varied = _varied(values, [score["params"] for score in scores])
    best = results.get("best")
    figures = _score_figures(run.objective)
    return {
        "varied": varied, "figure_labels": [label(name) for name in figures],
        "column_count": len(varied) + len(figures) + 4,
        "counts": {name: results.get(name) for name in (
            "candidates", "evaluated", "eligible", "ineligible")},
        "kept": len(scores), "why_none": results.get("why_none"),
        "scores": [_score_row(rank, score, varied, run.objective)
                   for rank, score in enumerate(scores, start=1)],
        "best_text": _pairs(best), "best_value_text": _objective_text(
            run.objective, results.get("best_value")),
        "constant_text": _pairs({name: value for name, value in (best or (
            scores[0]["params"] if scores else {})).items() if name not in varied}),
        "heatmap": _heatmap(run, scores, varied, values) if len(varied) == 2 else None,
    }


def _axis(name: str, values: dict[str, list], scores: list[dict]) -> tuple[list, bool]:
    """The heatmap's values along one parameter: all it tried, or (past HEATMAP_AXIS) those
    of the kept scores; and whether it is cut."""
    tried = [_shown(value) for value in values.get(name, [])]
    if tried and len(tried) <= HEATMAP_AXIS:
        return tried, False
    seen = {str(score["params"].get(name)): score["params"].get(name) for score in scores}
    return sorted(seen.values(), key=lambda v: (_number(v) is None, _number(v) or 0, str(v))), True


def _refusal(strategy: str, params: dict) -> str:
    """Why the strategy refuses a combination ("" when it would take it)."""
    try:
        get_strategy(strategy)(**params)
    except ParameterError as invalid:
        return "; ".join(invalid.errors.values())
    except KeyError:
        return ""
    return ""


def _heatmap(run: OptimisationRun, scores: list[dict], varied: list[str],
             values: dict[str, list]) -> dict:
    """The objective over the two varied parameters: rows the first, columns the second,
    each cell coloured from the worst eligible value (0) to the best (1)."""
    across, down = varied[1], varied[0]
    rows, rows_cut = _axis(down, values, scores)
    columns, columns_cut = _axis(across, values, scores)
    found = {(str(score["params"].get(down)), str(score["params"].get(across))): (rank, score)
             for rank, score in enumerate(scores, start=1)}
    ranked = [score["value"] for score in scores
              if score.get("eligible") and score.get("value") is not None]
    low, high = (min(ranked), max(ranked)) if ranked else (0.0, 0.0)
    others = dict(scores[0]["params"]) if scores else {}

    def cell(row, column) -> dict:
        rank, score = found.get((str(row), str(column)), (None, None))
        if score is None:
            refused = _refusal(run.strategy, {**others, down: row, across: column})
            return {"kind": "refused" if refused else "missing", "text": "",
                    "title": f"the strategy refuses it: {refused}" if refused
                    else f"not among the {len(scores)} best kept"}
        text = _objective_text(run.objective, score.get("value"))
        if not score.get("eligible") or score.get("value") is None:
            return {"kind": "ineligible", "text": text, "rank": rank,
                    "title": f"not ranked: {score.get('why')}"}
        heat = 0.5 if high == low else (score["value"] - low) / (high - low)
        return {"kind": "best" if rank == 1 else "ranked", "text": text, "rank": rank,
                "heat": f"{heat:.3f}", "title": f"#{rank}: {down}={row}, {across}={column}, "
                                                f"{run.objective} {text}"}

    return {"down": down, "across": across, "columns": columns,
            "rows": [{"value": row, "cells": [cell(row, column) for column in columns]}
                     for row in rows],
            "cut": rows_cut or columns_cut, "low": _objective_text(run.objective, low),
            "high": _objective_text(run.objective, high)}


def _row_times(run: OptimisationRun, rows: set[int]) -> dict[int, str]:
    """The open time of the run's candles at these row numbers (0 = its first candle), as
    the walk-forward windows count them; one query."""
    candles = Kline.objects.filter(market=run.market, symbol=run.symbol, interval=run.interval)
    if run.start is not None:
        candles = candles.filter(open_time__gte=run.start)
    if run.end is not None:
        candles = candles.filter(open_time__lt=run.end)
    numbered = candles.annotate(row=Window(RowNumber(), order_by=F("open_time").asc()))
    found = numbered.filter(row__in=[row + 1 for row in rows]).values_list("row", "open_time")
    return {row - 1: when.strftime("%Y-%m-%d %H:%M") for row, when in found}


def _walk_forward_context(run: OptimisationRun) -> dict:
    results = run.results or {}
    windows = results.get("windows") or []
    varied = _varied(_space_values(run), [w["best_params"] for w in windows if w["best_params"]])
    times = _row_times(run, {row for w in windows for row in (
        w["in_sample_start"], w["out_of_sample_start"] - 1, w["out_of_sample_start"],
        w["out_of_sample_end"] - 1)})

    def span(first: int, last: int) -> str:
        return f"{times.get(first, f'row {first}')} – {times.get(last, f'row {last}')}"

    rows = [{"number": w["index"] + 1,
             "in_sample": span(w["in_sample_start"], w["out_of_sample_start"] - 1),
             "in_count": w["out_of_sample_start"] - w["in_sample_start"],
             "out_of_sample": span(w["out_of_sample_start"], w["out_of_sample_end"] - 1),
             "out_count": w["out_of_sample_end"] - w["out_of_sample_start"],
             "best": _pairs({name: (w["best_params"] or {}).get(name) for name in varied})
             if w["best_params"] else "", "note": w.get("note"), "eligible": w.get("eligible"),
             "in_value": _objective_text(run.objective, w.get("in_sample_value")),
             "out_value": _objective_text(run.objective, w.get("out_of_sample_value")),
             "out_sign": _sign(w.get("out_of_sample_value"))} for w in windows]
    curve = results.get("curve") or {}
    equity = [{"time": int(datetime.fromisoformat(when).timestamp()), "value": value}
              for when, value in zip(curve.get("times", []), curve.get("equity", []),
                                     strict=False) if _number(value) is not None]
    metrics = results.get("metrics") or {}
    return {"windows": rows, "varied": varied, "equity": equity,
            "curve_points": curve.get("points", len(equity)),
            "figure_groups": _figure_groups(metrics),
            "out_of_sample_value": _objective_text(run.objective,
                                                   objective_value(run.objective, metrics)),
            "stability": results.get("stability") or [],
            "best_text": _pairs(results.get("best"))}


def _run_context(run: OptimisationRun, problem: str | None = None) -> dict:
    settings = run.settings or {}
    context = {"run": run, "problem": problem, "percent": round(run.progress * 100),
               "poll_seconds": POLL_SECONDS, "range_text": _range_text(run),
               "settings": settings, "sizing_text": _pairs(settings.get("sizing_config")),
               "asked_text": _asked_text(run), "search_text": _search_text(run),
               "objective_text": run.get_objective_display(),
               "candle_count_text": f"{run.candle_count:,}",
               "notes": (run.results or {}).get("notes") or []}
    if run.status == S.DONE:
        context.update(_walk_forward_context(run) if run.kind == K.WALK_FORWARD
                       else _search_context(run))
    return context


@login_required
@require_GET
def optimisation_detail(request, pk):
    return render(request, "backtests/optimisation_detail.html",
                  _run_context(_owned(request, pk)))


@login_required
@require_GET
def optimisation_partial(request, pk):
    """The run's status and, once done, its results (refreshed when its status changes)."""
    return render(request, "backtests/optimisation_run.html", _run_context(_owned(request, pk)))


@login_required
@require_POST
def optimisation_cancel_view(request, pk):
    return cancel_response(request, _owned(request, pk), cancel=optimisation_cancel,
                           partial="backtests/optimisation_run.html", context=_run_context,
                           detail="backtests:optimisation-detail", label="Optimisation")


@login_required
@require_POST
def optimisation_repeat_view(request, pk):
    """The same optimisation again (the candles stored now may differ)."""
    return repeat_response(request, _owned(request, pk), repeat=optimisation_repeat,
                           detail="backtests:optimisation-detail", label="Optimisation")


def _chosen_params(run: OptimisationRun, rank: str) -> dict | None:
    """The parameters of the ranked candidate ``rank`` (1 = the best kept), else the best."""
    scores = run.top_scores()
    if rank.isdigit() and 1 <= int(rank) <= len(scores):
        return scores[int(rank) - 1]["params"]
    return run.best_params


@login_required
@require_POST
def optimisation_backtest(request, pk):
    """"Backtest these": a backtest of a candidate's parameters on the optimisation's candles
    with its money and costs, for its trades, charts and checks."""
    run = _owned(request, pk)
    params = _chosen_params(run, request.POST.get("rank", ""))
    if run.status != S.DONE or params is None:
        messages.error(request, "There are no parameters to backtest: the optimisation found "
                                "no winner.")
        return redirect("backtests:optimisation-detail", pk=run.pk)
    try:
        backtest = backtest_run_create(
            owner=request.user, strategy=run.strategy, params=params, symbol=run.symbol,
            interval=run.interval, start=run.start, end=run.end, settings=dict(run.settings))
    except BacktestRefused as refused:
        messages.error(request, f"It cannot be backtested: {refused}")
        return redirect("backtests:optimisation-detail", pk=run.pk)
    messages.success(request, f"Backtest #{backtest.pk} queued: {_pairs(params)} from "
                              f"optimisation #{run.pk}.")
    return redirect("backtests:detail", pk=backtest.pk)
