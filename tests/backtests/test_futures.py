"""USD-M futures in the engine, on candles written by hand: shorts, leverage, isolated-margin
liquidation, funding, and reversals, with the same strategies and the same protective
exits as spot."""

from decimal import Decimal as D

import pandas as pd
import pytest

from backtests.engine import BacktestConfig, SymbolFilters, run_backtest
from backtests.engine.report import as_report
from bots.strategies import Strategy, get_strategy, with_signals
from risk.rules import Limits
from tests.backtests.scripted import ENTER, EXIT, START, Scripted, candles, flat

NO_FEES = {"maker_fee": D(0), "taker_fee": D(0)}
STEP = SymbolFilters(step_size=D("0.001"))
SHORT, COVER = 3, 4


class ScriptedShorts(Scripted):
    """Scripted, with short signals of its own: volume 3 opens a short, 4 closes it."""

    name = "scripted_shorts"

    def prepare(self, candles):
        frame = super().prepare(candles)
        frame["enter_short"] = candles["volume"] == SHORT
        frame["exit_short"] = candles["volume"] == COVER
        return frame


def futures(frame, strategy=None, funding=None, **config):
    config = {"cash": D(1000), "filters": STEP, "market": "futures", "direction": "both",
              "fee_asset": "quote", **config}
    return run_backtest(strategy or ScriptedShorts(), frame, BacktestConfig(**config),
                        funding=funding)


def test_a_short_gains_what_the_price_falls_times_the_leverage():
    frame = candles(flat(100, SHORT), flat(100), (100, 100, 95, 95), (95, 95, 90, 90, COVER),
                    flat(90), flat(90))

    result = futures(frame, leverage=2, **NO_FEES)

    [trade] = result.trades
    assert trade.side == "short"
    assert (trade.entry_bar, trade.exit_bar) == (1, 4)
    assert trade.quantity == 20  # 1000 margin x 2 / 100
    assert trade.cost == 1000  # the margin put up
    assert trade.pnl == pytest.approx(200)  # 20 x (100 - 90)
    assert trade.return_pct == pytest.approx(20)  # on margin, as Binance shows it
    # Marked to market at every close: 1000 - 20 x (close - 100).
    assert list(result.curve.equity) == pytest.approx([1000, 1000, 1100, 1200, 1200, 1200])
    assert result.decisions == [(0, "sell", "short_entry"), (3, "buy", "short_exit")]


def test_fees_are_in_quote_on_the_notional_and_the_margin_plus_fee_fits_the_wallet():
    frame = candles(flat(100, ENTER), flat(100), flat(100, EXIT), flat(100))

    result = futures(frame, leverage=2)  # 0.1 % a side

    [trade] = result.trades
    # Margin 100 / 2 plus a fee of 0.1 per unit: 1000 / 50.1 = 19.960 units, not 20.
    assert trade.quantity == pytest.approx(19.96)
    assert trade.fees == pytest.approx(2 * 19.96 * 100 * 0.001)
    assert result.curve.equity[-1] == pytest.approx(1000 - trade.fees)
    assert result.metrics["fees_paid"] == pytest.approx(trade.fees)


def test_a_strategy_without_short_signals_shorts_on_its_exit_and_covers_on_its_entry():
    frame = candles(flat(100, EXIT), flat(100), flat(90, ENTER), flat(90), flat(90))

    result = futures(frame, strategy=Scripted(), direction="short", **NO_FEES)

    [trade] = result.trades
    assert (trade.side, trade.entry_price, trade.exit_price) == ("short", 100, 90)
    assert any("shorts open on its exit signal" in note for note in result.notes)


def test_both_directions_reverse_at_one_open():
    frame = candles(flat(100, ENTER), flat(100), flat(110, EXIT), flat(110), flat(100, ENTER),
                    flat(100))

    result = futures(frame, strategy=Scripted(), **NO_FEES)

    long, short, again = result.trades
    assert (long.side, long.entry_price, long.exit_price, long.exit_bar) == (
        "long", 100, 110, 3)
    assert (short.side, short.entry_bar, short.entry_price, short.exit_price) == (
        "short", 3, 110, 100)
    assert again.side == "long"
    assert again.is_open
    assert result.curve.equity[-1] == pytest.approx(1000 + 100 + 1100 * 10 / 110)


def test_spot_long_only_refuses_to_short_or_to_lever():
    with pytest.raises(ValueError, match="spot is long-only"):
        BacktestConfig(leverage=3)
    with pytest.raises(ValueError, match="spot is long-only"):
        BacktestConfig(direction="both")
    with pytest.raises(ValueError, match="liquidates a position at once"):
        BacktestConfig(market="futures", leverage=125, maintenance_margin=D("0.01"))
    with pytest.raises(ValueError, match="leverage must be a whole number from 1 to 125"):
        BacktestConfig(market="futures", leverage=200)


def test_a_long_only_direction_never_shorts():
    frame = candles(flat(100, SHORT), flat(100), flat(90, COVER), flat(90))

    assert futures(frame, direction="long").trades == []


def test_one_x_futures_long_matches_spot_with_fees_in_quote():
    frame = candles(flat(100, ENTER), (101, 103, 99, 102), (102, 106, 101, 105, EXIT),
                    flat(104), flat(104))
    spot = run_backtest(Scripted(), frame, BacktestConfig(cash=D(1000), filters=STEP,
                                                          fee_asset="quote"))
    perp = futures(frame, strategy=Scripted(), direction="long")

    assert [(t.entry_bar, t.exit_bar) for t in perp.trades] == [
        (t.entry_bar, t.exit_bar) for t in spot.trades]
    assert perp.curve.equity[-1] == pytest.approx(spot.curve.equity[-1], abs=0.01)


# --- liquidation ------------------------------------------------------------------------------

def test_a_long_is_liquidated_where_its_margin_meets_the_maintenance_margin():
    frame = candles(flat(100, ENTER), flat(100), (100, 100, 90, 92), flat(92), flat(92))

    result = futures(frame, leverage=10, sizing_config={"fraction": "0.5"}, **NO_FEES)

    [trade] = result.trades
    # Liquidation at 100 x 0.9 / 0.996 = 90.36; closed at the bankruptcy price 90.
    assert (trade.exit_reason, trade.exit_bar, trade.exit_price) == ("liquidation", 2, 90)
    assert trade.pnl == pytest.approx(-500)  # the whole margin, never more
    assert result.curve.equity[-1] == pytest.approx(500)
    assert "liquidated: the low 90.0 reached the liquidation price 90.3614" in trade.exit_note


def test_a_stop_above_the_liquidation_price_fills_first():
    frame = candles(flat(100, ENTER), flat(100), (100, 100, 89, 92), flat(92))

    result = futures(frame, strategy=ScriptedShorts(stop_loss_pct=D(5)), leverage=10,
                     **NO_FEES)

    [trade] = result.trades
    assert (trade.exit_reason, trade.exit_price) == ("stop_loss", 95)


def test_a_stop_beyond_the_liquidation_price_never_fills():
    frame = candles(flat(100, ENTER), flat(100), (100, 100, 80, 92), flat(92))

    result = futures(frame, strategy=ScriptedShorts(stop_loss_pct=D(15)), leverage=10,
                     **NO_FEES)

    assert result.trades[0].exit_reason == "liquidation"


def test_a_short_is_liquidated_on_a_rise():
    frame = candles(flat(100, SHORT), flat(100), (100, 112, 100, 105), flat(105))

    result = futures(frame, leverage=10, **NO_FEES)

    [trade] = result.trades
    # 100 x 1.1 / 1.004 = 109.56; closed at 110: the whole 1000 of margin lost.
    assert trade.exit_reason == "liquidation"
    assert trade.exit_price == pytest.approx(110)
    assert trade.pnl == pytest.approx(-1000)
    assert result.curve.equity[-1] == pytest.approx(0, abs=1e-6)


def test_at_one_x_a_long_is_never_liquidated():
    frame = candles(flat(100, ENTER), flat(100), (100, 100, 1, 2), flat(2))

    result = futures(frame, **NO_FEES)

    assert result.trades[0].is_open


# --- the short's protective exits are the mirror of the long's ---------------------------------

def test_a_shorts_stop_loss_sits_above_and_fills_as_a_buy():
    frame = candles(flat(100, SHORT), flat(100), (100, 106, 99, 104), flat(104))

    result = futures(frame, strategy=ScriptedShorts(stop_loss_pct=D(5)), **NO_FEES)

    [trade] = result.trades
    assert (trade.exit_reason, trade.exit_price, trade.exit_bar) == ("stop_loss", 105, 2)
    assert "high 106 reached the short's stop loss at 105" in trade.exit_note
    assert (2, "buy", "stop_loss") in result.decisions


def test_a_shorts_take_profit_sits_below_and_a_gap_fills_at_the_open():
    frame = candles(flat(100, SHORT), flat(100), (88, 89, 85, 86), flat(86))

    result = futures(frame, strategy=ScriptedShorts(take_profit_pct=D(10)), **NO_FEES)

    [trade] = result.trades
    assert (trade.exit_reason, trade.exit_price) == ("take_profit", 88)  # gapped under 90


def test_a_shorts_trailing_stop_follows_the_lowest_low():
    # Candle 2 gaps down and falls to 80, setting the level at 84; candle 3 reaches it.
    frame = candles(flat(100, SHORT), flat(100), (83, 83.5, 80, 82), (82, 85, 81, 84),
                    flat(84))

    result = futures(frame, strategy=ScriptedShorts(trailing_stop_pct=D(5)), **NO_FEES)

    [trade] = result.trades
    assert (trade.exit_reason, trade.exit_bar, trade.exit_price) == ("trailing_stop", 3, 84)


# --- funding ----------------------------------------------------------------------------------

def funding_at(*minutes_and_rates):
    return pd.Series([rate for _, rate in minutes_and_rates],
                     index=[START + pd.Timedelta(minutes=m) for m, _ in minutes_and_rates])


def test_funding_is_paid_by_longs_and_received_by_shorts_while_open():
    frame = candles(flat(100, ENTER), flat(100), flat(100), flat(100, EXIT), flat(100),
                    flat(100))
    # Minute 1: the entry's own open (not ours); 2 and 3: held over; 4: closed at its open.
    rates = funding_at((1, 0.01), (2, 0.01), (3, 0.001), (4, 0.01))

    long = futures(frame, strategy=Scripted(), direction="long", funding=rates, **NO_FEES)
    short = futures(candles(flat(100, SHORT), flat(100), flat(100), flat(100, COVER),
                            flat(100), flat(100)), funding=rates, **NO_FEES)

    [paid], [received] = long.trades, short.trades
    assert paid.funding == pytest.approx(10 * 100 * 0.011)
    assert paid.pnl == pytest.approx(-11)
    assert received.funding == pytest.approx(-11)
    assert short.curve.equity[-1] == pytest.approx(1011)
    assert long.curve.equity[2] == pytest.approx(990)  # the funding shows in the curve
    assert any("11" in note and "Funding is paid" in note for note in long.notes)


def test_without_a_funding_series_the_report_says_funding_is_ignored():
    result = futures(candles(flat(100, ENTER), flat(100)), **NO_FEES)

    assert "No funding series was given: funding is ignored." in result.notes


# --- risk, sizing and the report --------------------------------------------------------------

def test_the_risk_rules_see_a_short_as_a_sell_of_its_leveraged_notional():
    frame = candles(flat(100, SHORT), flat(100), flat(90, COVER), flat(90))

    result = futures(frame, leverage=5, limits=Limits(max_order_notional=D(2000)), **NO_FEES)

    [trade] = result.trades
    assert trade.quantity == 20  # 1000 x 5 = 5000 asked, cut to 2000 by the limit
    assert "risk:" in result.refusals[0][1]


def test_a_strategy_that_manages_its_own_orders_is_refused_on_futures():
    frame = candles(*[flat(100)] * 5)

    with pytest.raises(ValueError, match="backtest it on spot"):
        futures(frame, strategy=get_strategy("grid")(lower_price=D(90), upper_price=D(110),
                                                   order_quantity=D(1)))


def test_the_report_names_each_trades_side_and_funding():
    frame = candles(flat(100, SHORT), flat(100), flat(90, COVER), flat(90))
    strategy = ScriptedShorts()
    result = futures(frame, strategy=strategy, funding=funding_at((2, 0.001)), **NO_FEES)

    [trade] = as_report(result, strategy)["trades"]

    assert trade["side"] == "short"
    assert trade["funding"] == "-0.9"  # 10 short over minute 2's open, at 90
    assert trade["entry_words"] == "short entry signal"
    assert trade["exit_words"] == "short exit signal"


class ShortsOnly(Strategy):
    """Writes its own short columns and never a long signal."""

    name = "shorts_only"

    def warmup(self):
        return 1

    def prepare(self, candles):
        frame = with_signals(candles, {}, enter_long=False, exit_long=False)
        frame["enter_short"] = candles["close"] > candles["open"]
        frame["exit_short"] = candles["close"] < candles["open"]
        return frame


def test_a_strategys_own_short_columns_are_used_as_written():
    frame = candles((100, 101, 99, 101), flat(101), (101, 101, 95, 96), flat(96))

    result = futures(frame, strategy=ShortsOnly(), **NO_FEES)

    [trade] = result.trades
    assert (trade.side, trade.entry_bar, trade.exit_bar) == ("short", 1, 3)
    assert not any("mirror" in note or "exit signal and close" in note for note in result.notes)
