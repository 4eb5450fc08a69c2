"""Backtests in the platform: candles from the database, the symbol's filters from its
stored rules, and the engine's configuration from what a trader typed."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pandas as pd

from backtests.engine import BacktestConfig, CandleError, SymbolFilters
from backtests.engine.data import candles_from
from bots.strategies import ParameterError, Strategy, get_strategy
from marketdata.models import Kline
from marketdata.symbol_rules import rules_for

COLUMNS = ["open_time", "open", "high", "low", "close", "volume"]


def strategy_build(*, name: str, params: dict) -> Strategy:
    """The strategy, or ValueError in words (an unknown name, each bad parameter)."""
    try:
        strategy_class = get_strategy(name)
    except KeyError as missing:
        raise ValueError(str(missing.args[0])) from None
    try:
        return strategy_class(**params)
    except ParameterError as invalid:
        raise ValueError("; ".join(f"{k}: {v}" for k, v in invalid.errors.items())) from None


def stored_candles(*, symbol: str, interval: str, start: datetime | None = None,
                   end: datetime | None = None, market: str = "spot") -> pd.DataFrame:
    """Stored candles of ``symbol`` from ``start`` up to (not including) ``end``."""
    rows = Kline.objects.filter(market=market, symbol=symbol, interval=interval)
    if start is not None:
        rows = rows.filter(open_time__gte=start)
    if end is not None:
        rows = rows.filter(open_time__lt=end)
    frame = pd.DataFrame(list(rows.order_by("open_time").values_list(*COLUMNS)),
                         columns=COLUMNS)
    if frame.empty:
        raise CandleError(f"no stored {interval} candles of {symbol} in that range: import "
                          f"them first (manage.py backfill_klines or import_klines)")
    return candles_from(frame)


def symbol_filters(*, symbol: str | None, market: str = "spot") -> SymbolFilters | None:
    """The symbol's filters from its stored exchange rules; None when they are not known."""
    rules = rules_for(market, symbol) if symbol else None
    return SymbolFilters.from_rules(rules) if rules is not None else None


def backtest_config(*, interval: str, cash: Decimal, fee: Decimal, slippage_bps: Decimal,
                    filters: SymbolFilters | None, fee_asset: str = "received",
                    **extra) -> BacktestConfig:
    return BacktestConfig(cash=cash, maker_fee=fee, taker_fee=fee, fee_asset=fee_asset,
                          slippage_bps=slippage_bps, filters=filters or SymbolFilters(),
                          interval=interval, **extra)
