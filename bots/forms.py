"""The bot form: its fields, plus one input per parameter of the chosen strategy (from
`describe`), validated by `bot_validate` so every problem reads in words next to its field."""

from decimal import Decimal

from django import forms
from django.db.models import Q

from bots.models import Bot
from bots.services import BotRefused, bot_validate
from bots.strategies import available, describe
from marketdata.models import INTERVALS, WatchedSymbol
from marketdata.symbol_rules import rules_for
from portfolios.models import Portfolio

PARAM = "param_"
DEFAULT_STRATEGY = "sma_cross"
# Each sizing method's one setting: the form field, and its key in Bot.sizing_config.
SIZING_SETTINGS = {
    Bot.Sizing.FIXED_QUOTE: ("sizing_amount", "amount"),
    Bot.Sizing.ALLOCATION_FRACTION: ("sizing_fraction", "fraction"),
    Bot.Sizing.RISK_PER_TRADE: ("sizing_risk_fraction", "risk_fraction"),
}
FIELD_OF_ERROR = {"sizing": "sizing", "strategy": "strategy", "symbol": "symbol",
                  "name": "name", "portfolio": "portfolio", "interval": "interval"}


def _setting(label: str, initial: str, help_text: str) -> forms.DecimalField:
    return forms.DecimalField(label=label, required=False, initial=Decimal(initial),
                              max_digits=36, decimal_places=18, help_text=help_text,
                              widget=forms.TextInput(attrs={"inputmode": "decimal",
                                                            "autocomplete": "off"}))


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parameter_field(parameter: dict, value) -> forms.Field:
    common = {"label": parameter["name"], "required": False, "help_text": parameter["help"],
              "initial": _text(parameter["default"] if value is None else value)}
    kind = parameter["kind"]
    if kind == "bool":  # a select, not a checkbox: an unticked box sends nothing (= default)
        return forms.ChoiceField(choices=[("true", "yes"), ("false", "no")], **common)
    if kind == "choice":
        choices = [(_text(c), _text(c)) for c in parameter["choices"]]
        return forms.ChoiceField(choices=choices, **common)
    attrs = {"step": "1" if kind == "int" else "any", "autocomplete": "off",
             "inputmode": "numeric" if kind == "int" else "decimal"}
    for bound in ("minimum", "maximum"):
        if parameter[bound] is not None:
            attrs[bound[:3]] = parameter[bound]
    return forms.CharField(widget=forms.NumberInput(attrs=attrs), **common)


def sizing_initial(method: str, config: dict) -> dict:
    """The form field holding ``method``'s one setting, filled from a sizing_config."""
    field, key = SIZING_SETTINGS.get(method, (None, None))
    return {field: config[key]} if field and key in (config or {}) else {}


class StrategyFields:
    """For forms that pick a strategy: one field per declared parameter of the chosen one
    (``strategy_name``, ``strategy_info``), and the sizing method's settings. The form
    declares ``strategy`` and the SIZING_SETTINGS fields."""

    def _choose_strategy(self, asked: str | None) -> None:
        strategies = available()
        self.fields["strategy"].choices = [(name, cls.title) for name, cls in strategies.items()]
        self.strategy_name = next(
            (name for name in (asked, self.data.get("strategy") if self.is_bound else None,
                               self.initial.get("strategy"), DEFAULT_STRATEGY)
             if name in strategies), next(iter(strategies)))
        self.strategy_info = describe(self.strategy_name)
        self.fields["strategy"].initial = self.strategy_name

    def _add_parameters(self, given: dict) -> None:
        self.parameter_names = []
        for parameter in self.strategy_info["parameters"]:
            name = PARAM + parameter["name"]
            self.fields[name] = parameter_field(parameter, given.get(parameter["name"]))
            self.parameter_names.append(name)

    @property
    def parameter_fields(self) -> list:
        return [self[name] for name in self.parameter_names]

    @property
    def sizing_fields(self) -> list:
        return [self[field] for field, _key in SIZING_SETTINGS.values()]


class BotForm(StrategyFields, forms.Form):
    portfolio = forms.ModelChoiceField(queryset=Portfolio.objects.none(), empty_label=None)
    name = forms.CharField(max_length=100)
    symbol = forms.RegexField(r"^[A-Za-z0-9]{2,30}$", max_length=30, initial="BTCUSDT",
                              error_messages={"invalid": "Give a symbol such as BTCUSDT."},
                              widget=forms.TextInput(attrs={"list": "bot-symbols",
                                                            "autocomplete": "off"}))
    interval = forms.ChoiceField(choices=[(i, i) for i in INTERVALS], initial="1m",
                                 help_text="the bot decides once per closed candle")
    strategy = forms.ChoiceField()
    sizing = forms.ChoiceField(choices=Bot.Sizing.choices, initial=Bot.Sizing.FIXED_QUOTE,
                               label="Sizing", help_text="how much an entry spends")
    sizing_amount = _setting("Amount per entry", "100", "in the quote asset")
    sizing_fraction = _setting("Fraction of the allocation", "0.5",
                               "above 0 and at most 1 (0.5 = half)")
    sizing_risk_fraction = _setting("Risk per trade", "0.01",
                                    "fraction of the budget lost if the stop loss is hit "
                                    "(0.01 = 1 %); needs stop_loss_pct")

    def __init__(self, data=None, *, user, bot: Bot | None = None, strategy: str | None = None):
        super().__init__(data, initial=self._initial(bot))
        self.bot = bot
        owned = Portfolio.objects.owned_by(user)
        self.fields["portfolio"].queryset = owned.filter(
            Q(active=True) | Q(pk=bot.portfolio_id if bot else None))
        self.fields["portfolio"].label_from_instance = lambda p: f"{p.name} ({p.mode})"
        self._choose_strategy(strategy)
        self._add_parameters(bot.params if bot is not None and bot.strategy == self.strategy_name
                             else {})
        if bot is not None and bot.orders.exists():
            for name in ("portfolio", "symbol"):  # its position is counted from its own fills
                self.fields[name].disabled = True
                self.fields[name].help_text = "fixed once the bot has traded"
        self.symbols = list(WatchedSymbol.objects.active().filter(market="spot")
                            .values_list("symbol", flat=True))

    @staticmethod
    def _initial(bot: Bot | None) -> dict:
        if bot is None:
            return {}
        initial = {"portfolio": bot.portfolio_id, "name": bot.name, "symbol": bot.symbol,
                   "interval": bot.interval, "strategy": bot.strategy, "sizing": bot.sizing}
        return {**initial, **sizing_initial(bot.sizing, bot.sizing_config)}

    # --- validation ---------------------------------------------------------------------------

    def clean_symbol(self):
        symbol = self.cleaned_data["symbol"].strip().upper()
        if rules_for("spot", symbol) is None:
            raise forms.ValidationError(f"{symbol} is not a known spot symbol.")
        return symbol

    def clean(self):
        data = super().clean()
        self._check_name(data)
        sizing = data.get("sizing")
        if sizing is None or data.get("strategy") is None:
            return data
        field, key = SIZING_SETTINGS[sizing]
        if data.get(field) is None:
            self.add_error(field, "Give this setting for the chosen sizing method.")
            return data
        data["sizing_config"] = {key: format(data[field], "f")}
        params = {name[len(PARAM):]: data.get(name, "") for name in self.parameter_names}
        try:
            data["params"] = bot_validate(strategy=data["strategy"], params=params,
                                          sizing=sizing, sizing_config=data["sizing_config"])
        except BotRefused as refused:
            self.add_refusal(refused)
            return data
        if sizing == Bot.Sizing.RISK_PER_TRADE and not Decimal(
                str(data["params"].get("stop_loss_pct") or 0)):
            self.add_error(PARAM + "stop_loss_pct" if PARAM + "stop_loss_pct" in self.fields
                           else "sizing", "Sizing by risk per trade needs a stop loss: set "
                           "stop_loss_pct above 0.")
        return data

    def _check_name(self, data: dict) -> None:
        portfolio, name = data.get("portfolio"), (data.get("name") or "").strip()
        if portfolio is None or not name:
            return
        data["name"] = name
        taken = Bot.objects.filter(portfolio=portfolio, name=name)
        if taken.exclude(pk=self.bot.pk if self.bot else None).exists():
            self.add_error("name", f"{portfolio.name} already has a bot named {name}.")

    def add_refusal(self, refused: BotRefused) -> None:
        """Put each of the service's complaints next to the field it is about."""
        for key, message in refused.errors.items():
            if PARAM + key in self.fields:
                field = PARAM + key
            elif key == "sizing_config":
                field = SIZING_SETTINGS[self.cleaned_data["sizing"]][0]
            else:
                field = FIELD_OF_ERROR.get(key)
            self.add_error(field, message)

    def bot_fields(self) -> dict:
        """What the services and the edit store: the bot's fields, parameters typed."""
        data = self.cleaned_data
        return {"portfolio": data["portfolio"], "name": data["name"], "symbol": data["symbol"],
                "interval": data["interval"], "strategy": data["strategy"],
                "params": data["params"], "sizing": data["sizing"],
                "sizing_config": data["sizing_config"]}
