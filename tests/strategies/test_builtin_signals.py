"""Each indicator strategy's entries and exits on tiny series, worked out by hand."""

import pytest

from bots.strategies import Context, get_strategy

from .candles import candles_from


def signal_rows(name: str, candles, **params) -> tuple[list[int], list[int]]:
    prepared = get_strategy(name)(**params).prepare(candles)
    return (
        prepared.index[prepared["enter_long"]].tolist(),
        prepared.index[prepared["exit_long"]].tolist(),
    )


# Averages of 2 and 4 bars over these closes:
#   row      0     1     2     3     4      5     6     7     8
#   close   10    10    10    10    13     13     7     7     7
#   SMA2     -    10    10    10    11.5   13    10     7     7
#   SMA4     -     -     -    10    10.75  11.5  11.5  10     7
# Row 4: 11.5 > 10.75 after 10 <= 10, a cross up. Row 6: 10 < 11.5 after 13 >= 11.5.
# Row 8 touches (7 = 7): touching is not crossing.
RISE_AND_FALL = [10, 10, 10, 10, 13, 13, 7, 7, 7]


def test_sma_cross():
    assert signal_rows("sma_cross", candles_from(RISE_AND_FALL), fast=2, slow=4) == ([4], [6])


def test_sma_cross_explains_the_entry():
    strategy = get_strategy("sma_cross")(fast=2, slow=4)
    bar = strategy.prepare(candles_from(RISE_AND_FALL)).iloc[4]
    [intent] = strategy.on_bar(Context(bar=bar))
    assert intent.reason == "SMA(2) 11.5 crossed above SMA(4) 10.75"


def test_ema_cross():
    # EMA2 (alpha 2/3, seeded 10 at row 1): rows 4-6 = 12, 12.667, 8.889.
    # EMA4 (alpha 0.4, seeded 10 at row 3): rows 4-6 = 11.2, 11.92, 9.952.
    assert signal_rows("ema_cross", candles_from(RISE_AND_FALL), fast=2, slow=4) == ([4], [6])


def test_rsi_reversion():
    # Changes -1,-1,-1,+1,+1,+1,+1. Wilder RSI(2) from row 2: 0, 0, 50, 75, 87.5, 93.75.
    # Row 4 crosses up through 30; rows 5-7 are above 70.
    closes = [10, 9, 8, 7, 8, 9, 10, 11]
    rows = signal_rows("rsi_reversion", candles_from(closes), period=2, oversold=30,
                       overbought=70)
    assert rows == ([4], [5, 6, 7])


def test_rsi_reversion_below_enters_on_every_oversold_close():
    # Same RSI(2): rows 2 and 3 are at 0, below 30; row 4 (50) is not.
    closes = [10, 9, 8, 7, 8, 9, 10, 11]
    rows = signal_rows("rsi_reversion", candles_from(closes), period=2, oversold=30,
                       overbought=70, entry_rule="below")
    assert rows == ([2, 3], [5, 6, 7])


def test_bollinger_reversion():
    # 3-bar bands, 1 std: row 3 window (10, 10, 7): middle 9, std sqrt(2), lower 7.586;
    # close 7 is below. Exits wherever the close is at or above the middle (rows 2, 4-6).
    closes = [10, 10, 10, 7, 10, 10, 10]
    rows = signal_rows("bollinger_reversion", candles_from(closes), period=3, deviations=1)
    assert rows == ([3], [2, 4, 5, 6])


def test_macd_trend():
    # MACD(2,3,2) as TA-Lib: line 0, 0, 0.333, 0.611, 0.287, -0.196 from row 3,
    # signal 0, 0, 0.222, 0.481, 0.352, -0.013. Up-cross at row 5, down-cross at row 7.
    closes = [10, 10, 10, 10, 10, 12, 14, 13, 11, 9]
    assert signal_rows("macd_trend", candles_from(closes), fast=2, slow=3, signal=2) == ([5], [7])


def test_donchian_breakout():
    # Highs = close + 1, lows = close - 1. Row 4: close 12 > 11, the high of rows 1-3.
    # Row 6: close 9 < 10, the low of rows 4-5. Row 7: 8 is not below the low 8.
    closes = [10, 10, 10, 10, 12, 11, 9, 8]
    candles = candles_from(closes, highs=[c + 1 for c in closes], lows=[c - 1 for c in closes])
    rows = signal_rows("donchian_breakout", candles, entry_period=3, exit_period=2)
    assert rows == ([4], [6])


def test_donchian_breakout_does_not_compare_a_bar_with_itself():
    # Row 3's own high is 14, but its close 13 beats the previous high 11: a breakout.
    closes = [10, 10, 10, 13]
    candles = candles_from(closes, highs=[11, 11, 11, 14], lows=[9, 9, 9, 12])
    assert signal_rows("donchian_breakout", candles, entry_period=3, exit_period=2)[0] == [3]


@pytest.mark.parametrize("name", ["dca", "grid"])
def test_order_managing_strategies_have_no_bar_signals(name):
    params = {"lower_price": 1, "upper_price": 2, "order_quantity": 1} if name == "grid" else {}
    assert signal_rows(name, candles_from(RISE_AND_FALL), **params) == ([], [])


@pytest.mark.parametrize(
    ("name", "params"),
    [("ema_cross", {"fast": 3, "slow": 7}), ("macd_trend", {"fast": 3, "slow": 7, "signal": 3}),
     ("sma_cross", {"fast": 3, "slow": 7})],
)
def test_a_flat_market_does_not_cross_on_rounding_noise(name, params):
    # Both averages sit at the price; block-wise float sums differ from it in the last bits
    # (an illiquid pair repeats its close for hours). 1500 bars cross the kernels' blocks.
    closes = [61126.37] * 1500
    assert signal_rows(name, candles_from(closes), **params) == ([], [])
