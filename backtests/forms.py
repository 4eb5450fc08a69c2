"""The backtest and optimisation forms. Both ask for a strategy, the candles (symbol, interval,
dates) and the money and costs (`RunForm`); a backtest then takes one input per declared
parameter of the chosen strategy (from `describe`, as on the bot form), an optimisation the
values to try for each (a min / max / step range, a fixed value, or the values of a choice)
and the search (grid, random, walk-forward), its objective and minimum trades.

A backtest's parameters are checked against the strategy here so each complaint sits beside
its own input; everything else is checked by the services (`backtest_run_create`,
`optimisation_create`), whose words are put beside the field they are about.
"""

import math
import re
from datetime import UTC, date, datetime, time, timedelta

from django import forms

from backtests.engine.optimise import OBJECTIVES, grid_candidates, parameter_space
from backtests.models import BacktestRun, OptimisationRun
from backtests.services import DEFAULT_SETTINGS, BacktestRefused
from bots.forms import PARAM, SIZING_SETTINGS, StrategyFields, sizing_initial
from bots.strategies import ParameterError, available, get_strategy
from marketdata.models import INTERVALS, WatchedSymbol

SIZING_LABELS = {"fixed_quote": "fixed amount per entry",
                 "allocation_fraction": "fraction of the cash (all-in: 1)",
                 "risk_per_trade": "risk per trade (needs a stop loss)"}
SIZING_INITIAL = {"sizing_amount": "100", "sizing_fraction": "1", "sizing_risk_fraction": "0.01"}
SETTINGS = ("cash", "fee", "fee_asset", "slippage_bps", "sizing", "leverage", "direction")
# Where each of the service's complaints is shown; anything else goes above the form.
FIELD_OF_ERROR = {"strategy": "strategy", "symbol": "symbol", "candles": "symbol",
                  "interval": "interval", "start": "start", "end": "end", "cash": "cash",
                  "fee": "fee", "fee_asset": "fee_asset", "slippage_bps": "slippage_bps",
                  "sizing": "sizing", "market": "market", "leverage": "leverage",
                  "direction": "direction"}


def _number(label: str, help_text: str, initial: str) -> forms.CharField:
    """Text, not a DecimalField: the service checks the number and says what is wrong."""
    return forms.CharField(label=label, required=False, initial=initial, help_text=help_text,
                           widget=forms.TextInput(attrs={"inputmode": "decimal",
                                                         "autocomplete": "off"}))


def _date(label: str, help_text: str) -> forms.DateField:
    return forms.DateField(label=label, required=False, help_text=help_text,
                           widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, tzinfo=UTC)


class RunForm(StrategyFields, forms.Form):
    """What every run asks for: a strategy, the candles and the money and costs. Subclasses
    add the strategy's parameters as they need them."""

    strategy = forms.ChoiceField()
    symbol = forms.RegexField(r"^[A-Za-z0-9]{2,30}$", max_length=30, initial="BTCUSDT",
                              error_messages={"invalid": "Give a symbol such as BTCUSDT."},
                              widget=forms.TextInput(attrs={"list": "backtest-symbols",
                                                            "autocomplete": "off"}),
                              help_text="its candles must be stored (backfill_klines)")
    market = forms.ChoiceField(choices=[("spot", "spot"), ("futures", "USD-M futures")],
                               initial="spot", required=False,
                               help_text="futures: long and short, leveraged")
    interval = forms.ChoiceField(choices=[(i, i) for i in INTERVALS], initial="1h")
    start = _date("Start", "first day (empty: the oldest stored candle)")
    end = _date("End", "last day, included (empty: up to the newest stored candle)")
    cash = _number("Cash", "starting cash in the quote asset", DEFAULT_SETTINGS["cash"])
    fee = _number("Fee", "per fill, maker and taker (0.001 = 0.1 %)", DEFAULT_SETTINGS["fee"])
    fee_asset = forms.ChoiceField(
        label="Fee asset", initial=DEFAULT_SETTINGS["fee_asset"],
        choices=[("received", "the asset received (as Binance spot)"),
                 ("quote", "the quote asset, added to the cost")])
    slippage_bps = _number("Slippage (bps)", "on every taker fill (1 bps = 0.01 %)",
                           DEFAULT_SETTINGS["slippage_bps"])
    leverage = _number("Leverage", "futures only: 1 to 125 (the margin the sizing commits, "
                       "times this)", str(DEFAULT_SETTINGS["leverage"]))
    direction = forms.ChoiceField(
        label="Direction", initial=DEFAULT_SETTINGS["direction"], required=False,
        choices=[("long", "long only"), ("short", "short only"), ("both", "long and short")],
        help_text="futures only; spot is long-only")
    sizing = forms.ChoiceField(label="Sizing", initial=DEFAULT_SETTINGS["sizing"],
                               choices=list(SIZING_LABELS.items()),
                               help_text="how much an entry spends")
    sizing_amount = _number("Amount per entry", "in the quote asset",
                            SIZING_INITIAL["sizing_amount"])
    sizing_fraction = _number("Fraction of the cash", "above 0 and at most 1 (1 = all-in)",
                              SIZING_INITIAL["sizing_fraction"])
    sizing_risk_fraction = _number("Risk per trade", "fraction of the equity lost if the stop "
                                   "loss is hit (0.01 = 1 %)",
                                   SIZING_INITIAL["sizing_risk_fraction"])

    field_of_error = FIELD_OF_ERROR

    def __init__(self, data=None, *, strategy: str | None = None, initial: dict | None = None):
        super().__init__(data, initial=initial or {})
        self._choose_strategy(strategy)
        self.symbols = list(WatchedSymbol.objects.active().filter(market="spot")
                            .values_list("symbol", flat=True))

    @staticmethod
    def run_initial(run) -> dict:
        """The candles, money and costs of an earlier run ("Run again with changes")."""
        if run is None:
            return {}
        settings = {**DEFAULT_SETTINGS, **run.settings}
        initial = {"strategy": run.strategy, "symbol": run.symbol, "interval": run.interval,
                   "market": run.market,
                   "start": run.start.date() if run.start else None,
                   # The end is exclusive, the date input's last day included.
                   "end": (run.end - timedelta(microseconds=1)).date() if run.end else None,
                   **{name: settings[name] for name in SETTINGS}}
        return {**initial, **sizing_initial(settings["sizing"], settings.get("sizing_config"))}

    @property
    def settings_fields(self) -> list:
        return [self[name] for name in ("cash", "fee", "fee_asset", "slippage_bps", "leverage",
                                        "direction")]

    def clean_symbol(self):
        return self.cleaned_data["symbol"].strip().upper()

    def error_field(self, key: str, message: str) -> str | None:
        """The field a complaint of the service's is shown beside (None: above the form)."""
        if key == "sizing_config":
            return SIZING_SETTINGS.get(self.cleaned_data.get("sizing"), (None,))[0]
        return self.field_of_error.get(key)

    def add_refusal(self, refused: BacktestRefused) -> None:
        """Put each of the service's complaints next to the field it is about."""
        for key, message in refused.errors.items():
            self.add_error(self.error_field(key, message), message)

    def common_fields(self) -> dict:
        """The strategy, candles and settings as the services take them. The end date is
        included: the run's end is the next midnight."""
        data = self.cleaned_data
        end = _midnight(data["end"] + timedelta(days=1)) if data.get("end") else None
        settings = {name: data.get(name) for name in SETTINGS}
        field, key = SIZING_SETTINGS.get(data.get("sizing"), (None, None))
        if field and data.get(field):
            settings["sizing_config"] = {key: data[field].strip()}
        return {"strategy": data["strategy"], "symbol": data["symbol"],
                "market": data.get("market") or "spot", "interval": data["interval"],
                "start": _midnight(data.get("start")), "end": end, "settings": settings}


class BacktestForm(RunForm):
    def __init__(self, data=None, *, strategy: str | None = None,
                 run: BacktestRun | None = None):
        super().__init__(data, strategy=strategy, initial=self.run_initial(run))
        self.run = run
        self._add_parameters(run.params if run is not None and run.strategy == self.strategy_name
                             else {})

    def clean(self):
        data = super().clean()
        params = {name[len(PARAM):]: data.get(name) for name in self.parameter_names}
        data["params"] = {name: value for name, value in params.items()
                          if value not in (None, "")}
        if data.get("strategy") in available():
            try:
                get_strategy(data["strategy"])(**data["params"])
            except ParameterError as invalid:
                for name, message in invalid.errors.items():
                    self.add_error(PARAM + name if PARAM + name in self.fields else None,
                                   message)
        return data

    def run_fields(self) -> dict:
        """What `backtest_run_create` takes (the owner aside)."""
        return {**self.common_fields(), "params": self.cleaned_data["params"]}


# --- optimisations -------------------------------------------------------------------------

K = OptimisationRun.Kind
RANGE_PARTS = ("min", "max", "step")
OBJECTIVE_WORDS = {
    "sharpe": "Sharpe ratio: return per unit of volatility",
    "sortino": "Sortino ratio: return per unit of downside volatility",
    "calmar": "Calmar ratio: yearly growth over the worst drawdown",
    "return": "total return",
    "return_drawdown": "total return over the worst drawdown",
}
OPTIMISATION_FIELD_OF_ERROR = {
    **FIELD_OF_ERROR, **{name: name for name in (
        "kind", "objective", "min_trades", "samples", "seed", "in_sample", "out_of_sample",
        "step")}, "windows": "in_sample"}
# The complaints about the ranges as a whole; one that starts with a parameter's name
# ("fast: the range starts at 15, above its end 5") is shown beside that parameter.
SPACE_ERRORS = ("space", "fixed", "params")
COUNT_LIMIT = 20_000  # combinations checked one by one for the count; beyond, the total only


def _plain(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _whole(text: str):
    """An int parameter's value as a JSON number when it is one (the service says what is
    wrong with anything else)."""
    try:
        return int(text) if float(text).is_integer() else text
    except ValueError:
        return text


def engine_ranges(space: dict) -> dict:
    """The engine's ranges from the asked ones: {"min", "max", "step"} as a tuple."""
    return {name: tuple(given[part] for part in RANGE_PARTS) if isinstance(given, dict)
            else given for name, given in space.items()}


def _integer(label: str, help_text: str, initial=None) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, initial=initial, help_text=help_text,
                              widget=forms.NumberInput(attrs={"autocomplete": "off"}))


class OptimisationForm(RunForm):
    """An optimisation: per numeric parameter a min / max / step range (pre-filled from the
    declared one) or a fixed value (neither: the default), per choice or bool parameter the
    values to try (all by default); the search, its objective and minimum trades."""

    kind = forms.ChoiceField(label="Search", choices=K.choices, initial=K.GRID,
                             widget=forms.RadioSelect)
    objective = forms.ChoiceField(label="Objective", initial=OptimisationRun.Objective.SHARPE,
                                  choices=[(name, OBJECTIVE_WORDS.get(name, name))
                                           for name in OBJECTIVES],
                                  help_text="what the candidates are ranked by")
    min_trades = _integer("Minimum trades", "fewer trades: ranked last, never chosen", 1)
    samples = _integer("Samples", "random search: the combinations drawn; walk-forward: "
                       "leave empty to try every combination in each window")
    seed = _integer("Seed", "the same seed draws the same combinations", 0)
    in_sample = _integer("In sample", "candles each window optimises on")
    out_of_sample = _integer("Out of sample", "candles each window's winner then trades")
    step = _integer("Step", "candles between windows (empty: the out-of-sample span)")

    field_of_error = OPTIMISATION_FIELD_OF_ERROR

    def __init__(self, data=None, *, strategy: str | None = None,
                 run: OptimisationRun | None = None, initial: dict | None = None):
        super().__init__(data, strategy=strategy,
                         initial={**self.optimisation_initial(run), **(initial or {})})
        self.run = run
        self._add_ranges(run if run is not None and run.strategy == self.strategy_name
                         else None)

    @classmethod
    def optimisation_initial(cls, run: OptimisationRun | None) -> dict:
        if run is None:
            return {}
        return {**cls.run_initial(run), **{name: getattr(run, name) for name in (
            "kind", "objective", "min_trades", "samples", "seed", "in_sample", "out_of_sample",
            "step")}}

    # --- the parameters' fields -------------------------------------------------------------

    def _add_ranges(self, run: OptimisationRun | None) -> None:
        """Per parameter: `param_<name>_min/_max/_step/_fixed`, or `param_<name>_values`."""
        self.parameters = self.strategy_info["parameters"]
        asked = run.space if run is not None and run.space else None
        for parameter in self.parameters:
            name = parameter["name"]
            if parameter["kind"] in ("bool", "choice"):
                self.fields[f"{PARAM}{name}_values"] = self._values_field(parameter, run)
                continue
            attrs = {"step": "1" if parameter["kind"] == "int" else "any",
                     "autocomplete": "off"}
            fixed = run.fixed.get(name) if run is not None else None
            start = self._range_initial(parameter, asked) if fixed is None else {}
            for part in RANGE_PARTS:
                self.fields[f"{PARAM}{name}_{part}"] = forms.CharField(
                    required=False, initial=start.get(part), label=f"{name} {part}",
                    widget=forms.NumberInput(attrs={**attrs, "aria-label": f"{name} {part}"}))
            self.fields[f"{PARAM}{name}_fixed"] = forms.CharField(
                required=False, initial=_plain(fixed), label=f"{name} fixed",
                widget=forms.NumberInput(attrs={
                    **attrs, "aria-label": f"{name} fixed",
                    "placeholder": f"default {_plain(parameter['default'])}"}))

    @staticmethod
    def _values_field(parameter: dict, run: OptimisationRun | None) -> forms.Field:
        """All the values ticked, or those the earlier run tried (a value it fixed, or the
        default it kept, alone)."""
        name = parameter["name"]
        choices = ([True, False] if parameter["kind"] == "bool" else parameter["choices"])
        texts = [_plain(choice) for choice in choices]
        chosen, asked = texts, run.space if run is not None and run.space else {}
        fixed = run.fixed if run is not None else {}
        if name in fixed:
            chosen = [_plain(fixed[name])]
        elif isinstance(asked.get(name), list):
            chosen = [_plain(value) for value in asked[name]]
        elif asked and name not in asked:
            chosen = [_plain(parameter["default"])]
        return forms.MultipleChoiceField(
            required=False, choices=[(text, text) for text in texts], initial=chosen,
            label=name, widget=forms.CheckboxSelectMultiple)

    @staticmethod
    def _range_initial(parameter: dict, asked: dict | None) -> dict:
        """The earlier run's range, else the declared one (parameters declared without a
        step are not meant to be searched: their range starts empty)."""
        if asked is not None:
            name = parameter["name"]
            if isinstance(asked.get(name), dict):
                return {part: _plain(asked[name].get(part)) for part in RANGE_PARTS}
            if name not in asked or asked[name] is not None:  # kept, fixed, or a list
                return {}
        if None in (parameter["minimum"], parameter["maximum"], parameter["step"]):
            return {}
        return {part: _plain(parameter[bound]) for part, bound in zip(
            RANGE_PARTS, ("minimum", "maximum", "step"), strict=True)}

    @property
    def parameter_rows(self) -> list[dict]:
        """One row per parameter for the page: its fields, bounds and every complaint."""
        rows = []
        for parameter in self.parameters:
            name = parameter["name"]
            choice = parameter["kind"] in ("bool", "choice")
            names = ([f"{PARAM}{name}_values"] if choice else
                     [f"{PARAM}{name}_{part}" for part in (*RANGE_PARTS, "fixed")])
            fields = [self[field] for field in names]
            bounds = [f"{word} {parameter[key]}" for word, key in (
                ("from", "minimum"), ("to", "maximum"), ("by", "step"))
                if parameter[key] is not None]
            rows.append({"name": name, "kind": parameter["kind"], "help": parameter["help"],
                         "choice": choice, "fields": fields, "default": _plain(
                             parameter["default"]),
                         "declared": " ".join(bounds),
                         "errors": [error for field in fields for error in field.errors]})
        return rows

    # --- what was asked ---------------------------------------------------------------------

    def _raw(self, field: str) -> str:
        value = self[field].value()
        return "" if value is None else str(value).strip()

    def asked_space(self) -> tuple[dict, dict, dict]:
        """(space, fixed, complaints by field) from the parameters' fields as typed."""
        space, fixed, problems = {}, {}, {}
        for parameter in self.parameters:
            name, kind = parameter["name"], parameter["kind"]
            if kind in ("bool", "choice"):
                field = f"{PARAM}{name}_values"
                choices = [True, False] if kind == "bool" else parameter["choices"]
                by_text = {_plain(choice): choice for choice in choices}
                ticked = [by_text[text] for text in self[field].value() or [] if text in by_text]
                if ticked:
                    space[name] = ticked
                else:
                    problems[field] = f"{name}: tick at least one value to try."
                continue
            typed = _whole if kind == "int" else str
            parts = [self._raw(f"{PARAM}{name}_{part}") for part in RANGE_PARTS]
            value, first = self._raw(f"{PARAM}{name}_fixed"), f"{PARAM}{name}_min"
            if any(parts) and value:
                problems[first] = f"{name}: give a range or a fixed value, not both."
            elif any(parts) and not all(parts):
                problems[first] = (f"{name}: give the minimum, maximum and step (or leave all "
                                   "three empty).")
            elif all(parts):
                space[name] = {part: typed(text) for part, text in zip(RANGE_PARTS, parts,
                                                                         strict=True)}
            elif value:
                fixed[name] = typed(value)
        return space, fixed, problems

    def combinations(self) -> dict:
        """How many combinations the search would try, in words (or what stops counting)."""
        space, fixed, problems = self.asked_space()
        if problems:
            return {"problem": "Correct the parameters marked below to count the combinations."}
        if not space:
            return {"problem": "Give at least one parameter a range (or values) to try."}
        strategy = get_strategy(self.strategy_name)
        try:
            values = parameter_space(strategy, engine_ranges(space), fixed)
        except ValueError as invalid:
            return {"problem": str(invalid)}
        total = math.prod(len(tried) for tried in values.values())
        valid = len(grid_candidates(strategy, values)) if total <= COUNT_LIMIT else None
        varied = " × ".join(f"{name} {len(tried)} values" for name, tried in values.items()
                            if len(tried) > 1) or "nothing varies"
        if valid is None:
            words = f"Up to {total:,} combinations: {varied} (too many to check each one here)"
        else:
            words = f"{valid:,} combination{'s' if valid != 1 else ''} to try: {varied}"
            if valid < total:
                words += f", less {total - valid:,} the strategy refuses"
        return {"count": total if valid is None else valid, "total": total,
                "words": f"{words}. {self._search_words()}."}

    def _search_words(self) -> str:
        kind, samples = self["kind"].value(), self._raw("samples")
        if kind == K.RANDOM:
            return f"A random search draws {samples or '(samples)'} of them"
        if kind == K.WALK_FORWARD:
            return (f"Each walk-forward window draws {samples} of them" if samples else
                    "Each walk-forward window tries them all")
        return "A grid search tries them all"

    # --- validation ---------------------------------------------------------------------------

    def clean(self):
        data = super().clean()
        data["space"], data["fixed"], problems = self.asked_space()
        for field, message in problems.items():
            self.add_error(field, message)
        if not problems and not data["space"]:
            self.add_error(None, "Give at least one parameter a range (or values) to try.")
        return data

    def error_field(self, key: str, message: str) -> str | None:
        if key not in SPACE_ERRORS:
            return super().error_field(key, message)
        named = re.match(r"[A-Za-z_]\w*", message)
        for row in self.parameter_rows if named else ():
            if row["name"] == named.group():
                return row["fields"][0].name
        return None

    def run_fields(self) -> dict:
        """What `optimisation_create` takes (the owner aside): only the kind's own numbers."""
        data = self.cleaned_data
        kind = data["kind"]
        walk = kind == K.WALK_FORWARD
        return {**self.common_fields(), "kind": kind, "space": data["space"],
                "fixed": data["fixed"], "objective": data["objective"],
                "min_trades": data.get("min_trades"),
                "samples": data.get("samples") if kind != K.GRID else None,
                "seed": data.get("seed") or 0,
                **{name: data.get(name) if walk else None
                   for name in ("in_sample", "out_of_sample", "step")}}
