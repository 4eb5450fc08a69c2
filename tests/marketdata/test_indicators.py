"""Indicators against TA-Lib on real Binance candles from shared/data/klines.

The shared directory is found next to the repository, or wherever SHARED_DATA_DIR points.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib  # ta-lib==0.8.2 (requirements-dev): the reference these tests exist to compare with

from marketdata import indicators

SHARED = Path(os.environ.get("SHARED_DATA_DIR", Path(__file__).resolve().parents[3] / "shared"))
KLINES = SHARED / "data" / "klines"
CANDLE_FILES = [
    "BTCUSDT-1h-taeminlee_cp-spot.csv",  # 7091 hourly candles
    "BTCUSDT-5m-freqtrade_orderflow-um.csv",  # 10999 futures candles
    "XRPETH-1m-freqtrade-spot.csv",  # an illiquid pair: tiny prices, repeated closes
]
RTOL = 1e-9

pytestmark = pytest.mark.skipif(not KLINES.is_dir(), reason=f"no klines at {KLINES}")


def load_candles(name: str) -> pd.DataFrame:
    frame = pd.read_csv(KLINES / name)
    frame.index = pd.to_datetime(frame["open_time"], unit="ms", utc=True)
    return frame[["open", "high", "low", "close", "volume"]].astype(float)


@pytest.fixture(scope="module", params=CANDLE_FILES)
def candles(request) -> pd.DataFrame:
    return load_candles(request.param)


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    return load_candles(CANDLE_FILES[0])


def arrays(frame: pd.DataFrame, *names: str) -> list[np.ndarray]:
    return [frame[name].to_numpy() for name in names]


def assert_matches(ours, reference, *, atol: float = 0.0) -> None:
    """Same warm-up (NaN) bars as TA-Lib, then equal to RTOL relative (plus atol)."""
    ours = np.asarray(ours, dtype=float)
    reference = np.asarray(reference, dtype=float)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_allclose(ours, reference, rtol=RTOL, atol=atol)


# --- agreement with TA-Lib ---------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 20, 50, 200])
def test_sma_matches_talib(candles, n):
    assert_matches(indicators.sma(candles["close"], n), talib.SMA(candles["close"].to_numpy(), n))


@pytest.mark.parametrize("n", [2, 12, 26, 200])
def test_ema_matches_talib_seeded_with_an_sma(candles, n):
    assert_matches(indicators.ema(candles["close"], n), talib.EMA(candles["close"].to_numpy(), n))


@pytest.mark.parametrize("n", [2, 14, 30])
def test_rsi_matches_talib_wilder(candles, n):
    # Bounded 0..100: 1e-9 of a point is far below anything a strategy can see.
    ours = indicators.rsi(candles["close"], n)
    assert_matches(ours, talib.RSI(candles["close"].to_numpy(), n), atol=1e-9)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5)])
def test_macd_matches_talib_including_its_fast_ema_alignment(candles, fast, slow, signal):
    close = candles["close"]
    ours = indicators.macd(close, fast, slow, signal)
    reference = talib.MACD(close.to_numpy(), fast, slow, signal)
    # MACD is a difference of two EMAs of the price: near its zero crossings only an error
    # measured against the price itself means anything, so allow 1e-12 of the price level.
    atol = 1e-12 * float(close.abs().max())
    for column, expected in zip(["macd", "signal", "hist"], reference, strict=True):
        assert_matches(ours[column], expected, atol=atol)


@pytest.mark.parametrize(("n", "k"), [(20, 2.0), (10, 1.5)])
def test_bollinger_matches_talib_population_std(candles, n, k):
    ours = indicators.bollinger(candles["close"], n, k)
    upper, middle, lower = talib.BBANDS(candles["close"].to_numpy(), n, k, k, 0)
    assert_matches(ours["upper"], upper)
    assert_matches(ours["middle"], middle)
    assert_matches(ours["lower"], lower)


@pytest.mark.parametrize("n", [1, 14, 30])
def test_atr_matches_talib_wilder(candles, n):
    high, low, close = arrays(candles, "high", "low", "close")
    ours = indicators.atr(candles["high"], candles["low"], candles["close"], n)
    assert_matches(ours, talib.ATR(high, low, close, n))


@pytest.mark.parametrize(("k", "d"), [(14, 3), (5, 4)])
def test_stochastic_matches_talib_slow_stoch_with_sma_smoothing(candles, k, d):
    high, low, close = arrays(candles, "high", "low", "close")
    ours = indicators.stochastic(candles["high"], candles["low"], candles["close"], k, d)
    slow_k, slow_d = talib.STOCH(high, low, close, k, d, 0, d, 0)
    assert_matches(ours["k"], slow_k, atol=1e-9)
    assert_matches(ours["d"], slow_d, atol=1e-9)


def test_obv_matches_talib_exactly(candles):
    close, volume = arrays(candles, "close", "volume")
    ours = indicators.obv(candles["close"], candles["volume"])
    np.testing.assert_array_equal(ours.to_numpy(), talib.OBV(close, volume))


def test_vwap_is_the_cumulative_volume_weighted_typical_price(hourly):
    day = hourly.iloc[:24]
    ours = indicators.vwap(day["high"], day["low"], day["close"], day["volume"])
    typical = (day["high"] + day["low"] + day["close"]) / 3
    expected = [
        sum(typical.iloc[: i + 1] * day["volume"].iloc[: i + 1]) / day["volume"].iloc[: i + 1].sum()
        for i in range(len(day))
    ]
    np.testing.assert_allclose(ours.to_numpy(), expected, rtol=1e-12)


def test_recursive_indicators_match_talib_over_many_blocks():
    # 300k bars cross hundreds of the blocks the EMA/Wilder solver works in.
    rng = np.random.default_rng(11)
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.003, 300_000)))
    high, low = close * 1.002, close * 0.998
    series = pd.Series(close)
    assert_matches(indicators.ema(series, 26), talib.EMA(close, 26))
    assert_matches(indicators.rsi(series, 14), talib.RSI(close, 14), atol=1e-9)
    ours_atr = indicators.atr(pd.Series(high), pd.Series(low), series, 14)
    assert_matches(ours_atr, talib.ATR(high, low, close, 14))
    assert_matches(indicators.bollinger(series)["upper"], talib.BBANDS(close, 20, 2, 2, 0)[0])


# --- alignment and warm-up ---------------------------------------------------------------


def first_valid(values) -> int:
    return int(np.argmax(~np.isnan(np.asarray(values, dtype=float))))


def test_outputs_keep_the_input_index_and_warm_up_as_talib(hourly):
    high, low, close, volume = (hourly[name] for name in ("high", "low", "close", "volume"))
    outputs = [
        (19, indicators.sma(close, 20)),
        (11, indicators.ema(close, 12)),
        (14, indicators.rsi(close)),
        (33, indicators.macd(close)),
        (19, indicators.bollinger(close)),
        (14, indicators.atr(high, low, close)),
        (17, indicators.stochastic(high, low, close)),
        (0, indicators.obv(close, volume)),
        (0, indicators.vwap(high, low, close, volume)),
    ]
    for warm_up, output in outputs:
        assert output.index.equals(hourly.index)
        values = output.to_numpy().reshape(len(hourly), -1)
        assert np.isnan(values[:warm_up]).all()
        assert not np.isnan(values[warm_up:]).any()


def test_frames_have_the_documented_columns(hourly):
    high, low, close = hourly["high"], hourly["low"], hourly["close"]
    assert list(indicators.macd(close).columns) == ["macd", "signal", "hist"]
    assert list(indicators.bollinger(close).columns) == ["middle", "upper", "lower"]
    assert list(indicators.stochastic(high, low, close).columns) == ["k", "d"]


def test_leading_gaps_are_skipped_like_talib(hourly):
    close = hourly["close"].copy()
    close.iloc[:5] = np.nan
    values = close.to_numpy()
    assert_matches(indicators.ema(close, 12), talib.EMA(values, 12))
    assert_matches(indicators.sma(close, 20), talib.SMA(values, 20))
    assert_matches(indicators.rsi(close), talib.RSI(values, 14), atol=1e-9)


def test_a_gap_blanks_only_the_rolling_windows_that_contain_it(hourly):
    close = hourly["close"].iloc[:2000].copy()
    close.iloc[1000] = np.nan
    ours = indicators.sma(close, 20)
    expected = close.rolling(20).mean()
    assert ours.isna().equals(expected.isna())
    np.testing.assert_allclose(ours.to_numpy(), expected.to_numpy(), rtol=1e-12)
    assert indicators.ema(close, 12).iloc[1000:].isna().all()  # recursive: poisoned from there


def test_short_inputs_give_nan_not_errors():
    short = pd.Series([1.0, 2.0, 3.0])
    assert indicators.sma(short, 5).isna().all()
    assert indicators.rsi(short).isna().all()
    assert indicators.macd(short).isna().all().all()
    assert indicators.bollinger(pd.Series([], dtype=float)).empty


def test_decimal_series_are_accepted():
    closes = pd.Series([Decimal("1.5"), Decimal("2.5"), Decimal("3.5")])
    assert indicators.sma(closes, 2).tolist()[1:] == [2.0, 3.0]


def test_periods_must_be_positive_integers():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        indicators.sma(pd.Series([1.0]), 0)
    with pytest.raises(ValueError, match="fast"):
        indicators.macd(pd.Series([1.0]), fast=26, slow=12)


def test_rsi_of_a_series_that_never_moved_is_neutral():
    # TA-Lib reports 0 ("oversold") here; nothing moved, so we say 50.
    assert indicators.rsi(pd.Series(np.full(40, 7.5))).iloc[14:].eq(50.0).all()


def test_a_flat_stretch_closes_the_bands_and_floors_the_stochastic():
    rng = np.random.default_rng(5)
    moving = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 100)))
    close = pd.Series(np.concatenate([moving, np.full(60, moving[-1])]))
    assert indicators.stochastic(close, close, close)["k"].iloc[-1] == pytest.approx(0, abs=1e-9)
    bands = indicators.bollinger(close).iloc[-1]
    assert bands["upper"] - bands["lower"] < 1e-9 * bands["middle"]


def test_rolling_sums_do_not_drift_over_a_million_bars():
    rng = np.random.default_rng(3)
    close = 50_000 * np.exp(np.cumsum(rng.normal(0, 0.002, 1_000_000)))
    tail = close[-1000:]
    exact = np.lib.stride_tricks.sliding_window_view(tail, 50).mean(axis=1)
    ours = indicators.sma(pd.Series(close), 50).to_numpy()[-len(exact) :]
    np.testing.assert_allclose(ours, exact, rtol=1e-13)


# --- levels and trend --------------------------------------------------------------------


def test_fibonacci_levels_retrace_from_the_swing_high():
    levels = indicators.fibonacci_levels(200.0, 100.0)
    assert list(levels) == ["0", "0.236", "0.382", "0.5", "0.618", "0.786", "1"]
    assert levels["0"] == 200.0
    assert levels["1"] == 100.0
    assert levels["0.5"] == pytest.approx(150.0)
    assert levels["0.618"] == pytest.approx(138.2)


def test_fibonacci_levels_take_the_swing_of_a_window(hourly):
    window = hourly.iloc[-200:]
    levels = indicators.fibonacci_levels(window["high"], window["low"])
    assert levels["0"] == window["high"].max()
    assert levels["1"] == window["low"].min()
    assert list(levels.values()) == sorted(levels.values(), reverse=True)
    with pytest.raises(ValueError, match="high >= low"):
        indicators.fibonacci_levels(1.0, 2.0)


def test_support_and_resistance_find_the_edges_of_a_range():
    bars = np.arange(400)
    close = pd.Series(105 + 5 * np.sin(bars / 10))
    levels = indicators.support_resistance(close + 0.1, close - 0.1, close, window=5)
    assert [level.kind for level in levels] == ["support", "resistance"]
    support, resistance = levels
    assert support.price == pytest.approx(99.9, abs=0.05)
    assert resistance.price == pytest.approx(110.1, abs=0.05)
    assert support.touches >= 5
    assert resistance.touches >= 5
    assert max(level.strength for level in levels) == 1.0


def test_support_and_resistance_on_real_candles_stay_inside_the_range(hourly):
    window = hourly.iloc[-500:]
    levels = indicators.support_resistance(
        window["high"], window["low"], window["close"], max_levels=6
    )
    assert 0 < len(levels) <= 6
    assert [level.price for level in levels] == sorted(level.price for level in levels)
    last = window["close"].iloc[-1]
    for level in levels:
        assert window["low"].min() <= level.price <= window["high"].max()
        assert level.kind == ("resistance" if level.price > last else "support")
        assert 0 < level.strength <= 1
        assert level.touches >= 1


def test_trend_reads_direction_and_steadiness():
    bars = np.arange(100)
    rising = indicators.trend(pd.Series(100 * 1.01**bars))
    falling = indicators.trend(pd.Series(100 * 0.99**bars))
    assert (rising.direction, falling.direction) == ("bullish", "bearish")
    assert rising.strength == pytest.approx(1.0)
    assert rising.slope == pytest.approx(0.01)
    noise = pd.Series(100 + np.random.default_rng(1).normal(0, 1, 100))
    assert indicators.trend(noise).direction == "neutral"
    assert indicators.trend(pd.Series([1.0, 2.0])).direction == "neutral"


def test_trend_strength_is_a_fraction(hourly):
    result = indicators.trend(hourly["close"], window=200)
    assert result.direction in {"bullish", "bearish", "neutral"}
    assert 0.0 <= result.strength <= 1.0
