"""The engine's fill rules on candles written by hand: when and at what price each order
fills, what it costs, what the symbol's filters refuse, and how a run ends."""

from decimal import Decimal as D

import pytest

from backtests.engine import BacktestConfig, SymbolFilters, run_backtest
from backtests.engine.account import Costs
from bots.strategies import get_strategy
from tests.backtests.scripted import ENTER, EXIT, Scripted, candles, flat

NO_FEES = {"maker_fee": D(0), "taker_fee": D(0)}
ONE_UNIT_STEP = SymbolFilters(step_size=D("0.001"))


def run(frame, strategy=None, loop="auto", trade_from=0, **config):
    config.setdefault("cash", D(1000))
    config.setdefault("filters", ONE_UNIT_STEP)
    return run_backtest(strategy or Scripted(), frame, BacktestConfig(**config), loop=loop,
                        trade_from=trade_from)


@pytest.fixture(params=["signals", "bars"])
def loop(request):
    """Every story is told to both loops: they must agree."""
    return request.param


def test_an_entry_fills_at_the_next_open_and_so_does_the_exit(loop):
    frame = candles(flat(100, ENTER), (101, 103, 100, 102), (102, 104, 101, 103, EXIT),
                    flat(105), flat(106))

    result = run(frame, loop=loop, **NO_FEES)

    [trade] = result.trades
    assert (trade.signal_bar, trade.entry_bar, trade.exit_bar) == (0, 1, 3)
    assert (trade.entry_price, trade.exit_price) == (101, 105)
    assert trade.quantity == pytest.approx(9.9)  # 1000 / 101 = 9.90099 rounded down to 0.001
    assert trade.pnl == pytest.approx(9.9 * 4)
    assert trade.exit_reason == "signal"
    assert result.curve.equity[-1] == pytest.approx(1000 + 9.9 * 4)
    assert result.decisions == [(0, "buy", "entry"), (2, "sell", "exit")]


def test_binance_spot_takes_a_buys_fee_from_the_base_asset_bought(loop):
    frame = candles(flat(100, ENTER), flat(100), flat(100, EXIT), flat(100))

    result = run(frame, loop=loop)  # 0.1 % each side, in the asset received

    [trade] = result.trades
    assert trade.quantity == 10  # bought 10.000; 0.010 of it went to the fee
    # 9.990 sold at 100 less 0.1 %: 998.001 back.
    assert result.curve.equity[-1] == pytest.approx(998.001)
    assert trade.fees == pytest.approx(1.0 + 0.999)


def test_fees_in_quote_are_added_to_the_cost_and_taken_from_the_proceeds(loop):
    frame = candles(flat(100, ENTER), flat(100), flat(100, EXIT), flat(100))

    result = run(frame, loop=loop, fee_asset="quote")

    [trade] = result.trades
    assert trade.quantity == pytest.approx(9.99)  # 1000 / 100.1 = 9.99000999 rounded down
    assert trade.cost == pytest.approx(999 + 0.999)
    assert result.curve.equity[-1] == pytest.approx(1000 - 0.999 - 0.999)


def test_slippage_makes_both_fills_worse(loop):
    frame = candles(flat(100, ENTER), flat(100), flat(100, EXIT), flat(100))

    result = run(frame, loop=loop, slippage_bps=D(10), **NO_FEES)

    [trade] = result.trades
    assert trade.entry_price == pytest.approx(100.1)
    assert trade.exit_price == pytest.approx(99.9)


def test_a_stop_loss_fills_inside_the_candle_that_reached_it(loop):
    frame = candles(flat(100, ENTER), (100, 101, 99, 100), (99, 99.5, 94, 95), flat(95))
    strategy = Scripted(stop_loss_pct="5")

    result = run(frame, strategy, loop=loop, **NO_FEES)

    [trade] = result.trades
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (2, "stop_loss", 95)
    assert "low 94 reached the stop loss at 95" in trade.exit_note


def test_a_candle_that_gaps_past_the_stop_fills_at_its_open(loop):
    frame = candles(flat(100, ENTER), flat(100), (90, 91, 88, 89), flat(89))

    result = run(frame, Scripted(stop_loss_pct="5"), loop=loop, **NO_FEES)

    assert result.trades[0].exit_price == 90


def test_when_a_candle_reaches_the_stop_and_the_take_profit_the_stop_comes_first(loop):
    frame = candles(flat(100, ENTER), flat(100), (100, 111, 94, 100), flat(100))
    strategy = Scripted(stop_loss_pct="5", take_profit_pct="10")

    result = run(frame, strategy, loop=loop, **NO_FEES)

    assert result.trades[0].exit_reason == "stop_loss"
    assert any("the stop is taken to have come first" in note for note in result.notes)


def test_a_take_profit_fills_at_its_level_as_a_maker(loop):
    frame = candles(flat(100, ENTER), flat(100), (100, 112, 99, 111), flat(111))

    result = run(frame, Scripted(take_profit_pct="10"), loop=loop, maker_fee=D("0.0002"),
                 taker_fee=D(0))

    [trade] = result.trades
    assert (trade.exit_reason, trade.exit_price) == ("take_profit", 110)
    assert trade.exit_fee == pytest.approx(10 * 110 * 0.0002)


def test_a_trailing_stop_follows_the_highest_price_since_entry(loop):
    # 120 puts the stop at 108: bar 1's low (110) stays above it, bar 2's reaches it.
    frame = candles(flat(100, ENTER), (100, 120, 110, 119), (119, 119, 107, 108), flat(108))

    result = run(frame, Scripted(trailing_stop_pct="10"), loop=loop, **NO_FEES)

    [trade] = result.trades
    assert (trade.exit_bar, trade.exit_reason, trade.exit_price) == (2, "trailing_stop", 108)


def test_an_entry_below_the_minimum_notional_is_refused_in_words(loop):
    frame = candles(flat(100, ENTER), flat(100), flat(100))
    filters = SymbolFilters(step_size=D("0.001"), min_notional=D(2000))

    result = run(frame, loop=loop, filters=filters, **NO_FEES)

    assert result.trades == []
    assert result.refusals == [(0, "not placed: 1000.00 is below the minimum notional 2000")]


def test_a_position_still_open_at_the_end_is_marked_to_market(loop):
    frame = candles(flat(100, ENTER), flat(100), flat(110))

    result = run(frame, loop=loop, **NO_FEES)

    [trade] = result.trades
    assert trade.exit_reason == "open_at_end"
    assert trade.pnl == pytest.approx(100)
    assert result.curve.equity[-1] == pytest.approx(1100)


def test_a_signal_on_the_last_candle_has_no_candle_to_fill_in(loop):
    result = run(candles(flat(100), flat(100, ENTER)), loop=loop)

    assert result.trades == []
    assert result.decisions == [(1, "buy", "entry")]


def test_an_exit_signal_on_the_entry_candle_vetoes_the_entry(loop):
    frame = candles(flat(100, ENTER), flat(100), flat(100))
    frame.loc[0, "volume"] = ENTER
    strategy = Scripted()
    strategy.prepare = lambda c: Scripted.prepare(strategy, c).assign(exit_long=True)

    assert run(frame, strategy, loop=loop).trades == []


def test_a_grid_fills_its_resting_limit_orders_when_candles_cross_them():
    grid = get_strategy("grid")(lower_price="90", upper_price="110", levels=3,
                                order_quantity="1")
    frame = candles(flat(100), (100, 100, 89, 95), (95, 111, 95, 105), flat(105))

    result = run(frame, grid, **NO_FEES)

    # Bar 1: the set-up buy (1 for the sell level at 110) fills at the open, 100, and the buy
    # resting at 90 fills as the low crosses it. Bar 2 crosses 110: one sold there.
    first = result.trades[0]
    assert first.entry_bar == 1
    assert first.quantity == pytest.approx(2)
    assert first.entry_price == pytest.approx(95)  # the average of 100 and 90


def test_dca_runs_in_the_bar_loop_with_its_safety_orders():
    dca = get_strategy("dca")(quote_amount="100", interval_bars=1000, safety_step_pct="5",
                              max_safety_orders=2, take_profit_pct="3")
    frame = candles(flat(100), flat(100), flat(94), flat(94), (94, 100, 94, 99), flat(99))

    result = run(frame, dca, **NO_FEES)

    [trade] = result.trades
    assert trade.entry_bar == 1
    # The first buy and safety order 1 (x1.5 = 150 at 94: 1.595 rounded down to the step).
    assert trade.cost == pytest.approx(100 + 1.595 * 94)
    assert trade.exit_reason == "take_profit"


def test_candles_before_trade_from_only_warm_the_strategy_up(loop):
    frame = candles(flat(100, ENTER), flat(100), flat(100, EXIT), flat(100), flat(100, ENTER),
                    flat(100), flat(110))

    result = run(frame, loop=loop, trade_from=3, **NO_FEES)

    [trade] = result.trades
    assert trade.signal_bar == 4
    assert len(result.curve.equity) == 4  # from the close of candle 3
    assert result.curve.equity[0] == 1000
    assert result.metrics["buy_hold_return_pct"] == pytest.approx(10)


def test_selling_everything_leaves_no_step_behind_to_float_noise():
    # 0.33453878 / 0.00000001 is 33453877.999999996 in floats: it is 33453878 steps.
    costs = Costs.of(BacktestConfig(filters=SymbolFilters(step_size=D("0.00000001"))))

    assert costs.round_down(0.33453878) == pytest.approx(0.33453878, abs=1e-12)
    assert costs.round_down(0.334538789) == pytest.approx(0.33453878, abs=1e-12)


def test_an_exit_below_the_minimum_notional_waits_for_the_next_exit_signal(loop):
    # Bought 1 at 100 (minimum notional 50); the exit at 40 is too small to place, the one
    # at 60 goes through.
    frame = candles(flat(100, ENTER), flat(100), flat(40, EXIT), flat(40), flat(60, EXIT),
                    flat(60))
    filters = SymbolFilters(step_size=D("0.001"), min_notional=D(50))

    result = run(frame, loop=loop, filters=filters, sizing="fixed_quote",
                 sizing_config={"amount": "100"}, **NO_FEES)

    [trade] = result.trades
    assert (trade.exit_bar, trade.exit_price) == (5, 60)
    assert (2, "sell not placed: 40.00 is below the minimum notional 50") in result.refusals
