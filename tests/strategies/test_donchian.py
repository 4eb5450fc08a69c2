"""marketdata.indicators.donchian: the channel the breakout strategy trades."""

import numpy as np
import pandas as pd
import pytest

from marketdata.indicators import donchian

from .candles import KLINES, load_klines


def test_it_takes_the_extremes_of_the_last_n_bars():
    high = pd.Series([11.0, 13, 12, 15, 14, 10])
    low = pd.Series([9.0, 10, 8, 12, 11, 7])
    channel = donchian(high, low, 3)
    assert list(channel.columns) == ["upper", "middle", "lower"]
    assert channel["upper"].tolist()[2:] == [13, 15, 15, 15]
    assert channel["lower"].tolist()[2:] == [8, 8, 8, 7]
    assert channel["middle"].tolist()[2:] == [10.5, 11.5, 11.5, 11]
    assert channel.iloc[:2].isna().all().all()  # warm-up: first value at n-1


def test_a_gap_blanks_the_windows_that_contain_it():
    high = pd.Series([1.0, 2, np.nan, 4, 5, 6])
    channel = donchian(high, high - 1, 2)
    assert channel["upper"].isna().tolist() == [True, False, True, True, False, False]


def test_leading_gaps_are_skipped():
    high = pd.Series([np.nan, np.nan, 3.0, 4.0, 2.0])
    assert donchian(high, high, 2)["upper"].tolist()[3:] == [4.0, 4.0]


@pytest.mark.skipif(not KLINES.is_dir(), reason=f"no klines at {KLINES}")
def test_it_equals_ta_libs_max_and_min_on_real_candles():
    talib = pytest.importorskip("talib")
    candles = load_klines("BTCUSDT-5m-freqtrade_orderflow-um.csv")
    high, low = candles["high"], candles["low"]
    for n in (2, 20, 55, 600):
        channel = donchian(high, low, n)
        np.testing.assert_array_equal(channel["upper"], talib.MAX(high.to_numpy(), n))
        np.testing.assert_array_equal(channel["lower"], talib.MIN(low.to_numpy(), n))


def test_it_rejects_a_bad_period():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        donchian(pd.Series([1.0]), pd.Series([1.0]), 0)
