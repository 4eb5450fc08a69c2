"""The lookahead and warm-up checks on real BTCUSDT minute candles: every built-in passes,
strategies that read the future or keep too little history are caught, in words."""

import json
import math
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from backtests.engine.checks import lookahead_check, warmup_check
from backtests.engine.data import load_csv
from bots.strategies import Strategy, available, crossed_above, crossed_below, with_signals
from marketdata import indicators

KLINES = Path(__file__).resolve().parents[3] / "shared/data/klines/BTCUSDT-1m-taeminlee_cp-spot.csv"
ROWS = 5_000


@pytest.fixture(scope="module")
def candles():
    return load_csv(KLINES).iloc[:ROWS]


def builtin(name, candles):
    """A built-in with its defaults; grid has no defaults for its range, so it gets the
    data's own."""
    if name != "grid":
        return available()[name]()
    low, high = math.floor(candles["close"].min()), math.ceil(candles["close"].max())
    return available()[name](
        lower_price=Decimal(low), upper_price=Decimal(high), order_quantity=Decimal("0.001")
    )


class ReadsTheNextClose(Strategy):
    """Buys when the next candle closes higher: a perfect, impossible trader."""

    def warmup(self):
        return 2

    def prepare(self, candles):
        close = candles["close"]
        return with_signals(candles, {}, enter_long=close.shift(-1) > close, exit_long=False)


class CentredAverage(Strategy):
    """A 21-bar average centred on the bar: half of its window is in the future."""

    def warmup(self):
        return 21

    def prepare(self, candles):
        close = candles["close"]
        middle = close.rolling(21, center=True).mean()
        return with_signals(
            candles, {"centred_mean": middle}, enter_long=close < middle, exit_long=close > middle
        )


class ShareOfAllTimeHigh(Strategy):
    """Normalises by the whole column's max, which already knows the highs to come."""

    def warmup(self):
        return 1

    def prepare(self, candles):
        share = candles["close"] / candles["close"].max()
        return with_signals(
            candles, {"share_of_max": share}, enter_long=share < 0.95, exit_long=share > 0.99
        )


class EmaCrossWithoutSettling(Strategy):
    """EMA(20) / EMA(50) cross whose lookback() is only its warmup(): the EMAs still
    remember their seed when a live bot reads them."""

    def warmup(self):
        return 51

    def prepare(self, candles):
        close = candles["close"]
        fast, slow = indicators.ema(close, 20), indicators.ema(close, 50)
        return with_signals(
            candles,
            {"ema_fast": fast, "ema_slow": slow},
            enter_long=crossed_above(fast, slow),
            exit_long=crossed_below(fast, slow),
        )


@pytest.mark.parametrize("name", sorted(available()))
def test_every_builtin_strategy_passes_the_lookahead_check(name, candles):
    report = lookahead_check(builtin(name, candles), candles)

    assert report.passed, report.details
    assert report.summary.startswith("No lookahead: 40 cut points")
    assert report.cut_points[-1] == ROWS - 1  # the newest bar, where a live bot decides


@pytest.mark.parametrize("name", sorted(available()))
def test_every_builtin_strategy_passes_the_warmup_check(name, candles):
    report = warmup_check(builtin(name, candles), candles)

    assert report.passed, report.details
    assert report.summary.startswith("Lookback is enough")


@pytest.mark.parametrize(
    ("strategy", "column"),
    [
        (ReadsTheNextClose(), "enter_long"),
        (CentredAverage(), "centred_mean"),
        (ShareOfAllTimeHigh(), "share_of_max"),
    ],
    ids=["next close", "centred window", "whole column max"],
)
def test_a_strategy_reading_later_candles_is_flagged_naming_the_column(strategy, column, candles):
    report = lookahead_check(strategy, candles)

    assert not report.passed
    assert column in report.differing_columns
    assert column in report.summary
    assert "the strategy reads candles after the one it decides on" in report.summary
    assert all(d.bar <= d.data_ends_bar for d in report.differences)


def test_a_next_close_peek_is_explained_with_both_values(candles):
    report = lookahead_check(ReadsTheNextClose(), candles)

    first = report.differences[0]
    assert (first.full_value, first.truncated_value) == (True, False)
    assert report.summary.startswith(
        f"Lookahead: enter_long at {first.time:%Y-%m-%d %H:%M} is True on full data but False "
        "when the data ends there"
    )


def test_an_ema_cross_with_a_too_short_lookback_is_flagged_by_the_warmup_check(candles):
    report = warmup_check(EmaCrossWithoutSettling(), candles)

    assert not report.passed
    assert {"ema_fast", "ema_slow"} <= set(report.differing_columns)
    assert report.summary.startswith("Lookback too short: ema_")
    assert "from the last 51 candles but" in report.summary


def test_a_too_short_lookback_is_not_called_lookahead(candles):
    report = lookahead_check(EmaCrossWithoutSettling(), candles)

    assert report.passed
    assert "ema_slow" in report.history_columns
    assert "see the warm-up check" in report.summary


def test_the_ema_cross_builtin_adds_enough_settling_bars(candles):
    strategy = available()["ema_cross"]()

    report = warmup_check(strategy, candles)

    assert report.passed
    assert report.lookback > strategy.warmup()
    assert report.first_values == {"ema_fast": 9, "ema_slow": 29}
    assert report.warmup_line.startswith("Warm-up: ema_fast from bar 9 (2024-03-01 00:09)")


def test_reports_are_json_and_the_same_on_every_run(candles):
    first = lookahead_check(ShareOfAllTimeHigh(), candles, samples=10)
    again = lookahead_check(ShareOfAllTimeHigh(), candles, samples=10)
    warm = warmup_check(EmaCrossWithoutSettling(), candles, samples=10)

    assert first.as_dict() == again.as_dict()
    for report in (first, warm):
        encoded = json.loads(json.dumps(report.as_dict(), allow_nan=False))
        assert encoded["passed"] is False
        assert encoded["differences"][0]["time"].endswith("+00:00")


def test_too_few_candles_are_refused_in_words(candles):
    strategy = available()["ema_cross"]()

    with pytest.raises(ValueError, match="needs more than 3 x lookback"):
        warmup_check(strategy, candles.iloc[:500])


def test_a_frame_with_another_index_is_checked_by_position(candles):
    shifted = candles.set_index(pd.RangeIndex(1_000, 1_000 + ROWS))

    assert lookahead_check(ReadsTheNextClose(), shifted, samples=10).differences[0].bar < ROWS
