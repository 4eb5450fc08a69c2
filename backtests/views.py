"""The trader's backtest pages: the list of runs (live progress), the form, a run's page (its
figures, checks, charts, trades and monthly returns), runs compared side by side, and a bot's
backtest-against-live drift.

Every query starts from `request.user` (`BacktestRun.objects.owned_by`, `Bot.objects.owned_by`):
anyone else's run or bot is a 404. The form validates, a service acts, the page or the one
partial an event refreshes renders.
"""

import math
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from backtests.drift import drift_report
from backtests.engine import CandleError
from backtests.forms import BacktestForm
from backtests.models import BacktestRun
from backtests.services import (
    BacktestRefused,
    backtest_run_cancel,
    backtest_run_create,
    backtest_run_repeat,
    stored_candles,
)
from bots.models import Bot
from bots.strategies import available

R = BacktestRun.Status
RUNS_PER_PAGE = 50
TRADES_SHOWN = 500
REFUSALS_SHOWN = 20
CHART_CANDLES = 5_000  # more are merged into wider candles: a chart shows no more anyway
MARKER_TRADES = 1_000
MAX_COMPARED = 10
# Events move a running run's bar and announce its end; a page that missed the last one (its
# socket was reconnecting) still learns of it by asking again this often while it runs.
POLL_SECONDS = 10
EPOCH = pd.Timestamp(0, tz="UTC")

# The figures of a run, grouped as the run's page shows them; any other figure the engine
# reports is listed under "Other", so none is ever hidden.
FIGURE_GROUPS = [
    ("Returns", ["starting_cash", "final_equity", "equity_peak", "total_return_pct",
                 "cagr_pct", "buy_hold_return_pct"]),
    ("Risk", ["max_drawdown_pct", "max_drawdown_duration_days", "volatility_pct", "sharpe",
              "sortino", "calmar"]),
    ("Trades", ["trade_count", "win_rate_pct", "profit_factor", "expectancy", "expectancy_pct",
                "avg_win", "avg_loss", "best_trade_pct", "worst_trade_pct",
                "avg_trade_duration_hours", "max_trade_duration_hours", "exposure_pct",
                "max_consecutive_wins", "max_consecutive_losses", "sqn", "fees_paid"]),
    ("Period", ["start", "end", "duration_days"]),
]
# Labels other than the name in words ("win_rate_pct" reads "Win rate").
LABELS = {
    "cagr_pct": "CAGR", "buy_hold_return_pct": "Buy and hold return",
    "max_drawdown_duration_days": "Longest drawdown", "volatility_pct": "Volatility (annual)",
    "trade_count": "Trades", "expectancy": "Expectancy per trade",
    "expectancy_pct": "Expectancy per trade %", "avg_win": "Average win",
    "avg_loss": "Average loss", "avg_trade_duration_hours": "Average trade",
    "max_trade_duration_hours": "Longest trade", "max_consecutive_wins": "Longest winning "
    "streak", "max_consecutive_losses": "Longest losing streak", "sqn": "SQN",
    "start": "First candle", "end": "Last candle", "duration_days": "Duration",
}
# Which way is better, for the comparison's highlight. Amounts of money are not ranked: runs
# with different cash would be ranked by their size.
HIGHER, LOWER = 1, -1
BETTER = {
    "total_return_pct": HIGHER, "cagr_pct": HIGHER, "max_drawdown_pct": LOWER,
    "max_drawdown_duration_days": LOWER, "volatility_pct": LOWER, "sharpe": HIGHER,
    "sortino": HIGHER, "calmar": HIGHER, "win_rate_pct": HIGHER, "profit_factor": HIGHER,
    "expectancy_pct": HIGHER, "best_trade_pct": HIGHER, "worst_trade_pct": HIGHER,
    "max_consecutive_wins": HIGHER, "max_consecutive_losses": LOWER, "sqn": HIGHER,
}
SIGNED = frozenset({"total_return_pct", "cagr_pct", "buy_hold_return_pct", "expectancy",
                    "expectancy_pct", "best_trade_pct", "worst_trade_pct", "sharpe", "sortino",
                    "calmar", "sqn"})
COUNTS = frozenset({"trade_count", "max_consecutive_wins", "max_consecutive_losses"})
RATIOS = frozenset({"sharpe", "sortino", "calmar", "sqn", "profit_factor"})
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _owned(request, pk) -> BacktestRun:
    return get_object_or_404(BacktestRun.objects.owned_by(request.user), pk=pk)


def _is_htmx(request) -> bool:
    return bool(request.headers.get("HX-Request"))


# --- figures in words ------------------------------------------------------------------------

def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def label(name: str) -> str:
    return LABELS.get(name) or name.removesuffix("_pct").replace("_", " ").capitalize()


def figure_text(name: str, value) -> str:
    """A figure as the pages show it (the report keeps every digit; the CSV and API too)."""
    if value is None or value == "":
        return "–"
    if name in ("start", "end"):
        return _when(value)
    number = _number(value)
    if number is None:
        return str(value)
    if name in COUNTS:
        return f"{int(number):,}"
    if name.endswith("_pct"):
        return f"{number:,.2f} %"
    if name.endswith("_days"):
        return f"{number:,.2f} days"
    if name.endswith("_hours"):
        return f"{number:,.2f} h"
    if name in RATIOS:
        return f"{number:.2f}"
    return f"{number:,.2f}"


def _sign(value) -> str:
    number = _number(value)
    if not number:
        return ""
    return "pos" if number > 0 else "neg"


def _when(iso: str | None) -> str:
    """"2024-03-01T00:55:00+00:00" -> "2024-03-01 00:55" (times are UTC)."""
    return iso[:16].replace("T", " ") if iso else "–"


def _figure_names(*metrics: dict) -> list[tuple[str, list[str]]]:
    listed = {name for _group, names in FIGURE_GROUPS for name in names}
    others = sorted({name for m in metrics for name in m} - listed)
    return [*FIGURE_GROUPS, *([("Other", others)] if others else [])]


def _figure_groups(metrics: dict) -> list[dict]:
    return [{"title": title,
             "rows": [{"name": name, "label": label(name),
                       "text": figure_text(name, metrics.get(name)),
                       "sign": _sign(metrics.get(name)) if name in SIGNED else ""}
                      for name in names if name in metrics]}
            for title, names in _figure_names(metrics)]


def _range_text(run: BacktestRun) -> str:
    start = run.start.strftime("%Y-%m-%d") if run.start else "oldest"
    if run.end is None:
        return f"{start} – newest"
    last = run.end - timedelta(microseconds=1)  # the end is exclusive; show the last day
    end = last.strftime("%Y-%m-%d") if run.end.time() == datetime.min.time() else (
        run.end.strftime("%Y-%m-%d %H:%M"))
    return f"{start} – {end}"


def _listed(run: BacktestRun) -> BacktestRun:
    """The run with what a row of the list shows."""
    metrics = run.metrics or {}
    run.range_text = _range_text(run)
    run.shown = {name: figure_text(name, metrics.get(name))
                 for name in ("total_return_pct", "sharpe", "max_drawdown_pct", "trade_count")}
    run.return_sign = _sign(metrics.get("total_return_pct"))
    run.params_text = _pairs(run.params)
    return run


def _pairs(values: dict | None) -> str:
    return ", ".join(f"{name}={value}" for name, value in (values or {}).items())


# --- the list ------------------------------------------------------------------------------

@login_required
@require_GET
def backtest_list(request):
    runs = BacktestRun.objects.owned_by(request.user).defer("results")
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "backtests/list.html",
                  {"page": page, "runs": [_listed(run) for run in page],
                   "poll_seconds": POLL_SECONDS})


@login_required
@require_GET
def backtest_row(request, pk):
    run = get_object_or_404(BacktestRun.objects.owned_by(request.user).defer("results"), pk=pk)
    return render(request, "backtests/partials/row.html",
                  {"run": _listed(run), "poll_seconds": POLL_SECONDS})


# --- the form ------------------------------------------------------------------------------

@login_required
@require_GET
def backtest_parameters(request):
    """The parameter fields of the strategy chosen on the form (HTMX swaps them in)."""
    strategy = request.GET.get("strategy", "")
    if strategy not in available():
        raise Http404("no such strategy")
    return render(request, "bots/partials/parameters.html",
                  {"form": BacktestForm(strategy=strategy)})


@login_required
@require_http_methods(["GET", "POST"])
def backtest_create_view(request):
    return create_response(request, form_class=BacktestForm, owned=_owned,
                           create=backtest_run_create, template="backtests/form.html",
                           detail="backtests:detail", label="Backtest")


def create_response(request, *, form_class, owned, create, template: str, detail: str,
                    label: str):
    """A run form (a backtest, an optimisation): GET shows it (``?from=<id>`` filled from an
    earlier run, ``?strategy=`` its parameters: the no-htmx button), POST checks it, asks
    ``create`` and goes to the new run's page, or shows the words beside the fields."""
    if request.method == "GET":
        wanted = request.GET.get("from", "")
        earlier = owned(request, int(wanted)) if wanted.isdigit() else None
        form = form_class(run=earlier, strategy=request.GET.get("strategy"))
        return render(request, template, {"form": form})
    form = form_class(request.POST)
    if not form.is_valid():
        return render(request, template, {"form": form}, status=400)
    try:
        run = create(owner=request.user, **form.run_fields())
    except BacktestRefused as refused:
        form.add_refusal(refused)
        return render(request, template, {"form": form}, status=400)
    messages.success(request, f"{label} #{run.pk} queued.")
    return redirect(detail, pk=run.pk)


# --- a run's page --------------------------------------------------------------------------

def _points(series) -> list[dict]:
    """The report's [iso time, value] pairs as chart points (seconds since 1970)."""
    points = []
    for when, value in series or []:
        number = _number(value)
        if number is not None:
            points.append({"time": int(datetime.fromisoformat(when).timestamp()),
                           "value": number})
    return points


def _trade_row(trade: dict) -> dict:
    return {**trade, "entry_text": _when(trade.get("entry_time")),
            "exit_text": _when(trade.get("exit_time")),
            "reason_text": (trade.get("exit_reason") or "").replace("_", " "),
            "sign": _sign(trade.get("pnl"))}


def _monthly_table(rows: list[dict]) -> list[dict]:
    """Years × months; each year with its compounded return."""
    by_year: dict[int, dict[int, float | None]] = {}
    for row in rows:
        by_year.setdefault(row["year"], {})[row["month"]] = _number(row.get("return_pct"))
    table = []
    for year in sorted(by_year):
        months = by_year[year]
        growth = math.prod(1 + r / 100 for r in months.values() if r is not None)
        cells = [{"text": "" if months.get(m) is None else f"{months[m]:.2f}",
                  "sign": _sign(months.get(m))} for m in range(1, 13)]
        total = (growth - 1) * 100
        table.append({"year": year, "cells": cells, "total": f"{total:.2f}",
                      "sign": _sign(total)})
    return table


def _checks(report: dict) -> list[dict]:
    checks = report.get("checks") or {}
    return [{"title": title, "name": name, **checks.get(name, {
                "passed": None, "summary": "Not run for this backtest (it ran before the "
                                           "checks were added): run it again to check."})}
            for name, title in (("lookahead", "Lookahead"), ("warmup", "Warm-up"))]


def _run_context(run: BacktestRun, problem: str | None = None) -> dict:
    settings = run.settings or {}
    context = {"run": run, "problem": problem, "percent": round(run.progress * 100),
               "poll_seconds": POLL_SECONDS, "candle_count_text": f"{run.candle_count:,}",
               "range_text": _range_text(run), "settings": settings,
               "params_text": _pairs(run.params), "sizing_text": _pairs(
                   settings.get("sizing_config"))}
    if run.status != R.DONE:
        return context
    report = run.results or {}
    trades = run.trades()
    context.update(
        figure_groups=_figure_groups(run.metrics or {}),
        trades=[_trade_row(t) for t in trades[:TRADES_SHOWN]], trade_total=len(trades),
        trades_capped=len(trades) > TRADES_SHOWN, trades_shown=TRADES_SHOWN,
        months=MONTHS, monthly=_monthly_table(report.get("monthly_returns") or []),
        refusals=[{"candle": _when(r.get("candle")), "reason": r.get("reason")}
                  for r in (report.get("refusals") or [])[:REFUSALS_SHOWN]],
        refusal_count=report.get("refusal_count") or 0,
        notes=report.get("notes") or [], checks=_checks(report),
        equity=_points(report.get("equity")), drawdown=_points(report.get("drawdown")),
    )
    return context


@login_required
@require_GET
def backtest_detail(request, pk):
    return render(request, "backtests/detail.html", _run_context(_owned(request, pk)))


@login_required
@require_GET
def backtest_partial(request, pk):
    """The run's status and, once done, its results (refreshed when its status changes)."""
    return render(request, "backtests/partials/run.html", _run_context(_owned(request, pk)))


def _thinned(candles: pd.DataFrame) -> tuple[np.ndarray, list[dict], int]:
    """Chart candles: every `step` candles merged into one (first open, highest high, lowest
    low, last close) so at most CHART_CANDLES are drawn. Times in seconds since 1970."""
    count = len(candles)
    step = max(1, math.ceil(count / CHART_CANDLES))
    starts = np.arange(0, count, step)
    seconds = ((candles["open_time"] - EPOCH) // pd.Timedelta(seconds=1)).to_numpy()[starts]
    columns = {name: candles[name].to_numpy() for name in ("open", "high", "low", "close")}
    opens = columns["open"][starts]
    highs = np.maximum.reduceat(columns["high"], starts)
    lows = np.minimum.reduceat(columns["low"], starts)
    closes = columns["close"][np.append(starts[1:], count) - 1]
    bars = [{"time": int(t), "open": float(o), "high": float(h), "low": float(lo),
             "close": float(c)} for t, o, h, lo, c in zip(seconds, opens, highs, lows, closes,
                                                           strict=True)]
    return seconds, bars, step


def _markers(run: BacktestRun, times: np.ndarray) -> list[dict]:
    """An arrow up at each buy, down at each sell, on the chart candle that holds it: a long
    enters with a buy below the candle and exits with a sell above it (with its reason); a
    futures short the other way round."""
    def bar_time(iso: str) -> int:
        moment = int(datetime.fromisoformat(iso).timestamp())
        return int(times[max(0, int(np.searchsorted(times, moment, side="right")) - 1)])

    markers = []
    for trade in run.trades()[:MARKER_TRADES]:
        short = trade.get("side") == "short"
        markers.append({"time": bar_time(trade["entry_time"]), **_arrow(not short),
                        "text": "short" if short else "buy", "price": trade["entry_price"]})
        if trade.get("exit_time") and trade.get("exit_reason") != "open_at_end":
            markers.append({"time": bar_time(trade["exit_time"]), **_arrow(short),
                            "text": (trade.get("exit_reason") or "exit").replace("_", " "),
                            "price": trade["exit_price"]})
    return sorted(markers, key=lambda marker: marker["time"])


def _arrow(buy: bool) -> dict:
    if buy:
        return {"position": "belowBar", "shape": "arrowUp", "color": "#2ebd85"}
    return {"position": "aboveBar", "shape": "arrowDown", "color": "#f6465d"}


@login_required
@require_GET
def backtest_chart_data(request, pk):
    """The run's candles (merged past CHART_CANDLES) with its entries and exits marked."""
    run = _owned(request, pk)
    try:
        candles = stored_candles(symbol=run.symbol, interval=run.interval, start=run.start,
                                 end=run.end, market=run.market)
    except CandleError:
        return JsonResponse({"candles": [], "markers": [], "candle_count": 0, "merged": 1})
    times, bars, step = _thinned(candles)
    markers = _markers(run, times) if run.status == R.DONE else []
    return JsonResponse({"candles": bars, "markers": markers, "candle_count": len(candles),
                         "merged": step, "trades_marked": min(len(run.trades()), MARKER_TRADES)})


@login_required
@require_POST
def backtest_cancel(request, pk):
    return cancel_response(request, _owned(request, pk), cancel=backtest_run_cancel,
                           partial="backtests/partials/run.html", context=_run_context,
                           detail="backtests:detail", label="Backtest")


def cancel_response(request, run, *, cancel, partial: str, context, detail: str, label: str):
    """Cancel a run (a backtest or an optimisation): its partial for htmx, else a message and
    its page."""
    problem = None
    try:
        run = cancel(run=run)
    except BacktestRefused as refused:
        problem = refused.errors.get("status") or str(refused)
    if _is_htmx(request):
        return render(request, partial, context(run, problem))
    if problem:
        messages.error(request, problem)
    else:
        messages.success(request, f"{label} #{run.pk}: cancel requested." if run.status ==
                         R.RUNNING else f"{label} #{run.pk} cancelled.")
    return redirect(detail, pk=run.pk)


@login_required
@require_POST
def backtest_repeat(request, pk):
    """The same backtest again (the candles stored now may differ: see the data hash)."""
    return repeat_response(request, _owned(request, pk), repeat=backtest_run_repeat,
                           detail="backtests:detail", label="Backtest")


def repeat_response(request, run, *, repeat, detail: str, label: str):
    """Queue ``run`` again and show the new one (or say why it cannot run)."""
    try:
        again = repeat(run=run)
    except BacktestRefused as refused:
        messages.error(request, f"It cannot run again: {refused}")
        return redirect(detail, pk=run.pk)
    messages.success(request, f"{label} #{again.pk} queued: #{run.pk} again.")
    return redirect(detail, pk=again.pk)


# --- runs side by side -----------------------------------------------------------------------

def _asked_ids(request) -> list[int]:
    """?ids=1,2,3 or ?ids=1&ids=2 (the list's checkboxes), in the order given."""
    ids = []
    for given in request.GET.getlist("ids"):
        for part in given.split(","):
            if part.strip().isdigit() and int(part) not in ids:
                ids.append(int(part))
    return ids


def _best(name: str, runs: list[BacktestRun]) -> set[int]:
    """The pks of the runs with the best value of ``name`` (none when fewer than two have
    one, or when all are equal)."""
    if name not in BETTER:
        return set()
    values = {run.pk: _number((run.metrics or {}).get(name)) for run in runs}
    values = {pk: v for pk, v in values.items() if v is not None}
    if len(values) < 2 or len(set(values.values())) == 1:
        return set()
    best = (max if BETTER[name] == HIGHER else min)(values.values())
    return {pk for pk, v in values.items() if v == best}


def _compare_rows(runs: list[BacktestRun]) -> list[dict]:
    groups = []
    for title, names in _figure_names(*(run.metrics or {} for run in runs)):
        rows = []
        for name in names:
            if not any(name in (run.metrics or {}) for run in runs):
                continue
            best = _best(name, runs)
            rows.append({"label": label(name), "name": name,
                         "cells": [{"text": figure_text(name, (run.metrics or {}).get(name)),
                                    "best": run.pk in best} for run in runs]})
        groups.append({"title": title, "rows": rows})
    return groups


def _normalised(run: BacktestRun) -> list[dict]:
    """The run's equity as 100 at its start, so runs with different cash compare."""
    points = _points((run.results or {}).get("equity"))
    first = points[0]["value"] if points else 0
    if not first:
        return []
    return [{"time": p["time"], "value": round(p["value"] / first * 100, 6)} for p in points]


@login_required
@require_GET
def backtest_compare(request):
    ids = _asked_ids(request)
    if len(ids) > MAX_COMPARED:
        return render(request, "backtests/compare.html", {
            "problem": f"Compare at most {MAX_COMPARED} runs at once ({len(ids)} chosen)."},
            status=400)
    found = {run.pk: run for run in BacktestRun.objects.owned_by(request.user).filter(pk__in=ids)}
    if len(found) != len(ids):
        raise Http404("no such backtest")
    runs = [_listed(found[pk]) for pk in ids]
    lines = [{"id": run.pk, "label": f"#{run.pk} {run.strategy} {run.symbol} {run.interval}",
              "points": _normalised(run)} for run in runs if run.status == R.DONE]
    return render(request, "backtests/compare.html",
                  {"runs": runs, "groups": _compare_rows(runs), "lines": lines})


# --- a bot's drift ---------------------------------------------------------------------------

def _side(side: dict | None) -> dict | None:
    if side is None:
        return None
    return {**side, "entry_text": _when(side.get("entry_time")),
            "exit_text": _when(side.get("exit_time")),
            "reason_text": (side.get("exit_reason") or "").replace("_", " ")}


@login_required
@require_GET
def backtest_drift(request, bot_id):
    bot = get_object_or_404(Bot.objects.owned_by(request.user).select_related("portfolio"),
                            pk=bot_id)
    report, problem = None, None
    try:
        report = drift_report(bot=bot)
    except ValueError as error:  # nothing decided yet, no candles stored: in words
        problem = str(error)
    rows = [{"decided_text": _when(row["decided_on"]), "live": _side(row["live"]),
             "backtest": _side(row["backtest"]), "differences": row["differences"]}
            for row in (report or {}).get("rows", [])]
    return render(request, "backtests/drift.html",
                  {"bot": bot, "report": report, "problem": problem, "rows": rows,
                   "period": report and f"{_when(report['from'])} to {_when(report['to'])}"})
