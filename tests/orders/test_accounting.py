"""Average-cost accounting, with the worked example of reliability.md section 5.4."""

from decimal import Decimal as D

from orders.accounting import FillAmounts, PositionState, apply_fill


def fill(side, qty, price, fee, fee_asset):
    qty, price = D(qty), D(price)
    return FillAmounts(side=side, price=price, quantity=qty, quote_quantity=qty * price,
                       commission=D(fee), commission_asset=fee_asset)


def book(*fills):
    state = PositionState()
    for each in fills:
        state = apply_fill(state, each, base_asset="BTC", quote_asset="USDT")
    return state


def test_the_worked_example_realises_exactly_1_196102_usdt():
    state = book(fill("BUY", "0.4", "100", "0.0004", "BTC"),
                 fill("BUY", "0.6", "101", "0.0006", "BTC"),
                 fill("SELL", "0.999", "102", "0.101898", "USDT"))

    assert state.realised_pnl == D("1.196102")
    assert state.quantity == 0
    assert state.cost == 0


def test_a_partial_exit_keeps_the_average_entry():
    state = book(fill("BUY", "1", "100", "0", "BNB"), fill("BUY", "1", "110", "0", "BNB"),
                 fill("SELL", "0.5", "120", "0", "BNB"))

    assert state.quantity == D("1.5")
    assert state.cost / state.quantity == D("105")
    assert state.realised_pnl == D("7.5")


def test_fees_in_a_third_asset_leave_quantity_and_cost_alone():
    state = book(fill("BUY", "1", "100", "0.0002", "BNB"))

    assert (state.quantity, state.cost, state.fees_paid) == (D("1"), D("100"), D("0"))
