"""The Strategy base class that live bots, paper trading and the backtester all drive."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import pandas as pd

from bots.strategies.context import ONE, Action, Context, Intent
from bots.strategies.exits import protective_exit
from bots.strategies.params import Parameter, validate_params
from bots.strategies.sizing import confidence_scale

EXIT_PARAMETERS = (
    Parameter(
        "stop_loss_pct", "decimal", Decimal(0), minimum=0, maximum=99,
        help="Sell everything when the price falls this many percent below the average "
        "entry price. 0 turns it off.",
    ),
    Parameter(
        "take_profit_pct", "decimal", Decimal(0), minimum=0, maximum=1000,
        help="Sell everything when the price rises this many percent above the average "
        "entry price. 0 turns it off.",
    ),
    Parameter(
        "trailing_stop_pct", "decimal", Decimal(0), minimum=0, maximum=99,
        help="Sell everything when the price falls this many percent below the highest "
        "price since entry. 0 turns it off.",
    ),
)

SIGNAL_COLUMNS = ("enter_long", "exit_long")
SHORT_COLUMNS = ("enter_short", "exit_short")


class Strategy:
    """Subclass, set the class attributes, implement ``warmup`` and ``prepare``; override
    ``on_bar`` only for strategies that manage orders themselves (see the package docs)."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    parameters: ClassVar[tuple[Parameter, ...]] = ()
    # True: the caller writes the stored AI analyses into the candles before ``prepare``
    # (bots.ai.with_ai_analyses), live and in backtests alike.
    reads_ai_analyses: ClassVar[bool] = False
    # A prepared column in 0..1 (the strategy's confidence) that scales entries the sizing
    # rules size; None: every entry gets the full size. Live bots and backtests both apply it.
    size_column: ClassVar[str | None] = None

    def __init__(self, **params: Any):
        self.params = validate_params(self.all_parameters(), params, check=self.check)

    def __repr__(self) -> str:
        values = ", ".join(f"{key}={value}" for key, value in self.params.items())
        return f"{type(self).__name__}({values})"

    @classmethod
    def all_parameters(cls) -> tuple[Parameter, ...]:
        """The strategy's parameters, then the common exits it did not redefine."""
        own = {parameter.name for parameter in cls.parameters}
        return cls.parameters + tuple(p for p in EXIT_PARAMETERS if p.name not in own)

    @classmethod
    def check(cls, params: Mapping[str, Any]) -> dict[str, str]:
        """Problems between parameters (each valid on its own): {name: message}."""
        return {}

    def warmup(self) -> int:
        """Closed candles needed before the last row can carry a signal."""
        raise NotImplementedError

    def lookback(self) -> int:
        """Closed candles a live tick should pass to ``prepare``: ``warmup()`` plus, for
        recursive indicators (EMA, Wilder), the bars they need to forget their seed so the
        last row matches a full-history backtest."""
        return self.warmup()

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        """A copy of ``candles`` with indicator columns and boolean enter_long / exit_long.
        Row i may only depend on rows <= i."""
        raise NotImplementedError

    def on_bar(self, ctx: Context) -> list[Action]:
        """Protective exits first, then the prepared signals: enter when flat, exit when long."""
        exit_now = self.protective_exit(ctx)
        if exit_now is not None:
            return [exit_now]
        enter, leave = bool(ctx.bar["enter_long"]), bool(ctx.bar["exit_long"])
        if ctx.position.is_flat:
            # An exit signal on the same bar vetoes the entry; a resting entry is not doubled.
            if enter and not leave and ctx.open_order("entry") is None:
                return [Intent(side="buy", tag="entry", reason=self.entry_reason(ctx.bar))]
            return []
        if leave:
            reason = self.exit_reason(ctx.bar)
            return [Intent(side="sell", close_fraction=ONE, tag="exit", reason=reason)]
        return []

    def size_scale(self, bar: Mapping[str, Any]) -> float:
        """The share (0..1] of the sized amount an entry on ``bar`` spends."""
        return confidence_scale(bar.get(self.size_column) if self.size_column else None)

    def protective_exit(self, ctx: Context) -> Intent | None:
        return protective_exit(
            ctx.position,
            ctx.bar,
            self.params["stop_loss_pct"],
            self.params["take_profit_pct"],
            self.params["trailing_stop_pct"],
        )

    def entry_reason(self, bar: Mapping[str, Any]) -> str:
        return "entry signal"

    def exit_reason(self, bar: Mapping[str, Any]) -> str:
        return "exit signal"

    # --- shorts (USD-M futures backtests) ------------------------------------------------------

    def short_signals(self, prepared: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """(enter_short, exit_short) over the prepared frame. A strategy may write its own
        ``enter_short`` / ``exit_short`` columns in ``prepare``; without them a short is the
        long's mirror: it opens on the exit signal and closes on the entry signal (the fast
        SMA crossing below the slow one, RSI above its upper band)."""
        if self.has_own_short_signals(prepared):
            return (prepared["enter_short"].fillna(False).astype(bool),
                    prepared["exit_short"].fillna(False).astype(bool))
        return prepared["exit_long"], prepared["enter_long"]

    def has_own_short_signals(self, prepared: pd.DataFrame) -> bool:
        return set(SHORT_COLUMNS) <= set(prepared.columns)

    def short_entry_reason(self, bar: Mapping[str, Any]) -> str:
        if "enter_short" in bar:
            return "short entry signal"
        return self.exit_reason(bar)

    def short_exit_reason(self, bar: Mapping[str, Any]) -> str:
        if "exit_short" in bar:
            return "short exit signal"
        return self.entry_reason(bar)


def with_signals(
    candles: pd.DataFrame,
    indicators: Mapping[str, pd.Series],
    enter_long: pd.Series | bool,
    exit_long: pd.Series | bool,
) -> pd.DataFrame:
    """``candles`` plus indicator columns and the two signal columns as plain bools
    (a comparison with a warm-up NaN is False, so no signal fires before the indicators)."""
    frame = candles.copy()
    for column, values in indicators.items():
        frame[column] = values
    for column, values in zip(SIGNAL_COLUMNS, (enter_long, exit_long), strict=True):
        frame[column] = values if isinstance(values, pd.Series) else bool(values)
        frame[column] = frame[column].fillna(False).astype(bool)
    return frame
