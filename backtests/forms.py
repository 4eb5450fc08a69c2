"""The backtest form: strategy, one input per declared parameter of the chosen strategy (from
`describe`, as on the bot form), symbol, interval, dates, money and costs. The parameters are
checked against the strategy here so each complaint sits beside its own input; everything
else is checked by `backtest_run_create`, whose words are put beside the field they are about.
"""

from datetime import UTC, date, datetime, time, timedelta

from django import forms

from backtests.models import BacktestRun
from backtests.services import DEFAULT_SETTINGS, BacktestRefused
from bots.forms import PARAM, SIZING_SETTINGS, StrategyFields, sizing_initial
from bots.strategies import ParameterError, available, get_strategy
from marketdata.models import INTERVALS, WatchedSymbol

SIZING_LABELS = {"fixed_quote": "fixed amount per entry",
                 "allocation_fraction": "fraction of the cash (all-in: 1)",
                 "risk_per_trade": "risk per trade (needs a stop loss)"}
SIZING_INITIAL = {"sizing_amount": "100", "sizing_fraction": "1", "sizing_risk_fraction": "0.01"}
# Where each of the service's complaints is shown; anything else goes above the form.
FIELD_OF_ERROR = {"strategy": "strategy", "symbol": "symbol", "candles": "symbol",
                  "interval": "interval", "start": "start", "end": "end", "cash": "cash",
                  "fee": "fee", "fee_asset": "fee_asset", "slippage_bps": "slippage_bps",
                  "sizing": "sizing"}


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


class BacktestForm(StrategyFields, forms.Form):
    strategy = forms.ChoiceField()
    symbol = forms.RegexField(r"^[A-Za-z0-9]{2,30}$", max_length=30, initial="BTCUSDT",
                              error_messages={"invalid": "Give a symbol such as BTCUSDT."},
                              widget=forms.TextInput(attrs={"list": "backtest-symbols",
                                                            "autocomplete": "off"}),
                              help_text="its candles must be stored (backfill_klines)")
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

    def __init__(self, data=None, *, strategy: str | None = None,
                 run: BacktestRun | None = None):
        super().__init__(data, initial=self._initial(run))
        self.run = run
        self._choose_strategy(strategy)
        self._add_parameters(run.params if run is not None and run.strategy == self.strategy_name
                             else {})
        self.symbols = list(WatchedSymbol.objects.active().filter(market="spot")
                            .values_list("symbol", flat=True))

    @staticmethod
    def _initial(run: BacktestRun | None) -> dict:
        """The fields of an earlier run ("Run again with changes")."""
        if run is None:
            return {}
        settings = {**DEFAULT_SETTINGS, **run.settings}
        initial = {"strategy": run.strategy, "symbol": run.symbol, "interval": run.interval,
                   "start": run.start.date() if run.start else None,
                   # The end is exclusive, the date input's last day included.
                   "end": (run.end - timedelta(microseconds=1)).date() if run.end else None,
                   **{name: settings[name] for name in ("cash", "fee", "fee_asset",
                                                        "slippage_bps", "sizing")}}
        return {**initial, **sizing_initial(settings["sizing"], settings.get("sizing_config"))}

    @property
    def settings_fields(self) -> list:
        return [self[name] for name in ("cash", "fee", "fee_asset", "slippage_bps")]

    # --- validation ---------------------------------------------------------------------------

    def clean_symbol(self):
        return self.cleaned_data["symbol"].strip().upper()

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

    def add_refusal(self, refused: BacktestRefused) -> None:
        """Put each of the service's complaints next to the field it is about."""
        for key, message in refused.errors.items():
            if key == "sizing_config":
                field = SIZING_SETTINGS.get(self.cleaned_data.get("sizing"), (None,))[0]
            else:
                field = FIELD_OF_ERROR.get(key)
            self.add_error(field, message)

    def run_fields(self) -> dict:
        """What `backtest_run_create` takes (the owner aside). The end date is included:
        the run's end is the next midnight."""
        data = self.cleaned_data
        end = _midnight(data["end"] + timedelta(days=1)) if data.get("end") else None
        settings = {name: data.get(name) for name in ("cash", "fee", "fee_asset",
                                                      "slippage_bps", "sizing")}
        field, key = SIZING_SETTINGS.get(data.get("sizing"), (None, None))
        if field and data.get(field):
            settings["sizing_config"] = {key: data[field].strip()}
        return {"strategy": data["strategy"], "params": data["params"],
                "symbol": data["symbol"], "interval": data["interval"],
                "start": _midnight(data.get("start")), "end": end, "settings": settings}
