"""Every built-in on real Binance candles: runs, never looks ahead, warms up enough, and a
live window of lookback() candles reads the same last row as the full-history backtest."""

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from bots.strategies import Strategy, as_decimal, available, get_strategy, with_signals
from bots.strategies.base import SIGNAL_COLUMNS

from .candles import COLUMNS, KLINES, load_klines
from .paper import Paper

HOURLY = "BTCUSDT-1h-taeminlee_cp-spot.csv"  # 7091 candles
BUILTINS = [
    "ai_combined", "bollinger_reversion", "dca", "donchian_breakout", "ema_cross", "grid",
    "macd_trend",
    "rsi_reversion", "sma_cross",
]
# Short periods make the warm-up tests sharp; defaults are covered by the run test.
SHORT = {
    "sma_cross": {"fast": 3, "slow": 7},
    "ema_cross": {"fast": 3, "slow": 7},
    "rsi_reversion": {"period": 5},
    "bollinger_reversion": {"period": 6},
    "macd_trend": {"fast": 3, "slow": 8, "signal": 4},
    "donchian_breakout": {"entry_period": 7, "exit_period": 4},
    "ai_combined": {"trend_window": 10, "threshold": 0.2},
}

pytestmark = pytest.mark.skipif(not KLINES.is_dir(), reason=f"no klines at {KLINES}")


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    return load_klines(HOURLY)


def build(name: str, candles: pd.DataFrame, **params) -> Strategy:
    if name == "grid":
        low, high = candles["close"].quantile([0.1, 0.9]).round(0)
        params = {"lower_price": low, "upper_price": high, "order_quantity": "0.01", **params}
    return get_strategy(name)(**params)


def indicator_columns(prepared: pd.DataFrame) -> list[str]:
    return [c for c in prepared.columns if c not in COLUMNS and c not in SIGNAL_COLUMNS]


def test_the_built_ins_are_the_ones_tested():
    assert set(BUILTINS) <= set(available())


@pytest.mark.parametrize("name", sorted(KLINES.glob("*.csv")), ids=lambda path: path.name)
def test_every_shared_file_loads_in_the_strategy_format(name):
    candles = load_klines(name.name)
    assert list(candles.columns) == COLUMNS
    assert str(candles["open_time"].dt.tz) == "UTC"
    assert candles["open_time"].is_monotonic_increasing
    assert (candles[COLUMNS[1:]].dtypes == np.float64).all()
    assert candles.index.equals(pd.RangeIndex(len(candles)))


@pytest.mark.parametrize("name", BUILTINS)
def test_it_trades_real_candles_with_default_settings(name, hourly):
    paper = Paper(build(name, hourly)).run(hourly)
    entries = [fill for fill in paper.fills if fill[1] in ("entry", "grid-setup")]
    assert entries, "no entry in 7091 hourly candles"
    assert paper.quantity >= 0
    assert all(action.reason for _, action in paper.actions)


def assert_no_look_ahead(strategy: Strategy, candles: pd.DataFrame) -> None:
    """The last row of the first k candles equals row k-1 of the whole history."""
    full = strategy.prepare(candles)
    for k in (strategy.warmup(), 25, 101, 1000, 4321, len(candles)):
        last = strategy.prepare(candles.iloc[:k]).iloc[-1]
        pd.testing.assert_series_equal(last, full.iloc[k - 1], check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("name", BUILTINS)
def test_it_never_looks_ahead(name, hourly):
    assert_no_look_ahead(build(name, hourly, **SHORT.get(name, {})), hourly)


class TomorrowsClose(Strategy):
    """A cheat: buys when the next close is higher."""

    def warmup(self) -> int:
        return 1

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        rises = candles["close"].shift(-1) > candles["close"]
        return with_signals(candles, {}, enter_long=rises, exit_long=~rises)


def test_the_look_ahead_check_catches_a_cheat(hourly):
    with pytest.raises(AssertionError):
        assert_no_look_ahead(TomorrowsClose(), hourly)


@pytest.mark.parametrize("name", BUILTINS)
def test_warmup_candles_give_every_indicator(name, hourly):
    strategy = build(name, hourly, **SHORT.get(name, {}))
    prepared = strategy.prepare(hourly.iloc[: strategy.warmup()])
    columns = indicator_columns(prepared)
    assert not prepared[columns].iloc[-1].isna().any()


@pytest.mark.parametrize("name", sorted(SHORT))
def test_one_candle_less_is_not_enough(name, hourly):
    # A cross needs the row before too, so look at the last two rows.
    strategy = build(name, hourly, **SHORT[name])
    prepared = strategy.prepare(hourly.iloc[: strategy.warmup() - 1])
    assert prepared[indicator_columns(prepared)].iloc[-2:].isna().any().any()


@pytest.mark.parametrize("name", BUILTINS)
def test_a_live_window_reads_what_the_backtest_reads(name, hourly):
    strategy = build(name, hourly)
    full = strategy.prepare(hourly)
    window = strategy.lookback()
    assert window >= strategy.warmup()
    for end in (window + 17, 3000, len(hourly)):
        live = strategy.prepare(hourly.iloc[end - window : end]).iloc[-1]
        backtest = full.iloc[end - 1]
        columns = indicator_columns(full)
        np.testing.assert_allclose(live[columns].astype(float), backtest[columns].astype(float),
                                   rtol=1e-9, atol=1e-6)
        assert live[list(SIGNAL_COLUMNS)].tolist() == backtest[list(SIGNAL_COLUMNS)].tolist()


@pytest.mark.parametrize("name", ["ema_cross", "rsi_reversion", "macd_trend"])
def test_recursive_indicators_need_their_longer_lookback(name, hourly):
    # Without the settling bars the seed still shows: the point of lookback() > warmup().
    strategy = build(name, hourly)
    end = len(hourly)
    short = strategy.prepare(hourly.iloc[end - strategy.warmup() : end]).iloc[-1]
    full = strategy.prepare(hourly).iloc[-1]
    columns = indicator_columns(strategy.prepare(hourly.iloc[:100]))
    differences = (short[columns].astype(float) - full[columns].astype(float)).abs()
    assert differences.max() > 1e-3


def test_protective_exits_fill_inside_the_bar_that_reached_them(hourly):
    strategy = build("sma_cross", hourly, stop_loss_pct="2", take_profit_pct="3",
                     trailing_stop_pct="4")
    paper = Paper(strategy).run(hourly)
    exits = [(i, a) for i, a in paper.actions if a.tag in ("stop_loss", "take_profit",
                                                             "trailing_stop")]
    assert {a.tag for _, a in exits} == {"stop_loss", "take_profit", "trailing_stop"}
    for index, intent in exits:
        bar = hourly.iloc[index]
        assert as_decimal(bar["low"]) <= intent.trigger_price <= as_decimal(bar["high"])


def test_floats_from_the_frame_become_the_decimals_they_print_as():
    assert as_decimal(np.float64(27210.36)) == Decimal("27210.36")
    assert as_decimal(0.1) == Decimal("0.1")
