"""Backtest metrics: pure, no database; small curves and trade lists worked out by hand."""

import math
from datetime import timedelta
from decimal import Decimal as D

import numpy as np
import pandas as pd
import pytest

from backtests.engine.metrics import compute, drawdown_pct, monthly_returns, periods_per_year
from backtests.engine.results import Curve, Trade
from portfolios.analytics import EquityPoint, sharpe, sortino

T0 = pd.Timestamp("2024-01-01", tz="UTC")
DAY = pd.Timedelta(days=1)
HOUR = pd.Timedelta(hours=1)


def curve(*equity, step=DAY, times=None, close=None, in_market=None):
    """A curve of the given equities; prices follow the equity unless given."""
    times = pd.DatetimeIndex(times) if times else pd.date_range(T0, periods=len(equity),
                                                                  freq=step)
    return Curve(
        times=times,
        equity=np.array(equity, dtype=np.float64),
        close=np.array(close if close else equity, dtype=np.float64),
        in_market=np.array(in_market if in_market else [False] * len(equity), dtype=bool),
    )


def trade(pnl, *, return_pct=None, hours=1, reason="signal", bar=0):
    entry = (T0 + bar * DAY).to_pydatetime()
    return Trade(entry_bar=bar, entry_time=entry, entry_price=100.0, quantity=1.0,
                 entry_fee=0.0, signal_bar=bar - 1, exit_bar=bar + 1,
                 exit_time=entry + timedelta(hours=hours), exit_price=100.0 + pnl,
                 exit_reason=reason, pnl=pnl,
                 return_pct=pnl if return_pct is None else return_pct, cost=100.0)


def figures(the_curve, trades=(), *, starting_cash=100.0, per_year=365.0):
    return compute(the_curve, trades, starting_cash=starting_cash, fees_paid=1.5,
                   periods_per_year=per_year)


# The curve


def test_a_flat_curve_has_no_sharpe():
    flat = figures(curve(100, 100, 100, 100))
    assert flat["sharpe"] is None
    assert flat["sortino"] is None
    assert flat["volatility_pct"] == 0.0
    assert flat["max_drawdown_pct"] == 0.0
    assert flat["max_drawdown_duration_days"] == 0.0
    assert flat["total_return_pct"] == 0.0
    assert flat["calmar"] is None  # no drawdown to divide by


def test_the_span_is_from_the_first_close_to_the_last():
    result = figures(curve(100, 101, 102, step=HOUR))
    assert result["start"] == "2024-01-01T00:00:00+00:00"
    assert result["end"] == "2024-01-01T02:00:00+00:00"
    assert result["duration_days"] == pytest.approx(2 / 24)
    assert result["starting_cash"] == 100.0
    assert result["fees_paid"] == 1.5


def test_a_drawdown_that_recovers_has_its_depth_and_duration():
    # The peak of 120 on day 1 falls to 90 (25% down) and is reached again on day 4.
    result = figures(curve(100, 120, 90, 100, 120, 130))
    assert result["max_drawdown_pct"] == 25.0
    assert result["max_drawdown_duration_days"] == 3.0
    assert result["equity_peak"] == 130.0
    assert result["final_equity"] == 130.0


def test_the_drawdown_series_is_the_percent_below_the_running_peak():
    series = drawdown_pct(np.array([100.0, 120, 90, 100, 120, 130]))
    assert series.tolist() == pytest.approx([0, 0, 25, 100 / 6, 0, 0])


def test_a_drawdown_never_recovered_lasts_until_the_end():
    # Day 0 -> 2: a 10% dip, recovered after 2 days. Day 3 -> 6: a 9.09% dip, never
    # recovered: 3 days at the end. The deepest and the longest are different drawdowns.
    result = figures(curve(100, 90, 100, 110, 105, 104, 100))
    assert result["max_drawdown_pct"] == pytest.approx(10.0)
    assert result["max_drawdown_duration_days"] == 3.0


def test_cagr_compounds_over_a_two_year_curve():
    # 2022 and 2023 have 365 days each: 730 days, two years. 1.21 ** (1/2) = 1.1.
    times = ["2022-01-01T00:00Z", "2023-01-01T00:00Z", "2024-01-01T00:00Z"]
    result = figures(curve(100, 90, 121, times=times))
    assert result["duration_days"] == 730.0
    assert result["total_return_pct"] == pytest.approx(21.0)
    assert result["cagr_pct"] == pytest.approx(10.0)
    assert result["calmar"] == pytest.approx(1.0)  # 10% a year over a 10% drawdown


def test_a_gain_too_steep_to_compound_for_a_year_has_no_cagr():
    # Tenfold in an hour is 10 ** 8760 a year: no float holds it.
    result = figures(curve(100, 1000, step=HOUR))
    assert result["cagr_pct"] is None
    assert result["calmar"] is None


def test_a_single_candle_has_no_rates():
    result = figures(curve(100))
    assert result["duration_days"] == 0.0
    assert result["cagr_pct"] is None
    assert result["volatility_pct"] is None
    assert result["sharpe"] is None


def test_an_empty_curve_is_refused():
    with pytest.raises(ValueError, match="the curve is empty"):
        figures(curve())


def test_buy_and_hold_runs_from_the_first_close_to_the_last():
    result = figures(curve(100, 100, 100, close=[200, 180, 250]))
    assert result["buy_hold_return_pct"] == 25.0


def test_exposure_is_the_share_of_candles_with_a_position():
    result = figures(curve(100, 101, 102, 103, in_market=[False, True, True, False]))
    assert result["exposure_pct"] == 50.0


def test_volatility_sharpe_and_sortino_by_hand():
    # Returns +10%, -5%, +10%, -5%: mean 0.025, sample std sqrt(0.0075); downside deviation
    # sqrt((0.05² + 0.05²) / 4). Per period Sharpe sqrt(1/12), Sortino sqrt(1/2).
    result = figures(curve(100, 110, 104.5, 114.95, 109.2025), per_year=12)
    assert result["volatility_pct"] == pytest.approx(math.sqrt(0.0075) * math.sqrt(12) * 100)
    assert result["sharpe"] == pytest.approx(1.0)
    assert result["sortino"] == pytest.approx(math.sqrt(12 / 2))


def test_sharpe_and_sortino_agree_with_portfolio_analytics():
    equities = ["1000", "1012.5", "1003.1", "990", "1021.75", "1018", "1030.2", "1001.9"]
    hourly = curve(*map(float, equities), step=HOUR)
    points = [EquityPoint(t.to_pydatetime(), D(e)) for t, e in zip(hourly.times, equities,
                                                                   strict=True)]
    result = figures(hourly, starting_cash=1000, per_year=8760)
    assert D(result["sharpe"]).quantize(D("0.0001")) == sharpe(points, periods_per_year=8760)
    assert D(result["sortino"]).quantize(D("0.0001")) == sortino(points, periods_per_year=8760)


# Trades


def test_win_and_loss_streaks_and_the_averages():
    # A break-even trade ends both streaks. Wins 5, 3, 7, 2, 1, 6 (24); losses -2, -1, -4,
    # -3 (-10).
    pnls = [5, 3, -2, -1, -4, 0, 7, 2, 1, 6, -3]
    result = figures(curve(100, 114), [trade(p, bar=i) for i, p in enumerate(pnls)])
    assert result["trade_count"] == 11
    assert result["max_consecutive_wins"] == 4
    assert result["max_consecutive_losses"] == 3
    assert result["win_rate_pct"] == pytest.approx(6 / 11 * 100)
    assert result["profit_factor"] == 2.4
    assert result["avg_win"] == 4.0
    assert result["avg_loss"] == -2.5
    assert result["expectancy"] == pytest.approx(14 / 11)
    assert result["best_trade_pct"] == 7.0
    assert result["worst_trade_pct"] == -4.0


def test_profit_factor_with_no_losses_is_none():
    result = figures(curve(100, 105), [trade(2), trade(3)])
    assert result["profit_factor"] is None
    assert result["avg_loss"] is None
    assert result["win_rate_pct"] == 100.0
    assert result["max_consecutive_losses"] == 0


def test_no_trades_means_no_trade_figures():
    result = figures(curve(100, 100))
    assert result["trade_count"] == 0
    for name in ("win_rate_pct", "profit_factor", "expectancy", "expectancy_pct", "avg_win",
                 "avg_loss", "best_trade_pct", "worst_trade_pct", "avg_trade_duration_hours",
                 "max_trade_duration_hours", "sqn"):
        assert result[name] is None, name
    assert result["max_consecutive_wins"] == result["max_consecutive_losses"] == 0


def test_a_trade_open_at_the_end_counts_in_equity_but_not_in_trade_statistics():
    closed = trade(10, return_pct=10, hours=2)
    still_open = trade(-50, return_pct=-45, hours=30, reason="open_at_end", bar=1)
    # The open trade is marked to market in the curve: 100 + 10 - 50.
    result = figures(curve(100, 110, 60), [closed, still_open])
    assert result["trade_count"] == 1
    assert result["expectancy"] == 10.0
    assert result["worst_trade_pct"] == 10.0
    assert result["max_trade_duration_hours"] == 2.0
    assert result["max_consecutive_losses"] == 0
    assert result["final_equity"] == 60.0
    assert result["total_return_pct"] == -40.0


def test_trade_durations_expectancy_pct_and_sqn():
    # pnl 1, 2, 3: mean 2, sample std 1, so SQN = sqrt(3) * 2.
    trades = [trade(1, return_pct=0.5, hours=1), trade(2, return_pct=1.0, hours=2),
              trade(3, return_pct=3.0, hours=6)]
    result = figures(curve(100, 106), trades)
    assert result["avg_trade_duration_hours"] == 3.0
    assert result["max_trade_duration_hours"] == 6.0
    assert result["expectancy_pct"] == 1.5
    assert result["sqn"] == pytest.approx(2 * math.sqrt(3))


# Monthly returns


def test_the_monthly_table_compounds_across_a_year_boundary():
    # February has no candles: March compounds from January's last equity.
    times = ["2023-12-15T00:00Z", "2023-12-31T12:00Z", "2024-01-20T00:00Z", "2024-03-05T00:00Z"]
    table = monthly_returns(curve(105, 110, 99, 108.9, times=times), starting_cash=100)
    assert table == [
        {"year": 2023, "month": 12, "return_pct": pytest.approx(10.0)},
        {"year": 2024, "month": 1, "return_pct": pytest.approx(-10.0)},
        {"year": 2024, "month": 3, "return_pct": pytest.approx(10.0)},
    ]


def test_a_candle_closing_at_midnight_on_the_first_counts_in_the_month_before():
    # Daily candles close at 00:00: the close on February 1st ends January's last candle.
    times = ["2024-01-31T00:00Z", "2024-02-01T00:00Z", "2024-02-02T00:00Z"]
    table = monthly_returns(curve(100, 120, 90, times=times), starting_cash=100)
    assert [(row["month"], row["return_pct"]) for row in table] == [
        (1, pytest.approx(20.0)), (2, pytest.approx(-25.0))]


# Periods per year


@pytest.mark.parametrize(("interval", "expected"), [
    ("1m", 525_600), ("15m", 35_040), ("1h", 8_760), ("4h", 2_190), ("1d", 365),
    ("3d", 365 / 3), ("1w", 365 / 7), ("1M", 12),
])
def test_periods_per_year_count_candles_in_a_365_day_year(interval, expected):
    assert periods_per_year(interval) == pytest.approx(expected)


@pytest.mark.parametrize("interval", ["", "1", "h", "0m", "1H", "1y", " 1m"])
def test_periods_per_year_refuse_what_is_not_an_interval(interval):
    with pytest.raises(ValueError, match="not a Binance interval"):
        periods_per_year(interval)
