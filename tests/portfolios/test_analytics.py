"""Portfolio analytics: pure, no database; figures checked by hand or against plain numpy."""

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal as D

import numpy as np
import pytest

from portfolios.analytics import (
    Drawdown,
    DrawdownPoint,
    EquityPoint,
    Exposure,
    TradeResult,
    drawdown_series,
    exposure_by_asset,
    infer_periods_per_year,
    max_drawdown,
    returns,
    sharpe,
    sortino,
    summary,
    trade_stats,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)


def curve(*equities, step=DAY):
    return [EquityPoint(T0 + i * step, D(str(e))) for i, e in enumerate(equities)]


def at(i, step=DAY):
    return T0 + i * step


def trades(*pnls, fee="1"):
    return [TradeResult(at(i), D(str(p)), D(fee)) for i, p in enumerate(pnls)]


# Daily returns +10%, -5%, +10%, -5%: mean 0.025, sample std sqrt(0.0075), so the per-period
# Sharpe is sqrt(1/12); downside deviation sqrt((0.05² + 0.05²) / 4), so Sortino is sqrt(1/2).
ALTERNATING = curve("100", "110", "104.5", "114.95", "109.2025")

# Hourly, irregular moves, for the comparisons with numpy.
WANDERING = curve("1000", "1012.5", "1003.1", "990", "1021.75", "1018", "1030.2", "1001.9",
                  step=HOUR)


def numpy_excess_returns(points, risk_free_rate, periods_per_year):
    equity = np.array([float(p.equity) for p in points])
    return equity[1:] / equity[:-1] - 1 - ((1 + risk_free_rate) ** (1 / periods_per_year) - 1)


# Inputs


def test_it_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="aware UTC datetime"):
        EquityPoint(datetime(2024, 1, 1), D("100"))  # noqa: DTZ001
    with pytest.raises(ValueError, match="aware UTC datetime"):
        TradeResult(datetime(2024, 1, 1), D("1"), D("0"))  # noqa: DTZ001


def test_it_refuses_other_time_zones():
    with pytest.raises(ValueError, match="aware UTC datetime"):
        EquityPoint(datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2))), D("100"))


def test_it_refuses_float_money():
    with pytest.raises(TypeError, match="equity must be a Decimal"):
        EquityPoint(T0, 100.0)
    with pytest.raises(TypeError, match="fees must be a Decimal"):
        TradeResult(T0, D("1"), 0.1)


def test_it_refuses_points_out_of_time_order():
    points = curve("100", "110")
    with pytest.raises(ValueError, match="strictly increasing time order"):
        returns(list(reversed(points)))
    with pytest.raises(ValueError, match="strictly increasing time order"):
        max_drawdown([points[0], points[0]])


# Returns


def test_returns_are_simple_period_returns_indexed_by_period_end():
    series = returns(curve("100", "110", "99", "120"))
    assert series.tolist() == [0.1, -0.1, pytest.approx(21 / 99, abs=1e-15)]
    assert list(series.index) == [at(1), at(2), at(3)]


def test_returns_skip_periods_starting_at_zero_or_negative_equity():
    # 100 -> 0 is a total loss; 0 -> 50 and -10 -> 20 have no defined return.
    series = returns(curve("100", "0", "50", "-10", "20"))
    assert series.tolist() == [-1.0, -1.2]
    assert list(series.index) == [at(1), at(3)]


def test_returns_of_empty_and_single_point_curves_are_empty():
    assert returns([]).empty
    assert returns(curve("100")).empty


# Periods per year


def test_it_infers_periods_per_year_from_the_median_spacing():
    assert infer_periods_per_year(curve("1", "2", "3", step=HOUR)) == 8760
    assert infer_periods_per_year(curve("1", "2", "3")) == 365
    # One long gap among hourly snapshots does not change the scale.
    gappy = [*curve("1", "2", "3", "4", step=HOUR), EquityPoint(at(10), D("5"))]
    assert infer_periods_per_year(gappy) == 8760
    assert infer_periods_per_year(curve("1")) is None


# Sharpe and Sortino


def test_sharpe_and_sortino_by_hand():
    assert sharpe(ALTERNATING) == D("5.5151")  # sqrt(365 / 12) = 5.51513...
    assert sortino(ALTERNATING) == D("13.5093")  # sqrt(365 / 2) = 13.50925...


def test_an_explicit_periods_per_year_overrides_the_spacing():
    assert sharpe(ALTERNATING, periods_per_year=12) == D("1.0000")  # sqrt(12 / 12)
    assert sortino(ALTERNATING, periods_per_year=2) == D("1.0000")  # sqrt(2 / 2)
    with pytest.raises(ValueError, match="periods_per_year must be positive"):
        sharpe(ALTERNATING, periods_per_year=0)


@pytest.mark.parametrize("risk_free_rate", [0, 0.05])
def test_sharpe_matches_numpy(risk_free_rate):
    excess = numpy_excess_returns(WANDERING, risk_free_rate, 8760)
    expected = excess.mean() / excess.std(ddof=1) * math.sqrt(8760)
    result = sharpe(WANDERING, risk_free_rate=risk_free_rate)
    assert float(result) == pytest.approx(expected, abs=0.00005)


@pytest.mark.parametrize("risk_free_rate", [0, 0.05])
def test_sortino_matches_numpy(risk_free_rate):
    excess = numpy_excess_returns(WANDERING, risk_free_rate, 8760)
    downside = math.sqrt((np.minimum(excess, 0) ** 2).sum() / len(excess))
    expected = excess.mean() / downside * math.sqrt(8760)
    result = sortino(WANDERING, risk_free_rate=risk_free_rate)
    assert float(result) == pytest.approx(expected, abs=0.00005)


@pytest.mark.parametrize("points", [[], curve("100"), curve("100", "110")],
                         ids=["empty", "one point", "one return"])
def test_ratios_need_two_returns(points):
    assert sharpe(points) is None
    assert sortino(points) is None


def test_a_flat_curve_has_no_ratios():
    flat = curve("100", "100", "100", "100")
    assert sharpe(flat) is None
    assert sortino(flat) is None


def test_constant_growth_has_no_ratios():
    steady = curve("100", "110", "121", "133.1")
    assert sharpe(steady) is None
    assert sortino(steady) is None


def test_a_curve_that_never_falls_has_a_sharpe_but_no_sortino():
    rising = curve("100", "110", "115", "130")
    assert sharpe(rising) > 0
    assert sortino(rising) is None


# Drawdown


def test_max_drawdown_by_hand():
    assert max_drawdown(curve("100", "110", "99", "120")) == Drawdown(
        fraction=D("0.1"), amount=D("11"), peak_at=at(1), trough_at=at(2), recovered_at=at(3)
    )


def test_a_drawdown_still_under_water_has_not_recovered():
    drawdown = max_drawdown(curve("100", "110", "99", "105"))
    assert drawdown.recovered_at is None
    assert (drawdown.fraction, drawdown.trough_at) == (D("0.1"), at(2))


def test_recovery_is_reaching_the_peak_again():
    assert max_drawdown(curve("100", "110", "99", "110")).recovered_at == at(3)


def test_max_drawdown_is_the_largest_fraction_not_the_largest_amount():
    # 100 -> 50 loses 50% (50); 1000 -> 600 loses 40% (400).
    drawdown = max_drawdown(curve("100", "50", "1000", "600", "700"))
    assert (drawdown.fraction, drawdown.amount) == (D("0.5"), D("50"))
    assert (drawdown.peak_at, drawdown.trough_at, drawdown.recovered_at) == (at(0), at(1), at(2))


def test_the_peak_is_the_last_touch_of_the_high_before_the_trough():
    drawdown = max_drawdown(curve("110", "105", "110", "88"))
    assert (drawdown.fraction, drawdown.peak_at, drawdown.trough_at) == (D("0.2"), at(2), at(3))


def test_the_drawdown_fraction_is_rounded_to_six_places():
    assert max_drawdown(curve("3", "2")).fraction == D("0.333333")


@pytest.mark.parametrize("points", [[], curve("100"), curve("100", "100"), curve("1", "2", "3")],
                         ids=["empty", "one point", "flat", "rising"])
def test_no_drawdown_without_a_fall(points):
    assert max_drawdown(points) is None


def test_drawdown_series():
    assert drawdown_series(curve("100", "110", "99", "104.5", "120")) == [
        DrawdownPoint(at(0), D("0"), D("0")),
        DrawdownPoint(at(1), D("0"), D("0")),
        DrawdownPoint(at(2), D("0.1"), D("11")),
        DrawdownPoint(at(3), D("0.05"), D("5.5")),
        DrawdownPoint(at(4), D("0"), D("0")),
    ]
    assert drawdown_series([]) == []


def test_drawdown_as_dict_is_json_friendly():
    assert max_drawdown(curve("100", "110", "99")).as_dict() == {
        "fraction": "0.100000",
        "amount": "11",
        "peak_at": "2024-01-02T00:00:00+00:00",
        "trough_at": "2024-01-03T00:00:00+00:00",
        "recovered_at": None,
    }


# Trades


def test_trade_stats_by_hand():
    stats = trade_stats(trades("10", "-5", "20", "-5"))
    assert stats.as_dict() == {
        "count": 4,
        "wins": 2,
        "losses": 2,
        "win_rate": "0.500000",
        "profit_factor": "3.0000",  # 30 / 10
        "average_win": "15.00000000",
        "average_loss": "-5.00000000",
        "expectancy": "5.00000000",  # 20 / 4
        "largest_win": "20",
        "largest_loss": "-5",
        "total_pnl": "20",
        "total_fees": "4",
    }


def test_all_winning_trades_have_no_profit_factor():
    stats = trade_stats(trades("1.5", "2.5"))
    assert (stats.win_rate, stats.profit_factor) == (D("1"), None)
    assert (stats.average_loss, stats.largest_loss) == (None, None)


def test_all_losing_trades_have_a_profit_factor_of_zero():
    stats = trade_stats(trades("-1", "-3"))
    assert (stats.win_rate, stats.profit_factor, stats.average_win) == (D("0"), D("0"), None)
    assert (stats.average_loss, stats.largest_loss) == (D("-2"), D("-3"))


def test_a_break_even_trade_counts_but_neither_wins_nor_loses():
    stats = trade_stats(trades("4", "0", "-2"))
    assert (stats.count, stats.wins, stats.losses) == (3, 1, 1)
    assert stats.win_rate == D("0.333333")
    assert stats.expectancy == D("0.66666667")


def test_no_trades():
    stats = trade_stats([])
    assert (stats.count, stats.wins, stats.losses, stats.total_pnl, stats.total_fees) == (
        0, 0, 0, D("0"), D("0"))
    assert [stats.win_rate, stats.profit_factor, stats.average_win, stats.average_loss,
            stats.expectancy, stats.largest_win, stats.largest_loss] == [None] * 7


# Exposure


def test_exposure_by_asset_largest_first_shorts_by_size():
    positions = {
        "ETH": (D("2"), D("3000")),
        "BTC": (D("0.5"), D("60000")),
        "SOL": (D("-100"), D("150")),
    }
    assert exposure_by_asset(positions, equity=D("50000")) == [
        Exposure("BTC", D("0.5"), D("60000"), D("30000"), D("0.6")),
        Exposure("SOL", D("-100"), D("150"), D("-15000"), D("-0.3")),
        Exposure("ETH", D("2"), D("3000"), D("6000"), D("0.12")),
    ]


def test_exposure_value_is_rounded_to_eight_places():
    [exposure] = exposure_by_asset({"XRP": (D("0.123456789"), D("0.5"))}, equity=D("1"))
    assert exposure.as_dict()["value"] == "0.06172839"


def test_exposure_without_positive_equity_has_no_fraction():
    [exposure] = exposure_by_asset({"BTC": (D("1"), D("100"))}, equity=D("0"))
    assert (exposure.value, exposure.fraction) == (D("100"), None)
    assert exposure_by_asset({}, equity=D("100")) == []


# Summary


def test_summary_by_hand():
    result = summary(curve("100", "110", "99", "120"), trades("10", "-5", "20", "-5"))
    # Returns +10%, -10%, +21/99, daily: numpy gives Sharpe 8.54383 and Sortino 23.39752.
    assert result == {
        "start_at": "2024-01-01T00:00:00+00:00",
        "end_at": "2024-01-04T00:00:00+00:00",
        "starting_equity": "100",
        "value": "120",
        "pnl": "20",
        "pnl_pct": "20.0000",
        "periods_per_year": 365.0,
        "sharpe": "8.5438",
        "sortino": "23.3975",
        "max_drawdown": "0.100000",
        "max_drawdown_amount": "11",
        "trade_count": 4,
        "win_rate": "0.500000",
        "profit_factor": "3.0000",
        "expectancy": "5.00000000",
        "realised_pnl": "20",
        "total_fees": "4",
    }
    assert json.loads(json.dumps(result)) == result


def test_summary_measures_pnl_from_the_given_starting_equity():
    result = summary(curve("110", "120"), [], starting_equity=D("80"))
    assert (result["starting_equity"], result["pnl"], result["pnl_pct"]) == ("80", "40", "50.0000")
    assert (result["max_drawdown"], result["sharpe"], result["trade_count"]) == ("0", None, 0)


def test_summary_refuses_a_float_starting_equity():
    with pytest.raises(TypeError, match="starting_equity must be a Decimal"):
        summary(curve("100"), [], starting_equity=100.0)


def test_summary_of_nothing():
    result = summary([], [])
    assert result["value"] is None
    assert result["pnl"] is None
    assert result["max_drawdown"] is None
    assert result["trade_count"] == 0
    assert result["total_fees"] == "0"
    assert json.loads(json.dumps(result)) == result


def test_summary_of_a_single_point():
    result = summary(curve("100"), [])
    assert (result["value"], result["pnl"], result["pnl_pct"]) == ("100", "0", "0.0000")
    assert (result["sharpe"], result["sortino"], result["max_drawdown"]) == (None, None, "0")
