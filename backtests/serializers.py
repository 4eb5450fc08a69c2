from decimal import Decimal

from rest_framework import serializers

from backtests.models import BacktestRun, OptimisationRun
from backtests.services import DEFAULT_SETTINGS, DIRECTIONS, FEE_ASSETS
from bots.models import Bot
from marketdata.models import INTERVALS, Symbol
from risk.serializers import CallersOwn, own_portfolio_field

RUN_FIELDS = ["id", "owner", "portfolio", "bot", "strategy", "params", "symbol", "market",
              "interval", "start", "end", "settings", "status", "progress", "error",
              "cancel_requested", "metrics", "data_hash", "code_version", "candle_count",
              "created_at", "started_at", "finished_at"]


def _number(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=None, decimal_places=None, **kwargs)


class BacktestRunInput(CallersOwn, serializers.Serializer):
    """What a trader asks for; the service checks the rest (the strategy's parameters, the
    ranges of the numbers, that candles are stored) and answers in words."""

    strategy = serializers.CharField(max_length=60)
    params = serializers.DictField(required=False, default=dict)
    symbol = serializers.CharField(max_length=30)
    market = serializers.ChoiceField(choices=Symbol.Market.choices, default="spot",
                                     help_text="futures: a USD-M perpetual, long and/or short")
    interval = serializers.ChoiceField(choices=INTERVALS)
    start = serializers.DateTimeField(required=False, allow_null=True, default=None)
    end = serializers.DateTimeField(required=False, allow_null=True, default=None)
    portfolio = own_portfolio_field(required=False, allow_null=True, default=None)
    cash = _number(default=Decimal(DEFAULT_SETTINGS["cash"]))
    fee = _number(default=Decimal(DEFAULT_SETTINGS["fee"]),
                  help_text="per side, maker and taker (0.001 = 0.1%)")
    fee_asset = serializers.ChoiceField(choices=FEE_ASSETS, default=DEFAULT_SETTINGS["fee_asset"])
    slippage_bps = _number(default=Decimal(DEFAULT_SETTINGS["slippage_bps"]))
    sizing = serializers.ChoiceField(choices=Bot.Sizing.choices,
                                     default=DEFAULT_SETTINGS["sizing"])
    sizing_config = serializers.DictField(required=False,
                                          default=lambda: dict(DEFAULT_SETTINGS["sizing_config"]))
    leverage = serializers.IntegerField(default=1, help_text="futures only: 1 to 125")
    direction = serializers.ChoiceField(choices=DIRECTIONS, default="long",
                                        help_text="futures only; spot is long-only")
    maintenance_margin = _number(default=Decimal(DEFAULT_SETTINGS["maintenance_margin"]),
                                 help_text="futures: maintenance margin rate (0.004 = 0.4%)")

    SETTINGS = ("cash", "fee", "fee_asset", "slippage_bps", "sizing", "sizing_config",
                "leverage", "direction", "maintenance_margin")

    def service_kwargs(self) -> dict:
        data = dict(self.validated_data)
        settings = {name: data.pop(name) for name in self.SETTINGS}
        return {**data, "settings": settings}


class BacktestRunSerializer(serializers.ModelSerializer):
    """A run with its figures (``metrics``) but not its trades and curves."""

    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = BacktestRun
        fields = RUN_FIELDS
        read_only_fields = fields


class BacktestRunDetailSerializer(BacktestRunSerializer):
    """A run with the engine's whole report (``results``: trades, equity and drawdown curves,
    monthly returns, refusals, notes)."""

    class Meta(BacktestRunSerializer.Meta):
        fields = [*RUN_FIELDS, "results"]
        read_only_fields = fields


class OptimisationRunInput(BacktestRunInput):
    """What a trader asks an optimisation for: the backtest's symbol, range and money, and
    the search. ``space``: per parameter ``{"min", "max", "step"}``, a list of values or null
    (its declared grid); the service checks it against the strategy and answers in words."""

    params = None  # a search has ranges instead
    portfolio = None
    kind = serializers.ChoiceField(choices=OptimisationRun.Kind.choices,
                                   default=OptimisationRun.Kind.GRID)
    space = serializers.DictField(required=False, default=dict)
    fixed = serializers.DictField(required=False, default=dict)
    objective = serializers.ChoiceField(choices=OptimisationRun.Objective.choices,
                                        default=OptimisationRun.Objective.SHARPE)
    min_trades = serializers.IntegerField(min_value=0, default=0)
    samples = serializers.IntegerField(min_value=1, required=False, allow_null=True,
                                       default=None, help_text="random search: how many")
    seed = serializers.IntegerField(default=0)
    in_sample = serializers.IntegerField(min_value=1, required=False, allow_null=True,
                                         default=None, help_text="walk-forward: candles")
    out_of_sample = serializers.IntegerField(min_value=1, required=False, allow_null=True,
                                             default=None, help_text="walk-forward: candles")
    step = serializers.IntegerField(min_value=1, required=False, allow_null=True, default=None,
                                    help_text="walk-forward: candles between windows")


OPTIMISATION_FIELDS = [
    "id", "owner", "strategy", "symbol", "market", "interval", "start", "end", "settings",
    "kind", "space", "fixed", "samples", "seed", "objective", "min_trades", "in_sample",
    "out_of_sample", "step", "status", "progress", "chunk_count", "chunks_done",
    "candidate_count", "candle_count", "error", "cancel_requested", "data_hash",
    "code_version", "created_at", "started_at", "finished_at"]


class OptimisationRunSerializer(serializers.ModelSerializer):
    """An optimisation as asked, and how far it got (not its results)."""

    owner = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = OptimisationRun
        fields = OPTIMISATION_FIELDS
        read_only_fields = fields


class OptimisationRunDetailSerializer(OptimisationRunSerializer):
    """With ``results``: the top scores best first, the counts and the best parameters; for
    walk-forward, the windows, the stitched out-of-sample curve and the stability."""

    class Meta(OptimisationRunSerializer.Meta):
        fields = [*OPTIMISATION_FIELDS, "results"]
        read_only_fields = fields
