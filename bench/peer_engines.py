"""Run our two benchmark rules on other backtest engines, for speed and parity checks.

Every peer gets the same candles and the same entry/exit signals: the boolean columns our
strategy's ``prepare()`` computes. So the engines are compared, not indicator code.

The shared rules (``Costs``)
----------------------------
Long-only, all-in: on a bar's close, when flat and ``enter_long`` and not ``exit_long`` (an
exit on the same bar vetoes the entry), buy; when long and ``exit_long``, sell everything.
Market orders fill at the next bar's open. Quantity = floor(cash * 0.9999 /
(open * 1.001), 1e-8); a 0.1% fee on each side's notional is paid in cash. 10,000 cash.
A ``PeerRun`` lists closed trades only (the row numbers of the entry and exit fills); its
total return marks a position still open at the end at the last close, without an exit fee.

How each peer is set up, and what it does differently
-----------------------------------------------------
backtesting.py (``backtesting.lib.FractionalBacktest``, fractional_unit=1e-8):
    commission=0.001, trade_on_close=False, exclusive_orders=False, finalize_trades=False.
    The signals are ``self.I(lambda: array)`` indicators; ``next()`` calls
    ``self.buy(size=0.9999)`` (0.6.x's default size is 1 - epsilon, not 0.9999) and
    ``self.position.close()``. It sizes in whole 1e-8 units on prices scaled by 1e-8, so its
    quantity is our formula up to float rounding. Timed: ``bt.run()``, which also computes its
    statistics table (Sharpe etc., resampled to days); its tqdm progress bar is switched off.
backtrader (``bt.Cerebro(cheat_on_open=True, stdstats=False)``):
    A ``PandasData`` feed with two extra lines, enter_long / exit_long. Decisions are taken
    in ``next_open()`` of bar i+1 from the signals of bar i ([-1]): cheat-on-open shows the
    bar's open before the broker fills, so the all-in quantity is sized on the fill price
    exactly (a plain ``next()`` would have to size on the previous close). Percentage
    commission 0.001, explicit fractional sizes, ``self.close()`` to exit. Timed:
    ``cerebro.run()``, which includes loading the feed (backtrader has no separate step).
vectorbt (``Portfolio.from_signals``):
    Signals are shifted one bar forward and ``price=open``, so a signal on bar i fills on
    bar i+1 at its open (close values the position). Entries are masked with ``~exit`` first:
    vectorbt ignores both signals of a conflicting bar, which would also drop an exit while
    long. size=0.9999 with size_type="percent" (of cash, fees included), size_granularity
    1e-8, fees=0.001, direction="longonly". Its first call in a process compiles or loads
    numba code, so ``run_vectorbt`` times a first and a second call separately. Buys are
    rounded down to 1e-8 (``size_granularity``), sells are not (see ``_vectorbt_once``).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from unittest.mock import patch

import numpy as np
import pandas as pd

from bots.strategies import Strategy, get_strategy


@dataclass(frozen=True)
class Costs:
    cash: float = 10_000.0
    fee: float = 0.001
    fraction: float = 0.9999
    unit: float = 1e-8


COSTS = Costs()


@dataclass
class PeerRun:
    engine: str
    strategy: str
    seconds: float
    entry_bars: list[int]
    exit_bars: list[int]
    total_return_pct: float

    @property
    def trades(self) -> int:
        return len(self.entry_bars)


@dataclass(frozen=True)
class Signals:
    """Boolean arrays, one value per candle, decided on that candle's close."""

    enter: np.ndarray
    exit: np.ndarray


# The benchmark's two rules, as the issue states them.
RULES: dict[str, Callable[[], Strategy]] = {
    "sma_cross": lambda: get_strategy("sma_cross")(fast=20, slow=50),
    "rsi_reversion": lambda: get_strategy("rsi_reversion")(
        period=14, oversold=30, overbought=70, entry_rule="below"
    ),
}


def rule_signals(rule: str, candles: pd.DataFrame) -> Signals:
    """Our strategy's ``prepare()`` signals for ``rule`` on ``candles``."""
    prepared = RULES[rule]().prepare(candles)
    return Signals(_bools(prepared["enter_long"]), _bools(prepared["exit_long"]))


def _bools(column: pd.Series) -> np.ndarray:
    return column.fillna(False).to_numpy(dtype=bool)


def all_in_quantity(cash: float, price: float, costs: Costs = COSTS) -> float:
    """The shared sizing: floor(cash * fraction / (price * (1 + fee)), unit)."""
    units = math.floor(cash * costs.fraction / (price * (1 + costs.fee)) / costs.unit)
    return units * costs.unit


# --- backtesting.py -------------------------------------------------------------------------


def run_backtesting_py(
    candles: pd.DataFrame, signals: Signals, rule: str, costs: Costs = COSTS
) -> PeerRun:
    from backtesting.lib import FractionalBacktest

    bt = FractionalBacktest(
        _ohlcv_frame(candles),
        _backtesting_py_strategy(signals, costs),
        cash=costs.cash,
        commission=costs.fee,
        trade_on_close=False,
        exclusive_orders=False,
        finalize_trades=False,
        fractional_unit=costs.unit,
    )
    # Its progress bar is display only; "Some trades remain open at the end" is expected.
    with warnings.catch_warnings(), patch("backtesting.backtesting._tqdm", _no_progress):
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        stats = bt.run()
        seconds = time.perf_counter() - started
    trades = stats["_trades"]
    return PeerRun(
        "backtesting.py", rule, seconds,
        trades["EntryBar"].astype(int).tolist(), trades["ExitBar"].astype(int).tolist(),
        float(stats["Return [%]"]),
    )


def _no_progress(sequence, **_):
    return sequence


def _ohlcv_frame(candles: pd.DataFrame) -> pd.DataFrame:
    """backtesting.py's and backtrader's column names on a naive UTC datetime index."""
    frame = candles[["open", "high", "low", "close", "volume"]].copy()
    frame.columns = ["Open", "High", "Low", "Close", "Volume"]
    frame.index = pd.DatetimeIndex(candles["open_time"]).tz_convert("UTC").tz_localize(None)
    return frame


def _backtesting_py_strategy(signals: Signals, costs: Costs) -> type:
    from backtesting import Strategy as BacktestingStrategy

    class SignalStrategy(BacktestingStrategy):
        def init(self):
            self.enter = self.I(lambda: signals.enter, name="enter_long", plot=False)
            self.leave = self.I(lambda: signals.exit, name="exit_long", plot=False)

        def next(self):
            enter, leave = self.enter[-1], self.leave[-1]
            if not self.position:
                if enter and not leave:
                    self.buy(size=costs.fraction)
            elif leave:
                self.position.close()

    return SignalStrategy


# --- backtrader -----------------------------------------------------------------------------


def run_backtrader(
    candles: pd.DataFrame, signals: Signals, rule: str, costs: Costs = COSTS
) -> PeerRun:
    import backtrader as bt

    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True)
    frame = _ohlcv_frame(candles).assign(enter_long=signals.enter, exit_long=signals.exit)
    cerebro.adddata(_backtrader_feed()(dataname=frame))
    cerebro.addstrategy(_backtrader_strategy(), costs=costs)
    cerebro.broker.setcash(costs.cash)
    cerebro.broker.setcommission(commission=costs.fee)
    started = time.perf_counter()
    strategy = cerebro.run()[0]
    seconds = time.perf_counter() - started
    entries, exits = strategy.entries, strategy.exits
    total_return = (cerebro.broker.getvalue() / costs.cash - 1) * 100
    return PeerRun("backtrader", rule, seconds, entries[: len(exits)], exits, total_return)


def _backtrader_feed() -> type:
    import backtrader as bt

    class SignalFeed(bt.feeds.PandasData):
        lines = ("enter_long", "exit_long")
        # -1: find the column by the line's name.
        params = (("enter_long", -1), ("exit_long", -1), ("openinterest", None))

    return SignalFeed


def _backtrader_strategy() -> type:
    import backtrader as bt

    class SignalStrategy(bt.Strategy):
        params = (("costs", COSTS),)

        def __init__(self):
            self.entries: list[int] = []
            self.exits: list[int] = []

        def next_open(self):
            # Called on bar i+1 before its fills: act on bar i's close, size on this open.
            if len(self.data) < 2:
                return
            enter, leave = self.data.enter_long[-1], self.data.exit_long[-1]
            if not self.position:
                if enter and not leave:
                    cash = self.broker.getcash()
                    self.buy(size=all_in_quantity(cash, self.data.open[0], self.p.costs))
            elif leave:
                self.close()

        def notify_order(self, order):
            if order.status == order.Completed:
                bar = len(self.data) - 1
                (self.entries if order.isbuy() else self.exits).append(bar)
            elif order.status in (order.Margin, order.Rejected):
                raise RuntimeError(f"backtrader refused an order on bar {len(self.data) - 1}")

    return SignalStrategy


# --- vectorbt -------------------------------------------------------------------------------


_vectorbt_compiled = False


def run_vectorbt(
    candles: pd.DataFrame, signals: Signals, rule: str, costs: Costs = COSTS
) -> list[PeerRun]:
    """The first call in a process pays numba's compile (or on-disk cache load): that call is
    timed and returned on its own ("vectorbt (1st call)"), then a second, warm one."""
    global _vectorbt_compiled
    runs = [] if _vectorbt_compiled else [_vectorbt_once(candles, signals, rule, costs, True)]
    _vectorbt_compiled = True
    return [*runs, _vectorbt_once(candles, signals, rule, costs, False)]


def _vectorbt_once(
    candles: pd.DataFrame, signals: Signals, rule: str, costs: Costs, first: bool
) -> PeerRun:
    import vectorbt as vbt

    # Shift one bar: the decision on bar i's close becomes an order on bar i+1 at its open.
    entries = np.concatenate([[False], (signals.enter & ~signals.exit)[:-1]])
    exits = np.concatenate([[False], signals.exit[:-1]])
    # Round buys down to 1e-8 but not sells: vectorbt floors a sell too, and x // 1e-8 * 1e-8
    # can come out one unit short, leaving a 1e-8 residue that it then treats as long forever.
    granularity = np.where(exits, np.nan, costs.unit)
    started = time.perf_counter()
    portfolio = vbt.Portfolio.from_signals(
        candles["close"].to_numpy(), entries, exits, price=candles["open"].to_numpy(),
        size=costs.fraction, size_type="percent", size_granularity=granularity,
        fees=costs.fee, init_cash=costs.cash, direction="longonly", freq="1min",
    )
    records = portfolio.trades.records
    total_return = float(portfolio.total_return()) * 100
    seconds = time.perf_counter() - started
    closed = records[records["status"] == 1]
    return PeerRun(
        "vectorbt (1st call)" if first else "vectorbt", rule, seconds,
        closed["entry_idx"].astype(int).tolist(), closed["exit_idx"].astype(int).tolist(),
        total_return,
    )


PEERS: dict[str, Callable[..., PeerRun | list[PeerRun]]] = {
    "backtesting.py": run_backtesting_py,
    "backtrader": run_backtrader,
    "vectorbt": run_vectorbt,
}


def run_peer(peer: str, rule: str, candles: pd.DataFrame) -> list[PeerRun]:
    """``rule`` ("sma_cross" / "rsi_reversion") on ``peer``: one PeerRun (two for vectorbt's
    first call in the process)."""
    result = PEERS[peer](candles, rule_signals(rule, candles), rule)
    return result if isinstance(result, list) else [result]
