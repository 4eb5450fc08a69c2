"""Stop loss, take profit and trailing stop against one bar's high and low."""

from decimal import Decimal

import pytest

from bots.strategies import Context, PositionView, get_strategy, protective_exit

D = Decimal
LONG = PositionView(quantity=D(2), average_price=D(100), highest_price_since_entry=D(100))


def bar(open_=100.0, high=100.0, low=100.0, close=100.0, **extra):
    return {"open": open_, "high": high, "low": low, "close": close, **extra}


def exit_for(position=LONG, stop="0", take="0", trail="0", **prices):
    return protective_exit(position, bar(**prices), D(stop), D(take), D(trail))


def test_nothing_happens_when_flat_or_all_exits_off():
    assert exit_for(PositionView(), stop="5", low=1.0) is None
    assert exit_for(low=1.0, high=1000.0) is None


def test_the_stop_loss_fires_when_the_low_reaches_it():
    assert exit_for(stop="5", low=95.01) is None
    intent = exit_for(stop="5", low=95.0)
    assert (intent.side, intent.tag, intent.close_fraction) == ("sell", "stop_loss", D(1))
    assert intent.trigger_price == D(95)
    assert intent.reason == "low 95 reached the stop loss at 95 (5% below the average price 100)"


def test_the_take_profit_fires_when_the_high_reaches_it():
    assert exit_for(take="10", high=109.99) is None
    intent = exit_for(take="10", high=110.5)
    assert (intent.tag, intent.trigger_price) == ("take_profit", D(110))
    assert intent.reason == (
        "high 110.5 reached the take profit at 110 (10% above the average price 100)"
    )


def test_the_stop_wins_when_one_bar_reaches_both():
    intent = exit_for(stop="5", take="10", low=94.0, high=111.0)
    assert (intent.tag, intent.trigger_price) == ("stop_loss", D(95))


def test_a_gap_through_the_stop_fills_at_the_open():
    assert exit_for(stop="5", open_=90.0, high=91.0, low=89.0).trigger_price == D(90)
    assert exit_for(take="10", open_=120.0, high=121.0, low=119.0).trigger_price == D(120)


def test_the_trailing_stop_follows_the_highest_price():
    risen = PositionView(D(2), D(100), None, highest_price_since_entry=D(120))
    assert exit_for(risen, trail="10", open_=115.0, high=119.0, low=108.5) is None
    intent = exit_for(risen, trail="10", open_=115.0, high=119.0, low=108.0)
    assert (intent.tag, intent.trigger_price) == ("trailing_stop", D(108))
    assert intent.reason == (
        "low 108 reached the trailing stop at 108 (10% below the highest price 120 since entry)"
    )


def test_the_trailing_stop_counts_the_current_bars_high():
    intent = exit_for(trail="10", high=130.0, low=116.0, open_=125.0)
    assert (intent.tag, intent.trigger_price) == ("trailing_stop", D(117))


def test_the_higher_of_stop_loss_and_trailing_stop_is_hit_first():
    risen = PositionView(D(2), D(100), None, highest_price_since_entry=D(120))
    assert exit_for(risen, stop="5", trail="10", low=90.0).tag == "trailing_stop"
    assert exit_for(LONG, stop="5", trail="10", low=89.0).tag == "stop_loss"


def test_without_a_highest_price_the_trail_starts_at_the_average():
    entered = PositionView(D(1), D(100))
    assert exit_for(entered, trail="10", low=90.0).trigger_price == D(90)


def test_a_trailing_stop_below_the_open_fills_at_the_open():
    risen = PositionView(D(2), D(100), None, highest_price_since_entry=D(120))
    assert exit_for(risen, trail="10", open_=100.0, high=101.0, low=99.0).trigger_price == D(100)


@pytest.mark.parametrize("name", ["sma_cross", "rsi_reversion", "donchian_breakout"])
def test_on_bar_applies_protective_exits_before_signals(name):
    strategy = get_strategy(name)(stop_loss_pct=5)
    ctx = Context(bar=bar(low=90.0, enter_long=False, exit_long=True), position=LONG)
    [intent] = strategy.on_bar(ctx)
    assert intent.tag == "stop_loss"


def test_a_trailing_level_the_bars_own_high_raised_fills_at_the_level_not_the_open():
    # Opened at 105, above the standing level 90; rose to 130 (level 117), fell to 110:
    # the stop was met at 117 on the way down, after the open.
    intent = exit_for(trail="10", open_=105.0, high=130.0, low=110.0)
    assert (intent.tag, intent.trigger_price) == ("trailing_stop", D(117))


SHORT = PositionView(D(-2), D(100), None, lowest_price_since_entry=D(80))


def test_a_shorts_exits_are_the_mirror_of_a_longs():
    stop = exit_for(PositionView(D(-2), D(100)), stop="5", high=105.0, low=99.0, open_=100.0)
    assert (stop.side, stop.tag, stop.trigger_price) == ("buy", "stop_loss", D(105))
    assert "above the average price 100" in stop.reason
    take = exit_for(PositionView(D(-2), D(100)), take="10", high=95.0, low=90.0, open_=94.0)
    assert (take.side, take.tag, take.trigger_price) == ("buy", "take_profit", D(90))
    trail = exit_for(SHORT, trail="10", high=88.0, low=85.0, open_=86.0)
    assert (trail.tag, trail.trigger_price) == ("trailing_stop", D(88))
    assert "10% above the lowest price 80 since entry" in trail.reason
    gapped = exit_for(SHORT, trail="10", high=95.0, low=90.0, open_=93.0)
    assert gapped.trigger_price == D(93)  # opened above the standing 88: filled at the open
    assert exit_for(SHORT, trail="10", high=87.9, low=85.0, open_=86.0) is None
