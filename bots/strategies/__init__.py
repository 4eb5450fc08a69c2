"""Trading strategies: one interface for live bots, paper trading and the backtester.

Pure Python + pandas: nothing in this package imports Django. Callers turn their own records
into the views below and the returned intents into orders.

Writing a strategy
------------------
::

    @register
    class MyStrategy(Strategy):
        name = "my_strategy"                     # registry key: lowercase, digits, _
        title = "My strategy"
        description = "What it does, in words a trader reads on the bot form."
        parameters = (Parameter("period", "int", 20, minimum=2, maximum=100, step=2),)

        @classmethod
        def check(cls, params) -> dict[str, str]: ...   # optional cross-field checks
        def warmup(self) -> int: ...                    # closed candles before a signal
        def prepare(self, candles) -> pd.DataFrame: ... # indicators + enter_long/exit_long
        def entry_reason(self, bar) -> str: ...         # optional: words for the decision log
        def exit_reason(self, bar) -> str: ...

The interface
-------------
``Strategy(**params)``
    Validates with :func:`validate_params` (raises :class:`ParameterError`, whose ``errors``
    maps names to messages such as "fast must be at least 2"); ``self.params`` is the typed
    dict. Every strategy also has ``stop_loss_pct``, ``take_profit_pct`` and
    ``trailing_stop_pct`` (Decimal percent, 5 = 5%; 0 = off), which a strategy may redeclare
    with another default (dca does for take_profit_pct).

``warmup() -> int``
    Closed candles ``prepare`` needs before its last row carries every indicator.

``lookback() -> int``
    Closed candles a live tick passes to ``prepare`` (>= warmup). Window indicators (SMA,
    Bollinger, Donchian) are exact after ``warmup()`` bars; recursive ones (EMA, RSI, MACD)
    remember their seed, so their strategies add the bars that make the seed's influence
    < 1e-10 and the last row matches a full-history backtest.

``prepare(candles) -> DataFrame``
    ``candles``: columns open_time (aware UTC), open, high, low, close, volume (float64),
    index 0..n-1, closed candles only. Returns a copy plus indicator columns and boolean
    ``enter_long`` / ``exit_long``, vectorised with ``marketdata.indicators``. Row i uses
    only rows <= i, so the backtester calls it once on the whole history and the live tick
    on the last ``lookback()`` candles, and both read the same values for a row.

``on_bar(ctx: Context) -> list[Intent | Cancel]``
    Called once per closed bar with ``ctx.bar`` = that bar's prepared row. The default:
    a protective exit (:func:`protective_exit`) if the bar reached one; otherwise a market
    buy (tag "entry") when flat and ``enter_long`` (an ``exit_long`` on the same bar vetoes
    it), a sell of the whole position (tag "exit") when long and ``exit_long``. Stateful
    strategies (dca, grid) override it and keep their memory in ``ctx.state``.

The caller's side of the contract
---------------------------------
* Apply fills before the next ``on_bar``: ``ctx.position`` and ``ctx.open_orders`` must be
  current. Execute the returned actions in list order (grid cancels before it re-places and
  buys its inventory before its sells).
* ``ctx.state`` is a JSON-serialisable dict: store it after ``on_bar`` and pass it back on
  the next bar (an empty dict for a new bot).
* ``PositionView.highest_price_since_entry``: the highest high since the entry (None is
  read as the average price); the trailing stop also counts the current bar's high.
* An ``Intent`` without a size (quote_amount, quantity, close_fraction all None) is sized
  by :func:`bots.strategies.sizing.size_intent` from the bot's sizing configuration.
  ``trigger_price`` on protective exits is the level crossed inside the bar.

Registry
--------
``register`` (class decorator), ``get_strategy(name)``, ``available()``, ``describe(name)``
(JSON-friendly parameters for forms and the API), ``load_user_strategies(path)`` (Python
files in a directory, default ``user_strategies/`` at the repository root; returns a list
of :class:`LoadError` instead of raising).
"""

from bots.strategies import builtin  # noqa: F401  (importing it registers the built-ins)
from bots.strategies.base import EXIT_PARAMETERS, Strategy, with_signals
from bots.strategies.context import (
    FLAT,
    Action,
    Cancel,
    Context,
    Intent,
    OpenOrderView,
    PositionView,
    as_decimal,
)
from bots.strategies.exits import protective_exit
from bots.strategies.params import Parameter, ParameterError, grid, validate_params
from bots.strategies.registry import (
    LoadError,
    available,
    describe,
    get_strategy,
    load_user_strategies,
    register,
)
from bots.strategies.signals import crossed_above, crossed_below

__all__ = [
    "EXIT_PARAMETERS",
    "FLAT",
    "Action",
    "Cancel",
    "Context",
    "Intent",
    "LoadError",
    "OpenOrderView",
    "Parameter",
    "ParameterError",
    "PositionView",
    "Strategy",
    "as_decimal",
    "available",
    "crossed_above",
    "crossed_below",
    "describe",
    "get_strategy",
    "grid",
    "load_user_strategies",
    "protective_exit",
    "register",
    "validate_params",
    "with_signals",
]
