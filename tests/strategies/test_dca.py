"""DCA: scheduled buys, the safety-order ladder and the take profit, bar by bar."""

from decimal import Decimal

import pytest

from bots.strategies import Context, ParameterError, PositionView, get_strategy

from .candles import candles_from
from .paper import Paper

D = Decimal
SETTINGS = {
    "quote_amount": "100", "interval_bars": 3, "safety_step_pct": "20",
    "safety_multiplier": "2", "max_safety_orders": 2, "take_profit_pct": "10",
}
# Safety levels 20% and 40% under the cycle's first buy at 100: 80 and 60.
#   bar    0    1          2    3                       4    5    6                  7
#   close  100  80         70   40                      30   45   56 (high 57)       60
#          buy  safety-1        scheduled + safety-2    (max reached)  take profit   new cycle
CLOSES = [100, 80, 70, 40, 30, 45, 56, 60]
HIGHS = [100, 100, 80, 70, 40, 45, 57, 60]


@pytest.fixture
def paper():
    return Paper(get_strategy("dca")(**SETTINGS)).run(candles_from(CLOSES, highs=HIGHS))


def test_it_buys_on_schedule_and_down_the_ladder(paper):
    assert [(bar, tag, quantity, price) for bar, tag, quantity, price in paper.fills] == [
        (0, "entry", D(1), D(100)),         # 100 quote
        (1, "safety-1", D("2.5"), D(80)),   # 100 x 2 = 200 quote
        (3, "scheduled", D("2.5"), D(40)),  # 100 quote, 3 bars after the first buy
        (3, "safety-2", D(10), D(40)),      # 100 x 2^2 = 400 quote
        (6, "take_profit", D(16), D(55)),   # 800 spent on 16: average 50, +10% = 55
        (7, "entry", D(100) / D(60), D(60)),
    ]


def test_the_take_profit_comes_before_a_due_scheduled_buy(paper):
    assert [action.tag for bar, action in paper.actions if bar == 6] == ["take_profit"]


def test_it_explains_each_order(paper):
    reasons = {action.tag: action.reason for bar, action in paper.actions if bar < 7}
    assert reasons == {
        "entry": "first buy of a DCA cycle at 100",
        "safety-1": "safety order 1: close 80 is at or below 80, 20% under the cycle's first "
                    "buy at 100",
        "scheduled": "scheduled buy at 40, 3 bars after the last one",
        "safety-2": "safety order 2: close 40 is at or below 60, 40% under the cycle's first "
                    "buy at 100",
        "take_profit": "high 57 reached the take profit at 55 (10% above the average price 50)",
    }


def test_a_new_cycle_starts_a_new_ladder(paper):
    assert paper.state == {"cycle_price": "60.0", "bars_since_buy": 0, "safety_orders": 0}


def test_a_fall_through_several_levels_places_each_safety_order():
    paper = Paper(get_strategy("dca")(**SETTINGS)).run(candles_from([100, 55]))
    assert [(tag, quantity) for _, tag, quantity, _ in paper.fills] == [
        ("entry", D(1)), ("safety-1", D(200) / D(55)), ("safety-2", D(400) / D(55)),
    ]


def test_an_adopted_position_ladders_from_its_average_price():
    dca = get_strategy("dca")(**SETTINGS)
    held = PositionView(quantity=D(1), average_price=D(50))
    bar = {"open": 41.0, "high": 41.0, "low": 39.0, "close": 40.0}
    [intent] = dca.on_bar(Context(bar=bar, position=held, state={}))
    assert (intent.tag, intent.quote_amount) == ("safety-1", D(200))


def test_the_ladder_must_stay_above_zero():
    with pytest.raises(ParameterError) as caught:
        get_strategy("dca")(safety_step_pct=50, max_safety_orders=2)
    assert caught.value.errors == {
        "max_safety_orders": "the deepest safety order would be at or below 0 "
                             "(safety_step_pct x max_safety_orders must be under 100)"
    }
