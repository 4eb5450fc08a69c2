"""Protections: lock / no-lock at the boundaries, expiry, symbol vs portfolio scope."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from risk.protections import (
    ClosedTrade,
    CooldownPeriod,
    Lock,
    LowProfitPairs,
    MaxDrawdown,
    StoplossGuard,
    active_locks,
    is_locked,
)

D = Decimal
NOW = datetime(2024, 5, 1, 14, 0, tzinfo=UTC)


def ago(minutes):
    return NOW - timedelta(minutes=minutes)


def trade(symbol, minutes_ago, reason="stop_loss", profit="-1"):
    return ClosedTrade(symbol, ago(minutes_ago), D(profit), reason)


def stops(symbol, *minutes_ago, reason="stop_loss"):
    return [trade(symbol, m, reason) for m in minutes_ago]


GUARD = StoplossGuard(trade_limit=3, lookback=timedelta(minutes=60),
                      stop_duration=timedelta(minutes=30))
PER_SYMBOL = StoplossGuard(trade_limit=3, lookback=timedelta(minutes=60),
                           stop_duration=timedelta(minutes=30), only_per_symbol=True)


# StoplossGuard

def test_stoploss_guard_locks_a_symbol_at_exactly_the_limit():
    [lock] = PER_SYMBOL.locks(stops("BTCUSDT", 50, 20, 0), now=NOW)
    assert lock == Lock(
        "symbol", "BTCUSDT", ago(-30),
        "3 stop-losses on BTCUSDT in the 60 min up to 14:00 UTC (limit 3): "
        "locked until 14:30 UTC", "StoplossGuard")


def test_stoploss_guard_locks_the_portfolio_across_symbols():
    trades = stops("BTCUSDT", 50, 5) + stops("ETHUSDT", 10)
    [lock] = GUARD.locks(trades, now=NOW)
    assert (lock.scope, lock.symbol, lock.until) == ("portfolio", None, ago(-25))
    assert lock.reason == (
        "3 stop-losses across all symbols in the 60 min up to 13:55 UTC (limit 3): "
        "every symbol locked until 14:25 UTC")
    assert PER_SYMBOL.locks(trades, now=NOW) == []


@pytest.mark.parametrize(("trades", "locked"), [
    pytest.param(stops("BTCUSDT", 20, 0), False, id="one-below-the-limit"),
    pytest.param(stops("BTCUSDT", 60, 20, 0), False, id="first-exactly-one-lookback-before"),
    pytest.param(stops("BTCUSDT", 59, 20, 0), True, id="first-just-inside-the-lookback"),
    pytest.param(stops("BTCUSDT", 20, 10) + stops("BTCUSDT", 0, reason="trailing_stop"), True,
                 id="trailing-stops-count"),
    pytest.param(stops("BTCUSDT", 20, 10) + [trade("BTCUSDT", 0, "take_profit")], False,
                 id="other-exits-do-not-count"),
    pytest.param(stops("BTCUSDT", 20, 10) + [trade("BTCUSDT", 0, "exit")], False,
                 id="signal-exits-do-not-count"),
    pytest.param(stops("BTCUSDT", 20, 10, -1), False, id="a-trade-after-now-is-ignored"),
])
def test_stoploss_guard_boundaries(trades, locked):
    assert bool(GUARD.locks(trades, now=NOW)) is locked
    assert bool(PER_SYMBOL.locks(trades, now=NOW)) is locked


@pytest.mark.parametrize(("last_stop", "locked"), [
    pytest.param(29, True, id="one-minute-left"),
    pytest.param(30, False, id="expired-exactly-at-stop-duration"),
    pytest.param(40, False, id="long-expired"),
])
def test_stoploss_guard_lock_expires(last_stop, locked):
    trades = stops("BTCUSDT", last_stop + 20, last_stop + 10, last_stop)
    assert bool(GUARD.locks(trades, now=NOW)) is locked


def test_stoploss_guard_lock_outlasts_its_lookback():
    guard = StoplossGuard(trade_limit=3, lookback=timedelta(minutes=10),
                          stop_duration=timedelta(minutes=60))
    [lock] = guard.locks(stops("BTCUSDT", 45, 40, 38), now=NOW)
    assert lock.until == ago(-22)
    assert "in the 10 min up to 13:22 UTC" in lock.reason


def test_stoploss_guard_per_symbol_locks_only_the_symbol_that_hit_the_limit():
    trades = stops("BTCUSDT", 30, 20, 10) + stops("ETHUSDT", 30, 20)
    locks = PER_SYMBOL.locks(trades, now=NOW)
    assert [(lock.scope, lock.symbol) for lock in locks] == [("symbol", "BTCUSDT")]
    assert is_locked(locks, "BTCUSDT", NOW) == locks[0]
    assert is_locked(locks, "ETHUSDT", NOW) is None
    [portfolio] = GUARD.locks(trades, now=NOW)
    assert is_locked([portfolio], "ETHUSDT", NOW) == portfolio
    assert is_locked([portfolio], "SOLUSDT", NOW) == portfolio


# CooldownPeriod

COOLDOWN = CooldownPeriod(stop_duration=timedelta(minutes=30))


def test_cooldown_locks_the_symbol_after_any_exit():
    [lock] = COOLDOWN.locks([trade("BTCUSDT", 10, "take_profit", "3")], now=NOW)
    assert lock == Lock(
        "symbol", "BTCUSDT", ago(-20),
        "BTCUSDT closed a trade at 13:50 UTC (take_profit); cooldown 30 min: "
        "locked until 14:20 UTC", "CooldownPeriod")


@pytest.mark.parametrize(("minutes_ago", "locked"), [
    pytest.param(0, True, id="just-closed"),
    pytest.param(29, True, id="one-minute-left"),
    pytest.param(30, False, id="expired-exactly-at-the-duration"),
    pytest.param(-1, False, id="closes-after-now"),
])
def test_cooldown_boundaries(minutes_ago, locked):
    assert bool(COOLDOWN.locks([trade("BTCUSDT", minutes_ago, "exit")], now=NOW)) is locked


def test_cooldown_runs_from_each_symbols_latest_close():
    trades = [trade("BTCUSDT", 5, "exit"), trade("BTCUSDT", 50, "exit"),
              trade("ETHUSDT", 40, "exit")]
    locks = COOLDOWN.locks(trades, now=NOW)
    assert [(lock.symbol, lock.until) for lock in locks] == [("BTCUSDT", ago(-25))]


# LowProfitPairs

LOW_PROFIT = LowProfitPairs(lookback=timedelta(hours=6), trade_limit=2,
                            required_profit_pct=D(0), stop_duration=timedelta(minutes=60))


def test_low_profit_locks_a_losing_symbol():
    trades = [trade("BTCUSDT", 200, "exit", "-2"), trade("BTCUSDT", 10, "exit", "1"),
              trade("ETHUSDT", 200, "exit", "-2"), trade("ETHUSDT", 10, "exit", "3")]
    [lock] = LOW_PROFIT.locks(trades, now=NOW)
    assert lock == Lock(
        "symbol", "BTCUSDT", ago(-50),
        "BTCUSDT made -1% over 2 trades in the 6 h up to 13:50 UTC (required 0% over at "
        "least 2 trades): locked until 14:50 UTC", "LowProfitPairs")


@pytest.mark.parametrize(("profits", "minutes_ago", "locked"), [
    pytest.param(["-2", "1"], [200, 10], True, id="below-required"),
    pytest.param(["-2", "2"], [200, 10], False, id="exactly-the-required-profit"),
    pytest.param(["-2"], [10], False, id="fewer-trades-than-the-limit"),
    pytest.param(["-2", "1"], [370, 10], False, id="first-exactly-one-lookback-before"),
    pytest.param(["-2", "1"], [369, 10], True, id="first-just-inside-the-lookback"),
    pytest.param(["-2", "1"], [200, 60], False, id="expired-exactly-at-stop-duration"),
    pytest.param(["-2", "1"], [200, 59], True, id="one-minute-left"),
])
def test_low_profit_boundaries(profits, minutes_ago, locked):
    trades = [trade("BTCUSDT", m, "exit", p) for p, m in zip(profits, minutes_ago, strict=True)]
    assert bool(LOW_PROFIT.locks(trades, now=NOW)) is locked


# MaxDrawdown

DRAWDOWN = MaxDrawdown(lookback=timedelta(hours=6), max_drawdown_pct=D(10),
                       stop_duration=timedelta(minutes=60))


def curve(*points):
    return [(ago(minutes), D(equity)) for minutes, equity in points]


def test_max_drawdown_locks_the_portfolio():
    equity = curve((300, 10000), (180, 11000), (10, 9800))
    [lock] = DRAWDOWN.locks([], now=NOW, equity_curve=equity)
    assert lock == Lock(
        "portfolio", None, ago(-50),
        "equity fell 10.91% (from 11000 to 9800) in the 6 h up to 13:50 UTC (max 10%): "
        "every symbol locked until 14:50 UTC", "MaxDrawdown")
    assert is_locked([lock], "ANYUSDT", NOW) == lock


@pytest.mark.parametrize(("points", "locked"), [
    pytest.param([(180, 10000), (10, 9000)], False, id="exactly-the-max"),
    pytest.param([(180, 10000), (10, "8999.99")], True, id="just-beyond"),
    pytest.param([(370, 10000), (10, 8000)], False, id="peak-exactly-one-lookback-before"),
    pytest.param([(369, 10000), (10, 8000)], True, id="peak-just-inside-the-lookback"),
    pytest.param([(180, 10000), (60, 8000)], False, id="expired-exactly-at-stop-duration"),
    pytest.param([(180, 10000), (59, 8000)], True, id="one-minute-left"),
    pytest.param([(180, 10000), (59, 8000), (10, 10000)], True,
                 id="recovery-inside-the-lookback-keeps-the-drawdown"),
    pytest.param([(180, 8000), (10, 12000)], False, id="rising"),
    pytest.param([], False, id="no-curve"),
])
def test_max_drawdown_boundaries(points, locked):
    assert bool(DRAWDOWN.locks([], now=NOW, equity_curve=curve(*points))) is locked


def test_max_drawdown_lock_runs_from_the_last_point_that_shows_it():
    equity = curve((180, 10000), (59, 8000), (10, 10000))
    [lock] = DRAWDOWN.locks([], now=NOW, equity_curve=equity)
    assert lock.until == ago(-50)


# Combined

def test_active_locks_and_is_locked():
    protections = [PER_SYMBOL, COOLDOWN, LOW_PROFIT, DRAWDOWN]
    trades = stops("BTCUSDT", 30, 20, 5) + [trade("ETHUSDT", 15, "take_profit", "4")]
    locks = active_locks(protections, trades, now=NOW)
    assert [(lock.protection, lock.symbol, lock.until) for lock in locks] == [
        ("StoplossGuard", "BTCUSDT", ago(-25)),
        ("CooldownPeriod", "BTCUSDT", ago(-25)),
        ("CooldownPeriod", "ETHUSDT", ago(-15)),
        ("LowProfitPairs", "BTCUSDT", ago(-55)),
    ]
    assert is_locked(locks, "BTCUSDT", NOW).protection == "LowProfitPairs"  # lasts longest
    assert is_locked(locks, "ETHUSDT", NOW).protection == "CooldownPeriod"
    assert is_locked(locks, "SOLUSDT", NOW) is None
    later = ago(-15)
    assert is_locked(locks, "ETHUSDT", later) is None  # expired exactly at its end
    assert is_locked(locks, "BTCUSDT", later).protection == "LowProfitPairs"
    assert active_locks(protections, trades, now=ago(-55)) == []


def test_active_locks_include_the_portfolio_drawdown():
    equity = curve((120, 10000), (5, 8500))
    locks = active_locks([DRAWDOWN, COOLDOWN], [], now=NOW, equity_curve=equity)
    assert [lock.scope for lock in locks] == ["portfolio"]
    assert is_locked(locks, "SOLUSDT", NOW).protection == "MaxDrawdown"


def test_low_profit_message_for_a_single_trade():
    single = LowProfitPairs(lookback=timedelta(hours=6), trade_limit=1,
                            required_profit_pct=D("0.5"), stop_duration=timedelta(minutes=90))
    [lock] = single.locks([trade("BTCUSDT", 0, "exit", "0.25")], now=NOW)
    assert lock.reason == (
        "BTCUSDT made 0.25% over 1 trade in the 6 h up to 14:00 UTC (required 0.5% over at "
        "least 1 trade): locked until 15:30 UTC")


def test_messages_carry_the_date_when_the_lock_ends_another_day():
    guard = StoplossGuard(trade_limit=1, lookback=timedelta(hours=1),
                          stop_duration=timedelta(days=1))
    [lock] = guard.locks(stops("BTCUSDT", 0), now=NOW)
    assert lock.reason == (
        "1 stop-loss across all symbols in the 60 min up to 14:00 UTC (limit 1): "
        "every symbol locked until 2024-05-02 14:00 UTC")
