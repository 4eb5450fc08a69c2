"""Position sizing: exact Decimal amounts and errors in words."""

from decimal import Decimal

import pytest

from bots.strategies.sizing import (
    SizingError,
    fixed_quote,
    fraction_of_allocation,
    risk_per_trade,
    size_intent,
    stop_price_for,
)

D = Decimal


def test_fixed_quote_is_the_amount():
    assert fixed_quote(D("250.50")) == D("250.50")
    with pytest.raises(SizingError, match="amount must be positive, got -1"):
        fixed_quote(D(-1))


def test_fraction_of_allocation():
    assert fraction_of_allocation(D("1000"), D("0.25")) == D("250.00")
    with pytest.raises(SizingError, match="fraction must be above 0 and at most 1, got 1.5"):
        fraction_of_allocation(D("1000"), D("1.5"))


def test_risk_per_trade_loses_the_risk_fraction_at_the_stop():
    # 1% of 10000 = 100 at risk; 5 lost per unit -> 20 units -> 2000 quote at 100.
    assert risk_per_trade(D(10000), D("0.01"), D(100), D(95)) == D(2000)
    # 2% of 10000 = 200; 10 per unit -> 20 units at 250 = 5000.
    amount = risk_per_trade(D(10000), D("0.02"), D(250), D(240))
    assert amount == D(5000)
    assert (amount / D(250)) * (D(250) - D(240)) == D(200)


@pytest.mark.parametrize("stop", [D(100), D(101), D(0)])
def test_risk_per_trade_needs_a_stop_below_the_entry(stop):
    message = f"the stop price {stop} must be above 0 and below the entry price 100"
    with pytest.raises(SizingError, match=message):
        risk_per_trade(D(10000), D("0.01"), D(100), stop)


def test_risk_fraction_must_be_a_fraction():
    with pytest.raises(SizingError, match="risk fraction must be above 0 and below 1, got 2"):
        risk_per_trade(D(10000), D(2), D(100), D(95))


ALLOCATION = D(5000)


def size(method, config, stop_price=None, allocation=ALLOCATION):
    return size_intent(method, config, equity=D(10000), allocation=allocation,
                       entry_price=D(100), stop_price=stop_price)


def test_size_intent_dispatches_by_method_with_settings_from_json():
    assert size("fixed_quote", {"amount": "150"}) == D(150)
    assert size("allocation_fraction", {"fraction": "0.1"}) == D("500.0")
    assert size("risk_per_trade", {"risk_fraction": "0.01"}, stop_price=D(95)) == D(2000)


def test_size_intent_never_spends_more_than_the_allocation():
    assert size("fixed_quote", {"amount": "150"}, allocation=D(120)) == D(120)
    assert size("risk_per_trade", {"risk_fraction": "0.01"}, D(99)) == D(5000)


def test_size_intent_explains_a_bad_configuration():
    with pytest.raises(SizingError, match="unknown sizing method 'kelly'; use one of fixed_quote"):
        size("kelly", {})
    with pytest.raises(SizingError, match="the sizing configuration needs 'amount'"):
        size("fixed_quote", {})
    with pytest.raises(SizingError, match="'amount' must be a number, got 'lots'"):
        size("fixed_quote", {"amount": "lots"})
    with pytest.raises(SizingError, match="risk_per_trade needs a stop price"):
        size("risk_per_trade", {"risk_fraction": "0.01"})


def test_stop_price_for_a_percentage():
    assert stop_price_for(D(200), D("2.5")) == D("195.000")
    assert stop_price_for(D(200), D(0)) is None
