"""Every risk limit and every protection in a backtest, as in the live path
(tests/risk/test_pretrade.py, test_live_protections.py): the same ``risk.rules.check`` and
``risk.protections`` decide each entry, approved, reduced to the largest size that fits, or
rejected with the rule and the numbers in words."""

from datetime import timedelta
from decimal import Decimal as D

import pytest

from backtests.engine import BacktestConfig, SymbolFilters, run_backtest
from risk.protections import CooldownPeriod, LowProfitPairs, MaxDrawdown, StoplossGuard
from risk.rules import Limits
from tests.backtests.scripted import ENTER, EXIT, Scripted, candles, flat

SECOND = timedelta(seconds=1)

# Candles before the entry under test (always the last ENTER), by set-up name.
SET_UPS = {
    # Nothing happened yet.
    "": [],
    # One losing round trip: bought 1 at 100, sold at 90 (equity 1000 -> 990).
    "lost 10": [flat(100, ENTER), flat(100, EXIT), flat(90)],
    # 1 bought at 100 is worth 200 (equity peaks at 1100) and sold there; then 0.5 bought
    # at 200 is sold at 100 (equity 1050).
    "peak 1100": [flat(100, ENTER), flat(100), flat(200, EXIT), flat(200, ENTER), flat(200),
                  flat(100, EXIT), flat(100)],
}


def story(set_up: str):
    return candles(*SET_UPS[set_up], flat(100, ENTER), flat(100), flat(100), step=SECOND)


def backtest(frame, limits=None, protections=(), strategy=None):
    config = BacktestConfig(cash=D(1000), maker_fee=D(0), taker_fee=D(0), interval="1s",
                            filters=SymbolFilters(step_size=D("0.001")),
                            sizing="fixed_quote", sizing_config={"amount": "100"},
                            limits=Limits(**limits) if limits else None,
                            protections=protections)
    return run_backtest(strategy or Scripted(), frame, config)


# (limits, set-up, what happens to the last entry, the cost it trades at, words)
LIMIT_CASES = [
    ({"max_order_notional": D(50)}, "", "reduce", 50,
     "risk: max order notional is 50 USDT, so this buy was reduced from 100 to 50"),
    ({"max_order_notional": D(500)}, "", "approve", 100, ""),
    ({"max_position_notional": D(60)}, "", "reduce", 60,
     "max position notional for BTCUSDT is 60 USDT; 0 is held, so this buy was reduced from "
     "100 to 60"),
    ({"max_open_positions": 1}, "", "approve", 100, ""),
    ({"max_open_positions": 0}, "", "reject", None,
     "max open positions is 0; 0 are open (none) and BTCUSDT is not one of them"),
    ({"max_total_exposure": D(80)}, "", "reduce", 80,
     "max total exposure is 80 USDT; 0 is open across all symbols"),
    ({"max_leverage": D(1)}, "", "approve", 100, ""),
    ({"max_orders_per_minute": 2}, "lost 10", "reject", None,
     "max orders per minute is 2; 2 were sent in the last minute"),
    ({"max_orders_per_minute": 3}, "lost 10", "approve", 100, ""),
    ({"max_daily_loss": D(5)}, "lost 10", "reject", None,
     "max daily loss is 5 USDT; 10 has been lost today (1000 at the day's start, 990 now)"),
    ({"max_daily_loss": D(20)}, "lost 10", "approve", 100, ""),
    ({"max_daily_loss_pct": D("0.5")}, "lost 10", "reject", None,
     "max daily loss is 0.5% of the day's starting equity (5 of 1000 USDT); 1% (10) has been "
     "lost today"),
    ({"max_drawdown_pct": D(4)}, "peak 1100", "reject", None,
     "max drawdown is 4% from the equity peak of 1100 USDT; equity is 1050, 4.55% below it"),
    ({"max_drawdown_pct": D(5)}, "peak 1100", "approve", 100, ""),
    ({"max_correlated_exposure": D(70)}, "", "reduce", 70,
     "max correlated exposure is 70 USDT; 0 is held in BTCUSDT (no held symbol correlates"),
    ({"min_free_balance": D(950)}, "", "reduce", 50,
     "min free balance is 950 USDT; 1000 is free, so this buy was reduced from 100 to 50"),
    ({"min_free_balance": D(1000)}, "", "reject", None,
     "min free balance is 1000 USDT; 1000 is free, so this buy of 100 was rejected"),
]


@pytest.mark.parametrize(("limits", "set_up", "action", "cost", "words"), LIMIT_CASES)
def test_each_limit_approves_reduces_or_rejects_an_entry_in_a_backtest(
        limits, set_up, action, cost, words):
    frame = story(set_up)
    entry_bar = len(SET_UPS[set_up])

    result = backtest(frame, limits)

    refusals = [why for bar, why in result.refusals if bar == entry_bar]
    trade = next((t for t in result.trades if t.signal_bar == entry_bar), None)
    if action == "approve":
        assert refusals == []
        assert trade.cost == pytest.approx(cost)
        return
    [why] = refusals
    assert why.startswith("risk: ")
    assert words in why
    if action == "reject":
        assert trade is None
    else:
        assert trade.cost == pytest.approx(cost)


def test_exits_are_never_held_back_by_entry_limits():
    frame = candles(flat(100, ENTER), flat(100), flat(50, EXIT), flat(50), step=SECOND)

    result = backtest(frame, {"max_daily_loss": D(1), "max_drawdown_pct": D(1),
                              "max_orders_per_minute": 1})

    [trade] = result.trades
    assert trade.exit_reason == "signal"


# Protections. A stop-loss exit: the 5 % stop (95) on a candle that falls to 90; with 100
# of 1000 in the trade, equity falls 0.5 %.
STOPPED = [flat(100, ENTER), (100, 100, 90, 90), flat(90)]
WON = [flat(100, ENTER), flat(100, EXIT), flat(110)]
LOST = [flat(100, ENTER), flat(100, EXIT), flat(99)]
MINUTE = timedelta(minutes=1)

PROTECTION_CASES = [
    (StoplossGuard(trade_limit=1, lookback=MINUTE, stop_duration=MINUTE), STOPPED, "reject",
     "protection StoplossGuard: 1 stop-loss across all symbols in the 1 min up to 00:00 UTC "
     "(limit 1): every symbol locked until 00:01 UTC"),
    (StoplossGuard(trade_limit=2, lookback=MINUTE, stop_duration=MINUTE), STOPPED, "approve",
     ""),
    (CooldownPeriod(stop_duration=MINUTE), WON, "reject",
     "protection CooldownPeriod: BTCUSDT closed a trade"),
    (CooldownPeriod(stop_duration=SECOND), WON, "approve", ""),
    (LowProfitPairs(trade_limit=1, lookback=MINUTE, stop_duration=MINUTE), LOST, "reject",
     "protection LowProfitPairs: BTCUSDT made -1% over 1 trade"),
    (LowProfitPairs(trade_limit=1, lookback=MINUTE, stop_duration=MINUTE), WON, "approve", ""),
    (MaxDrawdown(max_drawdown_pct=D("0.4"), lookback=MINUTE, stop_duration=MINUTE), STOPPED,
     "reject", "protection MaxDrawdown: equity fell 0.5% (from 1000 to 995)"),
    (MaxDrawdown(max_drawdown_pct=D(1), lookback=MINUTE, stop_duration=MINUTE), STOPPED,
     "approve", ""),
]


@pytest.mark.parametrize(("protection", "before", "action", "words"), PROTECTION_CASES)
def test_each_protection_locks_or_lets_an_entry_through_in_a_backtest(
        protection, before, action, words):
    frame = candles(*before, flat(100, ENTER), flat(100), flat(100), step=SECOND)
    entry_bar = len(before)

    result = backtest(frame, protections=(protection,), strategy=Scripted(stop_loss_pct="5"))

    refusals = [why for bar, why in result.refusals if bar == entry_bar]
    entered = any(t.signal_bar == entry_bar for t in result.trades)
    if action == "approve":
        assert (refusals, entered) == ([], True)
    else:
        [why] = refusals
        assert words in why
        assert not entered
