"""The technical analysis of a symbol's candles, and the per-row technical score a strategy
uses: hand-made candles for the rules, the real hourly BTCUSDT candles for agreement with
``indicators.trend`` and for the absence of lookahead. No database."""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests.engine import load_csv
from bots.analysis.technical import MIN_CANDLES, TechnicalAnalysis, analyse, technical_scores
from marketdata import indicators

SHARED = Path(os.environ.get("SHARED_DATA_DIR", Path(__file__).resolve().parents[4] / "shared"))
HOURLY_CSV = SHARED / "data" / "klines" / "BTCUSDT-1h-taeminlee_cp-spot.csv"
START = datetime(2024, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
# Cut points on the real candles: the first full trend window, just after it, and deep in.
CUT_POINTS = [MIN_CANDLES, MIN_CANDLES + 1, 300, 1000, 2567, 4096, 7091]

needs_real_candles = pytest.mark.skipif(not HOURLY_CSV.is_file(), reason=f"no {HOURLY_CSV}")


def candles_from_closes(closes, *, spread=1.0, volume=10.0) -> pd.DataFrame:
    """Hourly candles opening and closing at each close, ``spread`` above and below it."""
    closes = np.asarray(closes, dtype=np.float64)
    return pd.DataFrame(
        {
            "open_time": pd.date_range(START, periods=len(closes), freq="1h"),
            "open": closes,
            "high": closes + spread,
            "low": closes - spread,
            "close": closes,
            "volume": np.full(len(closes), volume),
        }
    )


def analysis_of(candles: pd.DataFrame, **options) -> TechnicalAnalysis:
    return analyse(candles, symbol="BTCUSDT", interval="1h", step=HOUR, **options)


def expected_score(close: pd.Series) -> float:
    verdict = indicators.trend(close, window=50)
    sign = {"bullish": 1.0, "bearish": -1.0, "neutral": 0.0}[verdict.direction]
    return sign * verdict.strength


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    if not HOURLY_CSV.is_file():
        pytest.skip(f"no {HOURLY_CSV}")
    return load_csv(HOURLY_CSV)


@pytest.fixture(scope="module")
def hourly_scores(hourly) -> pd.Series:
    return technical_scores(hourly)


# --- trend and score ---------------------------------------------------------------------


def test_a_steady_rise_is_bullish_with_strength_near_one():
    analysis = analysis_of(candles_from_closes(100 * 1.01 ** np.arange(80)))

    assert analysis.trend == "bullish"
    assert analysis.strength > 0.99
    assert analysis.score == analysis.strength > 0


def test_a_steady_fall_gives_a_negative_score():
    analysis = analysis_of(candles_from_closes(100 * 0.99 ** np.arange(80)))

    assert analysis.trend == "bearish"
    assert analysis.score == -analysis.strength < -0.99


def test_a_flat_noisy_market_is_neutral_with_score_zero():
    noise = np.random.default_rng(7).normal(0.0, 0.5, 80)
    candles = candles_from_closes(100 + noise)

    analysis = analysis_of(candles)

    assert analysis.trend == "neutral"
    assert analysis.score == 0.0
    assert technical_scores(candles).iloc[-1] == 0.0


def test_a_perfectly_flat_market_scores_zero_on_every_full_window():
    scores = technical_scores(candles_from_closes(np.full(500, 27065.77)))

    assert (scores.iloc[MIN_CANDLES - 1 :] == 0.0).all()


def test_rows_before_a_full_trend_window_have_no_score():
    scores = technical_scores(candles_from_closes(100 * 1.01 ** np.arange(60)))

    assert scores.iloc[: MIN_CANDLES - 1].isna().all()
    assert scores.iloc[MIN_CANDLES - 1 :].notna().all()
    assert scores.index.equals(pd.RangeIndex(60))


@needs_real_candles
@pytest.mark.parametrize("cut", CUT_POINTS)
def test_the_last_technical_score_equals_the_analysis_score(hourly, cut):
    candles = hourly.iloc[:cut]

    assert technical_scores(candles).iloc[-1] == pytest.approx(analysis_of(candles).score, abs=1e-9)


@needs_real_candles
@pytest.mark.parametrize("cut", CUT_POINTS)
def test_a_score_does_not_change_when_later_candles_arrive(hourly, hourly_scores, cut):
    # A backtest computes the scores over the whole history; a live bot only has the rows so
    # far. Bit-identical, so a backtest and the live bot take the same decisions.
    assert technical_scores(hourly.iloc[:cut]).iloc[-1] == hourly_scores.iloc[cut - 1]


@needs_real_candles
def test_every_score_agrees_with_indicators_trend_on_real_candles(hourly, hourly_scores):
    rows = range(MIN_CANDLES - 1, len(hourly), 7)
    expected = [expected_score(hourly["close"].iloc[row + 1 - 50 : row + 1]) for row in rows]

    np.testing.assert_allclose(hourly_scores.iloc[list(rows)], expected, rtol=0, atol=1e-9)
    assert (hourly_scores.iloc[list(rows)] != 0).any()  # some windows do trend


def test_a_hundred_thousand_scores_take_well_under_a_second():
    walk = np.random.default_rng(3).normal(0.0, 0.01, 100_000).cumsum()
    candles = pd.DataFrame({"close": 30_000 * np.exp(walk)})

    started = time.perf_counter()
    scores = technical_scores(candles)
    elapsed = time.perf_counter() - started

    assert elapsed < 0.5
    assert scores.iloc[MIN_CANDLES - 1 :].between(-1, 1).all()


def test_a_window_with_a_missing_close_has_no_score_and_one_with_a_zero_close_scores_zero():
    closes = 100 * 1.01 ** np.arange(120)
    closes[10], closes[100] = np.nan, 0.0

    scores = technical_scores(candles_from_closes(closes))

    assert scores.iloc[10:60].isna().all()
    assert (scores.iloc[100:] == 0.0).all()
    assert scores.iloc[60:100].gt(0.99).all()


def test_a_trend_window_under_three_candles_is_refused():
    with pytest.raises(ValueError, match="at least 3 candles"):
        technical_scores(candles_from_closes(np.arange(1.0, 10.0)), window=2)


# --- stop loss and take profit -----------------------------------------------------------


def flat_candles_with(*, dip_low=None, spike_high=None) -> pd.DataFrame:
    """100 candles closing at 100, high 101 and low 99 (so ATR(14) is 2): the repeated lows
    and highs make a support at 99 and a resistance at 101, both nearer than 1 ATR. A dip's
    low (bar 40) or a spike's high (bar 60) adds one more level."""
    candles = candles_from_closes(np.full(100, 100.0))
    if dip_low is not None:
        candles.loc[40, "low"] = dip_low
    if spike_high is not None:
        candles.loc[60, "high"] = spike_high
    return candles


def test_without_levels_in_range_the_stop_and_target_are_atr_multiples_of_the_close():
    analysis = analysis_of(flat_candles_with())

    assert float(analysis.atr) == pytest.approx(2.0)
    assert analysis.supports == [Decimal(99)]
    assert analysis.resistances == [Decimal(101)]
    # 99 and 101 lie closer to the close than the 1-ATR ranges next to the stop and target.
    assert analysis.stop_loss == analysis.close - 2 * analysis.atr
    assert analysis.take_profit == analysis.close + 3 * analysis.atr
    assert any("2 ATR below the close" in reason for reason in analysis.reasons)


def test_the_stop_goes_just_below_a_support_within_one_atr_above_the_atr_stop():
    analysis = analysis_of(flat_candles_with(dip_low=97.0))

    assert Decimal(97) in analysis.supports
    atr_stop = analysis.close - 2 * analysis.atr
    assert atr_stop < 97 <= atr_stop + analysis.atr
    assert analysis.stop_loss == Decimal("96.903")  # 0.1% below 97
    assert any("0.1% below support 97" in reason for reason in analysis.reasons)


def test_the_target_goes_just_below_a_resistance_within_one_atr_under_the_atr_target():
    analysis = analysis_of(flat_candles_with(spike_high=105.0))

    assert Decimal(105) in analysis.resistances
    atr_target = analysis.close + 3 * analysis.atr
    assert atr_target - analysis.atr <= 105 < atr_target
    assert analysis.take_profit == Decimal("104.895")  # 0.1% below 105
    assert any("0.1% below resistance 105" in reason for reason in analysis.reasons)


def test_the_atr_multiples_set_how_far_the_stop_and_target_lie():
    analysis = analysis_of(flat_candles_with(), atr_stop_multiple=1.5, atr_take_multiple=4)

    assert analysis.stop_loss == analysis.close - Decimal("1.5") * analysis.atr
    assert analysis.take_profit == analysis.close + 4 * analysis.atr
    assert float(analysis.stop_loss) == pytest.approx(97.0)


@needs_real_candles
@pytest.mark.parametrize("cut", CUT_POINTS)
def test_the_stop_lies_below_the_close_and_the_target_above_it(hourly, cut):
    analysis = analysis_of(hourly.iloc[:cut])

    assert 0 < analysis.stop_loss < analysis.close < analysis.take_profit
    assert analysis.close - analysis.stop_loss <= 2 * analysis.atr
    assert analysis.take_profit - analysis.close <= 3 * analysis.atr


def test_no_stop_is_suggested_when_the_atr_stop_would_be_below_zero():
    analysis = analysis_of(candles_from_closes(np.full(60, 3.0), spread=2.0))

    assert analysis.stop_loss is None
    assert analysis.take_profit is not None
    assert any("below zero" in reason for reason in analysis.reasons)


# --- the rest of the analysis ------------------------------------------------------------


def test_too_few_candles_are_refused_in_words():
    candles = candles_from_closes(100 * 1.01 ** np.arange(MIN_CANDLES - 1))

    with pytest.raises(ValueError, match=f"at least {MIN_CANDLES} closed candles, got 49"):
        analysis_of(candles)


def test_candles_without_a_volume_column_are_refused_in_words():
    candles = candles_from_closes(np.full(60, 100.0)).drop(columns="volume")

    with pytest.raises(ValueError, match="no volume column"):
        analysis_of(candles)


def test_the_analysis_is_as_of_the_close_of_the_last_candle():
    candles = candles_from_closes(np.full(60, 100.0))

    analysis = analysis_of(candles)

    assert analysis.as_of == datetime(2024, 1, 3, 12, tzinfo=UTC)  # bar 59 opens at 11:00
    assert analysis.as_of.utcoffset() == timedelta(0)


@needs_real_candles
def test_the_indicators_are_the_last_values_of_the_indicator_functions(hourly):
    close = hourly["close"]

    analysis = analysis_of(hourly)

    assert analysis.close == Decimal("65203.99")
    assert analysis.rsi == pytest.approx(Decimal(str(indicators.rsi(close).iloc[-1])))
    assert float(analysis.sma_50) == pytest.approx(indicators.sma(close, 50).iloc[-1])
    assert float(analysis.ema_26) == pytest.approx(indicators.ema(close, 26).iloc[-1])
    assert float(analysis.macd_histogram) == pytest.approx(indicators.macd(close)["hist"].iloc[-1])
    average = hourly["volume"].iloc[-20:].mean()
    assert float(analysis.volume_average) == pytest.approx(average)


@needs_real_candles
def test_supports_and_resistances_are_listed_nearest_the_close_first(hourly):
    analysis = analysis_of(hourly)

    assert len(analysis.supports) > 1
    assert len(analysis.resistances) > 1
    assert analysis.supports == sorted(analysis.supports, reverse=True)
    assert analysis.resistances == sorted(analysis.resistances)
    assert analysis.supports[0] <= analysis.close < analysis.resistances[0]


@needs_real_candles
def test_fibonacci_levels_span_the_lookback_swing(hourly):
    analysis = analysis_of(hourly, lookback=100)

    assert list(analysis.fibonacci) == ["0", "0.236", "0.382", "0.5", "0.618", "0.786", "1"]
    assert float(analysis.fibonacci["0"]) == hourly["high"].iloc[-100:].max()
    assert float(analysis.fibonacci["1"]) == hourly["low"].iloc[-100:].min()


def test_reasons_say_the_rsi_state_in_words():
    falling = analysis_of(candles_from_closes(100 * 0.99 ** np.arange(80)))
    rising = analysis_of(candles_from_closes(100 * 1.01 ** np.arange(80)))
    noise = np.random.default_rng(7).normal(0.0, 0.5, 80)
    sideways = analysis_of(candles_from_closes(100 + noise))

    assert "RSI 0.0 is oversold (below 30)." in falling.reasons
    assert "RSI 100.0 is overbought (above 70)." in rising.reasons
    assert any(reason.endswith("is neutral (between 30 and 70).") for reason in sideways.reasons)


def test_reasons_compare_the_averages_macd_volume_and_trend():
    candles = candles_from_closes(100 * 1.01 ** np.arange(80))
    candles.loc[79, "volume"] = 48.0  # the 20-candle average becomes 12

    reasons = " ".join(analysis_of(candles).reasons)

    assert re.search(r"SMA 20 \([-\d.]+\) is above SMA 50 \([-\d.]+\)\.", reasons)
    assert re.search(r"MACD \([-\d.]+\) is (above|below) its signal line \([-\d.]+\)\.", reasons)
    assert "Volume is 4.0x its 20-candle average." in reasons
    assert "the last 50 candles is bullish with strength 1.00" in reasons


@needs_real_candles
def test_as_dict_is_json_ready_and_from_dict_gives_the_same_analysis(hourly):
    analysis = analysis_of(hourly)

    data = json.loads(json.dumps(analysis.as_dict()))

    assert data["close"] == "65203.99"
    assert data["as_of"] == "2024-03-22T11:00:00+00:00"
    assert all(isinstance(price, str) for price in data["supports"] + data["resistances"])
    assert TechnicalAnalysis.from_dict(data) == analysis


def test_as_dict_writes_decimals_without_exponents_and_keeps_missing_values_as_null():
    analysis = analysis_of(candles_from_closes(np.full(60, 1e-7), spread=1e-8))
    bare = TechnicalAnalysis.from_dict({**analysis.as_dict(), "rsi": None, "row_id": 7})

    assert analysis.as_dict()["close"] == "0.0000001"
    assert bare.rsi is None
    assert bare.as_dict()["rsi"] is None
    assert TechnicalAnalysis.from_dict(bare.as_dict()) == bare
