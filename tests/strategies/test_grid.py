"""Grid: which levels hold which orders, and what is re-placed after fills."""

from decimal import Decimal

import pytest

from bots.strategies import Cancel, Context, Intent, OpenOrderView, PositionView, get_strategy

from .candles import candles_from
from .paper import Paper

D = Decimal
# Levels 0..4 at 90, 95, 100, 105, 110.
SETTINGS = {"lower_price": "90", "upper_price": "110", "levels": 5, "order_quantity": "0.5"}
HOLDING = PositionView(quantity=D(1), average_price=D(100))


def at(close: float) -> dict:
    return {"open": close, "high": close, "low": close, "close": close}


def resting(*orders: tuple[str, str]) -> tuple[OpenOrderView, ...]:
    return tuple(
        OpenOrderView(tag, side, "limit", D(90 + 5 * int(tag[5:])), D("0.5"))
        for tag, side in orders
    )


def summary(actions) -> list[tuple]:
    return [
        ("cancel", a.tag) if isinstance(a, Cancel) else (a.tag, a.side, a.order_type, a.price)
        for a in actions
    ]


@pytest.fixture
def grid():
    return get_strategy("grid")(**SETTINGS)


@pytest.fixture
def state(grid):
    """A grid set up at 100.4: level 2 (100) is the empty one."""
    state = {}
    grid.on_bar(Context(bar=at(100.4), state=state))
    return state


def test_it_sets_up_buys_below_and_sells_above_the_price(grid):
    actions = grid.on_bar(Context(bar=at(100.4), state={}))
    assert summary(actions) == [
        ("grid-setup", "buy", "market", None),
        ("grid-0", "buy", "limit", D(90)),
        ("grid-1", "buy", "limit", D(95)),
        ("grid-3", "sell", "limit", D(105)),
        ("grid-4", "sell", "limit", D(110)),
    ]
    assert actions[0].quantity == D(1)  # what the two sells will sell
    assert {a.quantity for a in actions[1:]} == {D("0.5")}
    assert actions[1].reason == "grid level 0 at 90: buy below the empty level 2 at 100"


def test_it_leaves_resting_orders_alone(grid, state):
    open_orders = resting(("grid-0", "buy"), ("grid-1", "buy"), ("grid-3", "sell"),
                          ("grid-4", "sell"))
    assert grid.on_bar(Context(bar=at(99), position=HOLDING, open_orders=open_orders,
                               state=state)) == []


def test_a_filled_buy_gets_a_sell_one_level_up(grid, state):
    open_orders = resting(("grid-0", "buy"), ("grid-3", "sell"), ("grid-4", "sell"))
    actions = grid.on_bar(Context(bar=at(96), position=HOLDING, open_orders=open_orders,
                                  state=state))
    assert summary(actions) == [("grid-2", "sell", "limit", D(100))]
    assert state["empty_level"] == 1


def test_a_filled_sell_gets_a_buy_one_level_down(grid, state):
    open_orders = resting(("grid-0", "buy"), ("grid-1", "buy"), ("grid-4", "sell"))
    actions = grid.on_bar(Context(bar=at(106), position=HOLDING, open_orders=open_orders,
                                  state=state))
    assert summary(actions) == [("grid-2", "buy", "limit", D(100))]
    assert state["empty_level"] == 3


def test_a_fall_through_two_levels_re_places_two_sells(grid, state):
    open_orders = resting(("grid-3", "sell"), ("grid-4", "sell"))
    actions = grid.on_bar(Context(bar=at(89), position=HOLDING, open_orders=open_orders,
                                  state=state))
    assert summary(actions) == [
        ("grid-1", "sell", "limit", D(95)),
        ("grid-2", "sell", "limit", D(100)),
    ]
    assert state["empty_level"] == 0


def test_a_buy_and_a_sell_filled_in_one_bar_restore_the_grid(grid, state):
    open_orders = resting(("grid-0", "buy"), ("grid-4", "sell"))
    actions = grid.on_bar(Context(bar=at(100), position=HOLDING, open_orders=open_orders,
                                  state=state))
    assert summary(actions) == [
        ("grid-1", "buy", "limit", D(95)),
        ("grid-3", "sell", "limit", D(105)),
    ]


def test_an_order_on_the_wrong_side_is_cancelled_before_it_is_replaced(grid, state):
    open_orders = resting(("grid-0", "buy"), ("grid-1", "sell"), ("grid-3", "sell"),
                          ("grid-4", "sell"))
    state["resting"]["grid-1"] = "sell"  # as if our record and the exchange disagree
    actions = grid.on_bar(Context(bar=at(99), position=HOLDING, open_orders=open_orders,
                                  state=state))
    assert summary(actions) == [("cancel", "grid-1"), ("grid-1", "buy", "limit", D(95))]


def test_above_the_range_it_only_buys(grid):
    actions = grid.on_bar(Context(bar=at(130), state={}))
    assert [a.tag for a in actions] == ["grid-0", "grid-1", "grid-2", "grid-3"]
    assert {a.side for a in actions} == {"buy"}


def test_a_stop_cancels_the_grid_and_stays_down():
    grid = get_strategy("grid")(**SETTINGS, stop_loss_pct=10)
    state = {}
    grid.on_bar(Context(bar=at(100.4), state=state))
    open_orders = resting(("grid-3", "sell"), ("grid-4", "sell"))
    bar = {"open": 91.0, "high": 91.0, "low": 89.0, "close": 89.5}
    actions = grid.on_bar(Context(bar=bar, position=HOLDING, open_orders=open_orders,
                                  state=state))
    assert summary(actions[:2]) == [("cancel", "grid-3"), ("cancel", "grid-4")]
    assert isinstance(actions[2], Intent)
    assert actions[2].tag == "stop_loss"
    assert grid.on_bar(Context(bar=at(100), state=state)) == []


def test_it_needs_lower_below_upper():
    with pytest.raises(ValueError, match="lower_price must be below upper_price"):
        get_strategy("grid")(lower_price=110, upper_price=90, order_quantity=1)


def test_on_a_price_path_every_level_but_one_holds_an_order():
    # Up and down through the grid; Paper fills limits when a later bar reaches them.
    closes = [100.4, 97, 93, 88, 92, 99, 104, 108, 112, 106, 101, 96, 100]
    paper = Paper(get_strategy("grid")(**SETTINGS))
    for index, bar in enumerate(paper.strategy.prepare(candles_from(closes)).to_dict("records")):
        paper.step(index, bar)
        sells = [i for i in paper.resting.values() if i.side == "sell"]
        assert len(paper.resting) == 4
        assert paper.quantity == D("0.5") * len(sells)  # exactly what the sells will sell
    # Down: buys at 95 and 90 fill (bars 2, 3); up: sells at 95, 100, 105, 110 (bars 5-8);
    # down again: buys at 105 and 100 (bars 10, 11).
    limit_fills = [(bar, tag, price) for bar, tag, _, price in paper.fills[1:]]
    assert limit_fills == [
        (2, "grid-1", D(95)), (3, "grid-0", D(90)), (5, "grid-1", D(95)),
        (6, "grid-2", D(100)), (7, "grid-3", D(105)), (8, "grid-4", D(110)),
        (10, "grid-3", D(105)), (11, "grid-2", D(100)),
    ]
