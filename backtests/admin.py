"""Backtest runs in the control panel: staff start a run (the add form goes through the same
checks as the API), follow it, run it again or cancel it, and read its figures; and
optimisations, read with their top scores, run again or cancelled."""

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from backtests.models import BacktestRun, OptimisationRun
from backtests.optimisation import optimisation_cancel, optimisation_repeat
from backtests.services import (
    DEFAULT_SETTINGS,
    FEE_ASSETS,
    BacktestRefused,
    backtest_run_cancel,
    backtest_run_create,
    backtest_run_repeat,
    backtest_run_validate,
)
from bots.strategies import available
from bots.strategies.sizing import METHODS as SIZING_METHODS

SETTINGS = ("cash", "fee", "fee_asset", "slippage_bps", "sizing", "sizing_config")
RUN_FIELDS = ("owner", "portfolio", "strategy", "params", "symbol", "interval", "start", "end")


def _strategy_choices():
    return [(name, name) for name in available()]


class BacktestRunAddForm(forms.ModelForm):
    """A new run, checked as the API checks it (the strategy's parameters, the numbers, that
    candles are stored), problems shown beside their fields."""

    strategy = forms.ChoiceField(choices=_strategy_choices)
    params = forms.JSONField(required=False, initial=dict,
                             help_text='e.g. {"fast": 10, "slow": 30}; missing ones take '
                                       "their defaults")
    cash = forms.DecimalField(initial=DEFAULT_SETTINGS["cash"])
    fee = forms.DecimalField(initial=DEFAULT_SETTINGS["fee"],
                             help_text="per side, maker and taker (0.001 = 0.1%)")
    fee_asset = forms.ChoiceField(choices=[(a, a) for a in FEE_ASSETS],
                                  initial=DEFAULT_SETTINGS["fee_asset"])
    slippage_bps = forms.DecimalField(initial=DEFAULT_SETTINGS["slippage_bps"])
    sizing = forms.ChoiceField(choices=[(m, m) for m in SIZING_METHODS],
                               initial=DEFAULT_SETTINGS["sizing"])
    sizing_config = forms.JSONField(initial=DEFAULT_SETTINGS["sizing_config"])

    class Meta:
        model = BacktestRun
        fields = [*RUN_FIELDS, *SETTINGS]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.run_fields = backtest_run_validate(**self.service_kwargs())
        except BacktestRefused as refused:
            for name, message in refused.errors.items():
                self.add_error(name if name in self.fields else None, f"{name}: {message}")
        return data

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {**{name: data.get(name) for name in RUN_FIELDS},
                "params": data.get("params") or {},
                "settings": {name: data.get(name) for name in SETTINGS}}


class RunActions:
    """Run again and Cancel, through the run's services (``repeat``, ``cancel_run``)."""

    @admin.action(description="Run again (a new run asked the same way, same owner)")
    def run_again(self, request, queryset):
        for run in queryset.select_related("owner"):
            try:
                again = self.repeat(run=run)
            except BacktestRefused as refused:
                self.message_user(request, f"{run}: not run again: {refused}", messages.ERROR)
            else:
                self.message_user(request, f"{run}: queued again as #{again.pk}")

    @admin.action(description="Cancel the selected runs")
    def cancel(self, request, queryset):
        for run in queryset:
            try:
                run = self.cancel_run(run=run)
            except BacktestRefused as refused:
                self.message_user(request, f"{run}: {refused}", messages.WARNING)
            else:
                done = "cancelled" if run.status == run.Status.CANCELLED else "asked to stop"
                self.message_user(request, f"{run}: {done}")


@admin.register(BacktestRun)
class BacktestRunAdmin(RunActions, admin.ModelAdmin):
    add_form = BacktestRunAddForm
    add_fieldsets = [
        (None, {"fields": list(RUN_FIELDS)}),
        ("Money and costs", {"fields": list(SETTINGS)}),
    ]
    fieldsets = [
        (None, {"fields": ["owner", "portfolio", "bot", "strategy", "params", "symbol",
                           "market", "interval", "start", "end", "settings"]}),
        ("Run", {"fields": ["status", "progress_pct", "cancel_requested", "error",
                            "created_at", "started_at", "finished_at", "celery_task_id"]}),
        ("Results", {"fields": ["figures", "notes", "trades_summary", "candle_count",
                                "data_hash", "code_version"]}),
    ]
    readonly_fields = ["progress_pct", "figures", "notes", "trades_summary"]
    list_display = ["__str__", "owner", "strategy", "symbol", "interval", "status",
                    "progress_pct", "total_return", "created_at"]
    list_filter = ["status", "strategy", "interval", "symbol"]
    list_select_related = ["owner"]
    search_fields = ["strategy", "symbol", "owner__username"]
    autocomplete_fields = ["owner", "portfolio"]
    actions = ["run_again", "cancel"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("results")  # loaded only when shown

    def has_change_permission(self, request, obj=None):
        return False  # a run is a record: start another one instead

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, **kwargs)

    def get_changeform_initial_data(self, request):
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj, form, change):
        run = backtest_run_create(**form.service_kwargs())
        obj.pk, obj._state.adding = run.pk, False  # the admin's message and log name it

    @admin.display(description="progress")
    def progress_pct(self, run: BacktestRun) -> str:
        return f"{run.progress * 100:.0f}%"

    @admin.display(description="total return %")
    def total_return(self, run: BacktestRun) -> str:
        value = run.total_return_pct
        return "-" if value is None else value

    @admin.display(description="figures")
    def figures(self, run: BacktestRun) -> str:
        if not run.metrics:
            return "-"
        return format_html("<table>{}</table>", format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>",
            ((name.replace("_", " "), "-" if value is None else value)
             for name, value in run.metrics.items())))

    @admin.display(description="notes")
    def notes(self, run: BacktestRun) -> str:
        notes = (run.results or {}).get("notes", [])
        return format_html_join("", "<p>{}</p>", ((note,) for note in notes)) or "-"

    @admin.display(description="trades")
    def trades_summary(self, run: BacktestRun) -> str:
        if run.status != BacktestRun.Status.DONE:
            return "-"
        url = reverse("backtest-trades-csv", args=[run.pk])
        return format_html('{} (<a href="{}">download CSV</a>)', len(run.trades()), url)

    repeat = staticmethod(backtest_run_repeat)
    cancel_run = staticmethod(backtest_run_cancel)


@admin.register(OptimisationRun)
class OptimisationRunAdmin(RunActions, admin.ModelAdmin):
    """Optimisations are started from the API (or run again from here) and read here: the
    top scores as a table, the walk-forward windows and the parameters' stability."""

    fieldsets = [
        (None, {"fields": ["owner", "kind", "strategy", "symbol", "market", "interval",
                           "start", "end", "settings", "space", "fixed", "samples", "seed",
                           "objective", "min_trades", "in_sample", "out_of_sample", "step"]}),
        ("Run", {"fields": ["status", "progress_pct", "chunks", "candidate_count",
                            "cancel_requested", "error", "created_at", "started_at",
                            "progressed_at", "finished_at", "celery_task_id",
                            "chord_task_id"]}),
        ("Results", {"fields": ["best", "top_scores", "windows", "stability", "candle_count",
                                "data_hash", "code_version"]}),
    ]
    readonly_fields = ["progress_pct", "chunks", "best", "top_scores", "windows", "stability"]
    list_display = ["__str__", "owner", "kind", "strategy", "symbol", "interval", "objective",
                    "status", "progress_pct", "created_at"]
    list_filter = ["status", "kind", "strategy", "objective", "interval"]
    list_select_related = ["owner"]
    search_fields = ["strategy", "symbol", "owner__username"]
    actions = ["run_again", "cancel"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("results")  # loaded only when shown

    def has_add_permission(self, request):
        return False  # asked through the API (ranges are JSON), or run again from here

    def has_change_permission(self, request, obj=None):
        return False  # a record: run it again instead

    @admin.display(description="progress")
    def progress_pct(self, run: OptimisationRun) -> str:
        return f"{run.progress * 100:.0f}%"

    @admin.display(description="chunks done")
    def chunks(self, run: OptimisationRun) -> str:
        return f"{run.chunks_done} of {run.chunk_count}"

    @admin.display(description="best parameters")
    def best(self, run: OptimisationRun) -> str:
        results = run.results or {}
        if run.best_params is None:
            return results.get("why_none") or "-"
        value = results.get("best_value")
        shown = ", ".join(f"{name}={v}" for name, v in run.best_params.items())
        return shown if value is None else f"{shown} ({run.objective} {value:.4g})"

    @admin.display(description="top scores")
    def top_scores(self, run: OptimisationRun) -> str:
        scores = run.top_scores()
        if not scores:
            return "-"
        header = format_html("<tr><th>#</th><th>parameters</th><th>{}</th>{}<th>why not "
                             "ranked</th></tr>", run.objective,
                             format_html_join("", "<th>{}</th>",
                                              ((name.replace("_", " "),) for name in SHOWN)))
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td>{}<td>{}</td></tr>", (
            (rank, _params(score["params"]), _figure(score["value"]),
             format_html_join("", "<td>{}</td>", ((_figure(score["metrics"].get(name)),)
                                                  for name in SHOWN)), score["why"])
            for rank, score in enumerate(scores, start=1)))
        return format_html("<table>{}{}</table>", header, rows)

    @admin.display(description="walk-forward windows")
    def windows(self, run: OptimisationRun) -> str:
        windows = (run.results or {}).get("windows")
        if not windows:
            return "-"
        return format_html(
            "<table><tr><th>#</th><th>in sample from row</th><th>out of sample rows</th>"
            "<th>winner</th><th>in sample</th><th>out of sample</th><th>note</th></tr>{}"
            "</table>", format_html_join("", "<tr>" + "<td>{}</td>" * 7 + "</tr>", (
                (w["index"], w["in_sample_start"],
                 f"{w['out_of_sample_start']}-{w['out_of_sample_end']}",
                 _params(w["best_params"] or {}) or "-", _figure(w["in_sample_value"]),
                 _figure(w["out_of_sample_value"]), w["note"]) for w in windows)))

    @admin.display(description="parameter stability")
    def stability(self, run: OptimisationRun) -> str:
        rows = (run.results or {}).get("stability")
        return format_html_join("", "<p>{}</p>", ((row["words"],) for row in rows or ())) or "-"

    repeat = staticmethod(optimisation_repeat)
    cancel_run = staticmethod(optimisation_cancel)


SHOWN = ("trade_count", "total_return_pct", "max_drawdown_pct", "sharpe", "win_rate_pct")


def _params(params: dict) -> str:
    return ", ".join(f"{name}={value}" for name, value in params.items())


def _figure(value) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
