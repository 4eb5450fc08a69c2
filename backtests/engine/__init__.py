"""The backtest engine: pure Python (numpy, pandas), no Django.

``run_backtest(strategy, candles, config)`` runs any strategy of ``bots.strategies``
unchanged over a candle frame (see ``data.load_csv``) with the costs, the symbol's filters,
the sizing and the risk rules of ``config`` and returns a ``BacktestResult``: trades, the
equity curve and the metrics. ``simulator`` says how orders fill; ``report`` turns a result
into JSON with Decimal money.
"""

from __future__ import annotations

from backtests.engine.config import BacktestConfig, SymbolFilters
from backtests.engine.data import (
    CandleError,
    data_hash,
    infer_interval,
    load_csv,
    load_funding,
)
from backtests.engine.results import BacktestCancelled, BacktestResult, Curve, Trade
from backtests.engine.run import run_backtest

__all__ = [
    "BacktestCancelled",
    "BacktestConfig",
    "BacktestResult",
    "CandleError",
    "Curve",
    "SymbolFilters",
    "Trade",
    "data_hash",
    "infer_interval",
    "load_csv",
    "load_funding",
    "run_backtest",
]
