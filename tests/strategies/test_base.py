"""The default on_bar and the intents it returns."""

from decimal import Decimal

import pytest

from bots.strategies import (
    Context,
    Intent,
    OpenOrderView,
    PositionView,
    get_strategy,
)
from tests.support.purity import django_modules_imported_by

LONG = PositionView(quantity=Decimal(1), average_price=Decimal(100))
PRICES = {"open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0}


def sma_bar(enter: bool, leave: bool) -> dict:
    return {**PRICES, "sma_fast": 101.2, "sma_slow": 100.9, "enter_long": enter,
            "exit_long": leave}


@pytest.fixture
def sma_cross():
    return get_strategy("sma_cross")(fast=10, slow=30)


def test_it_buys_on_an_entry_signal_when_flat(sma_cross):
    [intent] = sma_cross.on_bar(Context(bar=sma_bar(True, False)))
    assert intent == Intent(side="buy", tag="entry",
                            reason="SMA(10) 101.2 crossed above SMA(30) 100.9")
    assert intent.needs_sizing


def test_it_sells_everything_on_an_exit_signal_when_long(sma_cross):
    [intent] = sma_cross.on_bar(Context(bar=sma_bar(False, True), position=LONG))
    assert (intent.side, intent.close_fraction, intent.tag) == ("sell", Decimal(1), "exit")
    assert intent.reason == "SMA(10) 101.2 crossed below SMA(30) 100.9"


def test_it_ignores_signals_that_do_not_fit_the_position(sma_cross):
    assert sma_cross.on_bar(Context(bar=sma_bar(False, True))) == []
    assert sma_cross.on_bar(Context(bar=sma_bar(True, False), position=LONG)) == []


def test_an_exit_signal_on_the_same_bar_vetoes_the_entry(sma_cross):
    assert sma_cross.on_bar(Context(bar=sma_bar(True, True))) == []


def test_it_does_not_double_a_resting_entry(sma_cross):
    resting = OpenOrderView("entry", "buy", "limit", Decimal(99), Decimal(1))
    assert sma_cross.on_bar(Context(bar=sma_bar(True, False), open_orders=(resting,))) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"side": "short"}, "side must be buy or sell, not 'short'"),
        ({"side": "buy", "order_type": "stop"}, "order type must be market or limit"),
        ({"side": "buy", "order_type": "limit"}, "a limit order needs a positive price"),
        ({"side": "buy", "quantity": Decimal(1), "quote_amount": Decimal(5)}, "only one of"),
        ({"side": "buy", "quantity": Decimal(0)}, "an order size must be positive"),
        ({"side": "sell", "close_fraction": Decimal(2)}, "close_fraction is at most 1"),
    ],
)
def test_an_intent_refuses_to_be_malformed(fields, message):
    with pytest.raises(ValueError, match=message):
        Intent(**fields)


def test_a_strategy_shows_its_parameters():
    assert repr(get_strategy("sma_cross")(fast=5)) == (
        "SmaCross(fast=5, slow=30, stop_loss_pct=0, take_profit_pct=0, trailing_stop_pct=0)"
    )


def test_the_package_imports_no_django():
    assert django_modules_imported_by("bots.strategies") == []
