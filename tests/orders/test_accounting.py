"""Average-cost accounting, with the worked example of reliability.md section 5.4."""

from decimal import Decimal as D

from orders.accounting import FillAmounts, PositionState, apply_fill, apply_futures_fill


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


def test_a_third_asset_fee_with_a_known_value_counts_like_a_quote_fee():
    bnb_fee = FillAmounts(side="BUY", price=D("100"), quantity=D("1"), quote_quantity=D("100"),
                          commission=D("0.0002"), commission_asset="BNB",
                          commission_quote=D("0.1"))
    state = apply_fill(PositionState(), bnb_fee, base_asset="BTC", quote_asset="USDT")

    assert (state.quantity, state.cost, state.fees_paid) == (D("1"), D("100.1"), D("0.1"))


def futures(*fills):
    state = PositionState()
    for side, qty, price, fee in fills:
        amounts = FillAmounts(side=side, price=D(price), quantity=D(qty),
                              quote_quantity=D(qty) * D(price), commission=D(fee),
                              commission_asset="USDT")
        state = apply_futures_fill(state, amounts, quote_asset="USDT")
    return state


def test_a_futures_short_gains_when_the_price_falls_net_of_fees():
    state = futures(("SELL", "2", "100", "0.08"), ("BUY", "2", "90", "0.072"))

    assert state.quantity == 0
    assert state.cost == 0
    assert state.realised_pnl == D("20") - D("0.152")
    assert state.fees_paid == D("0.152")


def test_an_open_short_has_a_signed_cost_so_unrealised_and_entry_read_the_same_way():
    state = futures(("SELL", "1", "100", "0"), ("SELL", "1", "110", "0"))

    assert (state.quantity, state.cost) == (D("-2"), D("-210"))
    assert state.cost / state.quantity == D("105")  # entry price
    assert state.quantity * D("100") - state.cost == D("10")  # unrealised at 100


def test_a_partial_futures_reduction_realises_on_the_closed_part_only():
    state = futures(("BUY", "2", "100", "0"), ("SELL", "0.5", "120", "0"))

    assert (state.quantity, state.cost, state.realised_pnl) == (D("1.5"), D("150"), D("10"))


def test_a_fill_larger_than_the_position_flips_it_at_the_fill_price():
    state = futures(("BUY", "1", "100", "0"), ("SELL", "3", "90", "0"))

    assert state.realised_pnl == D("-10")
    assert (state.quantity, state.cost) == (D("-2"), D("-180"))
