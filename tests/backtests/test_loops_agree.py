"""The signal loop (jumping from signal to signal) is a shortcut for the bar loop (``on_bar``
on every candle, as the live bot runs): on real candles, for every built-in strategy it may
serve and every kind of cost, filter, exit and risk rule, both give the same decisions,
trades and equity to the last bit."""

from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import numpy as np
import pytest

from backtests.engine import BacktestConfig, SymbolFilters, load_csv, run_backtest
from bots.strategies import get_strategy
from risk.protections import CooldownPeriod, LowProfitPairs, MaxDrawdown, StoplossGuard
from risk.rules import Limits

KLINES = Path(__file__).resolve().parents[3] / "shared" / "data" / "klines"
BTC_FILTERS = SymbolFilters(step_size=D("0.00001"), min_qty=D("0.00001"), min_notional=D(5),
                            tick_size=D("0.01"))

STRATEGIES = [
    ("sma_cross", {"fast": 20, "slow": 50}),
    ("ema_cross", {"fast": 12, "slow": 26}),
    ("rsi_reversion", {"entry_rule": "below"}),
    ("macd_trend", {}),
    ("bollinger_reversion", {}),
    ("donchian_breakout", {}),
    ("sma_cross", {"fast": 10, "slow": 30, "stop_loss_pct": "0.4", "take_profit_pct": "0.6",
                   "trailing_stop_pct": "0.3"}),
    ("rsi_reversion", {"period": 7, "trailing_stop_pct": "0.5"}),
]

CONFIGS = {
    "defaults": {},
    "binance filters, slippage and a spread": {
        "filters": BTC_FILTERS, "slippage_bps": D(3), "spread": D("0.02")},
    "fees in quote, fixed size": {
        "fee_asset": "quote", "sizing": "fixed_quote", "sizing_config": {"amount": "2500"}},
    "limits": {
        "limits": Limits(max_order_notional=D(6000), max_daily_loss_pct=D("0.8"),
                         max_drawdown_pct=D(4), max_orders_per_minute=1,
                         min_free_balance=D(1000))},
    "protections": {
        "protections": (StoplossGuard(trade_limit=2, lookback=timedelta(hours=2)),
                        CooldownPeriod(stop_duration=timedelta(minutes=20)),
                        LowProfitPairs(trade_limit=3, lookback=timedelta(hours=3)),
                        MaxDrawdown(max_drawdown_pct=D(1), lookback=timedelta(hours=1),
                                    stop_duration=timedelta(minutes=15)))},
}


@pytest.fixture(scope="module")
def btc_minutes():
    return load_csv(KLINES / "BTCUSDT-1m-taeminlee_cp-spot.csv").iloc[:12_000]


@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize(("name", "params"), STRATEGIES,
                         ids=[f"{n}-{i}" for i, (n, _) in enumerate(STRATEGIES)])
def test_both_loops_give_the_same_backtest(btc_minutes, name, params, config):
    strategy = get_strategy(name)(**params)
    settings = BacktestConfig(**config)

    fast = run_backtest(strategy, btc_minutes, settings, loop="signals")
    every_bar = run_backtest(strategy, btc_minutes, settings, loop="bars")

    assert len(fast.trades) >= 5, "too few trades to compare anything"
    assert fast.decisions == every_bar.decisions
    assert [vars(t) for t in fast.trades] == [vars(t) for t in every_bar.trades]
    assert fast.refusals == every_bar.refusals
    assert np.array_equal(fast.curve.equity, every_bar.curve.equity)
    assert np.array_equal(fast.curve.in_market, every_bar.curve.in_market)
