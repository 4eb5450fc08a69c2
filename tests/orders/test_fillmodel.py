"""The paper fill model: pure, no database; every amount is an exact Decimal."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders.fillmodel import (
    WOULD_TAKE,
    WOULD_TRIGGER,
    FeeSchedule,
    MarketState,
    Outcome,
    PaperFill,
    PaperOrder,
    Status,
    Trade,
    advance,
    on_market,
    on_submit,
    on_trade,
)

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=1)
T2 = T0 + timedelta(seconds=2)
FEES = FeeSchedule(maker=D("0.0002"), taker=D("0.0004"), base_asset="BTC", quote_asset="USDT")
BNB_FEES = replace(FEES, pay_in_bnb=True, bnb_price_in_quote=D("250"))


def book(bid="100", ask="101", last="100.5", *, bids=(), asks=(), time=T0):
    return MarketState(symbol="BTCUSDT", bid=D(bid), ask=D(ask), last=D(last), time=time,
                       bid_depth=tuple((D(p), D(q)) for p, q in bids),
                       ask_depth=tuple((D(p), D(q)) for p, q in asks))


def order(side, type_="LIMIT", qty="1", price=None, *, stop=None, tif="GTC", quote=None):
    return PaperOrder(client_order_id="paper-1", side=side, type=type_,
                      quantity=None if qty is None else D(qty), quote_quantity=quote and D(quote),
                      price=price and D(price), stop_price=stop and D(stop), time_in_force=tif)


def market(side, qty="1", **kwargs):
    return order(side, "MARKET", qty, **kwargs)


def trade(price, qty, time=T1):
    return Trade(price=D(price), qty=D(qty), time=time)


def taker(price, qty, commission, asset="BTC", time=T0):
    price, qty = D(price), D(qty)
    return PaperFill(price=price, quantity=qty, quote_quantity=price * qty,
                     commission=D(commission), commission_asset=asset, is_maker=False, time=time)


def maker(price, qty, commission, asset="BTC", time=T1):
    return replace(taker(price, qty, commission, asset, time), is_maker=True)


# --- market orders --------------------------------------------------------------------------


def test_a_market_buy_takes_the_ask_worsened_by_slippage():
    outcome = on_submit(market("BUY", "2"), book(), FEES, slippage_bps=D("10"))

    assert outcome == Outcome((taker("101.101", "2", "0.0008"),), Status.FILLED)
    assert outcome.fills[0].quote_quantity == D("202.202")


def test_a_market_sell_takes_the_bid_and_pays_its_fee_in_quote():
    outcome = on_submit(market("SELL", "1"), book(), FEES, slippage_bps=D("10"))

    assert outcome.fills == (taker("99.9", "1", "0.03996", "USDT"),)
    assert outcome.status == Status.FILLED


def test_slipped_prices_round_to_8_decimals_against_the_trader():
    state = book(bid="1.23456789", ask="1.23456789", last="1.23456789")

    buy = on_submit(market("BUY"), state, FEES, slippage_bps=D("1"))
    sell = on_submit(market("SELL"), state, FEES, slippage_bps=D("1"))

    assert buy.fills[0].price == D("1.23469135")  # 1.234691346789 rounded up
    assert sell.fills[0].price == D("1.23444443")  # 1.234444432211 rounded down


def test_a_market_buy_walks_three_depth_levels_each_with_slippage():
    state = book(asks=[("101", "1"), ("102", "2"), ("103", "5")])

    outcome = on_submit(market("BUY", "4"), state, FEES, slippage_bps=D("10"))

    assert outcome.fills == (taker("101.101", "1", "0.0004"), taker("102.102", "2", "0.0008"),
                             taker("103.103", "1", "0.0004"))
    assert outcome.status == Status.FILLED


def test_a_market_sell_walks_the_bids_downwards():
    state = book(bids=[("100", "1"), ("99", "1")])

    outcome = on_submit(market("SELL", "1.5"), state, FEES, slippage_bps=D("0"))

    assert outcome.fills == (taker("100", "1", "0.04", "USDT"),
                             taker("99", "0.5", "0.0198", "USDT"))


def test_past_the_last_depth_level_the_rest_fills_at_that_level():
    state = book(asks=[("101", "1"), ("102", "1")])

    outcome = on_submit(market("BUY", "3"), state, FEES, slippage_bps=D("0"))

    assert outcome.fills == (taker("101", "1", "0.0004"), taker("102", "2", "0.0008"))
    assert outcome.status == Status.FILLED


def test_a_quote_quantity_buy_spends_the_quote_and_floors_to_8_decimals():
    outcome = on_submit(market("BUY", None, quote="1000"), book(), FEES)

    # 1000 / 101 = 9.900990099...; the fee 0.0004 x 9.90099009 = 0.003960396036 rounds half-up.
    assert outcome.fills == (taker("101", "9.90099009", "0.00396040"),)
    assert outcome.fills[0].quote_quantity == D("999.99999909")
    assert outcome.status == Status.FILLED


def test_a_quote_quantity_buy_rounds_down_to_the_quantity_step():
    outcome = on_submit(market("BUY", None, quote="1000"), book(), FEES,
                        quantity_step=D("0.001"))

    assert outcome.fills[0].quantity == D("9.900")


def test_a_quote_quantity_buy_walks_depth_and_never_overspends():
    state = book(asks=[("100", "1"), ("101", "2"), ("102", "5")])

    outcome = on_submit(market("BUY", None, quote="250"), state, FEES)

    # 100 buys the first level; the other 150 buys 1.48514851 of the second, which holds 2.
    assert outcome.fills == (taker("100", "1", "0.0004"),
                             taker("101", "1.48514851", "0.00059406"))
    assert sum(fill.quote_quantity for fill in outcome.fills) == D("249.99999951")


def test_a_quote_quantity_sell_receives_the_quote():
    outcome = on_submit(market("SELL", None, quote="250"), book(), FEES)

    assert outcome.fills == (taker("100", "2.5", "0.1", "USDT"),)


def test_a_quote_quantity_below_one_step_is_rejected():
    outcome = on_submit(market("BUY", None, quote="1"), book(), FEES, quantity_step=D("0.1"))

    assert outcome.status == Status.REJECTED
    assert outcome.fills == ()


def test_market_orders_never_rest():
    with pytest.raises(ValueError, match="never rest"):
        on_trade(market("BUY"), trade("100", "1"), FEES)


# --- limit orders ---------------------------------------------------------------------------


def test_a_marketable_limit_buy_takes_at_the_ask_not_its_limit():
    outcome = on_submit(order("BUY", price="105"), book(), FEES)

    assert outcome == Outcome((taker("101", "1", "0.0004"),), Status.FILLED)


def test_slippage_never_pushes_a_limit_past_its_price():
    slipped = on_submit(order("BUY", price="105"), book(), FEES, slippage_bps=D("50"))
    capped = on_submit(order("BUY", price="101.2"), book(), FEES, slippage_bps=D("50"))

    assert slipped.fills[0].price == D("101.505")
    assert capped.fills[0].price == D("101.2")


def test_a_marketable_limit_walks_only_the_levels_inside_its_price_then_rests():
    state = book(asks=[("101", "1"), ("102", "2"), ("103", "10")])

    outcome = on_submit(order("BUY", qty="5", price="102"), state, FEES)

    assert outcome.fills == (taker("101", "1", "0.0004"), taker("102", "2", "0.0008"))
    assert outcome.status == Status.PARTIALLY_FILLED
    assert outcome.rests


def test_a_limit_away_from_the_touch_rests_as_new():
    outcome = on_submit(order("BUY", price="100.5"), book(), FEES)

    assert outcome == Outcome((), Status.NEW, rests=True)


def test_a_resting_limit_fills_as_maker_partially_then_fully_bounded_by_trades():
    resting = order("BUY", qty="3", price="100")
    assert on_submit(resting, book(), FEES).rests

    above = on_trade(resting, trade("100.2", "5"), FEES)
    first = on_trade(resting, trade("99.9", "1"), FEES)
    resting = advance(resting, first)
    second = on_trade(resting, trade("100", "5", time=T2), FEES)

    assert above == Outcome((), Status.NEW, rests=True)
    assert first == Outcome((maker("100", "1", "0.0002"),), Status.PARTIALLY_FILLED, rests=True)
    assert resting.executed_qty == D("1")
    assert second == Outcome((maker("100", "2", "0.0004", time=T2),), Status.FILLED)


def test_a_resting_limit_sell_fills_at_its_limit_and_pays_in_quote():
    outcome = on_trade(order("SELL", price="105"), trade("105.5", "2"), FEES)

    assert outcome == Outcome((maker("105", "1", "0.021", "USDT"),), Status.FILLED)


def test_the_book_crossing_a_resting_limit_fills_it_as_maker_bounded_by_depth():
    resting = order("BUY", qty="5", price="100")
    state = book(bid="99.8", ask="99.9", last="99.9", time=T1,
                 asks=[("99.9", "2"), ("100.5", "10")])

    bounded = on_market(resting, state, FEES)
    unbounded = on_market(resting, replace(state, ask_depth=()), FEES)
    untouched = on_market(resting, book(), FEES)

    assert bounded == Outcome((maker("100", "2", "0.0004"),), Status.PARTIALLY_FILLED, rests=True)
    assert unbounded == Outcome((maker("100", "5", "0.001"),), Status.FILLED)
    assert untouched == Outcome((), Status.NEW, rests=True)


def test_ioc_fills_what_is_marketable_and_expires_the_rest():
    state = book(asks=[("101", "1"), ("102", "2"), ("103", "10")])

    outcome = on_submit(order("BUY", qty="5", price="102", tif="IOC"), state, FEES)

    assert outcome.fills == (taker("101", "1", "0.0004"), taker("102", "2", "0.0008"))
    assert outcome.status == Status.EXPIRED
    assert not outcome.rests


def test_ioc_away_from_the_touch_expires_without_fills():
    outcome = on_submit(order("BUY", price="100", tif="IOC"), book(), FEES)

    assert (outcome.fills, outcome.status, outcome.rests) == ((), Status.EXPIRED, False)


def test_fok_that_cannot_fill_completely_expires_with_no_fills():
    state = book(asks=[("101", "1"), ("102", "2"), ("103", "10")])

    outcome = on_submit(order("BUY", qty="5", price="102", tif="FOK"), state, FEES)

    assert (outcome.fills, outcome.status, outcome.rests) == ((), Status.EXPIRED, False)


def test_fok_that_can_fill_completely_fills():
    state = book(asks=[("101", "1"), ("102", "2"), ("103", "10")])

    outcome = on_submit(order("BUY", qty="3", price="102", tif="FOK"), state, FEES)

    assert outcome.status == Status.FILLED
    assert outcome.filled_qty == D("3")


def test_a_marketable_limit_maker_is_rejected_with_binances_message():
    outcome = on_submit(order("SELL", "LIMIT_MAKER", price="100"), book(), FEES)

    assert outcome == Outcome((), Status.REJECTED, "Order would immediately match and take.")
    assert outcome.reason == WOULD_TAKE


def test_a_limit_maker_that_rests_later_fills_as_maker():
    resting = order("SELL", "LIMIT_MAKER", price="101.5")

    placed = on_submit(resting, book(), FEES)
    filled = on_market(resting, book(bid="101.6", ask="101.7", time=T1), FEES)

    assert placed == Outcome((), Status.NEW, rests=True)
    assert filled.fills == (maker("101.5", "1", "0.0203", "USDT"),)


# --- stop orders ----------------------------------------------------------------------------


def test_a_stop_loss_limit_rests_untriggered_then_triggers_and_fills():
    stop = order("SELL", "STOP_LOSS_LIMIT", qty="1", price="94", stop="95")

    placed = on_submit(stop, book(), FEES)
    above = on_trade(stop, trade("96", "3"), FEES)
    triggered = on_trade(stop, trade("95", "0.4"), FEES)
    stop = advance(stop, triggered)
    rest = on_trade(stop, trade("94.5", "1", time=T2), FEES)

    assert placed == Outcome((), Status.NEW, rests=True)
    assert above == Outcome((), Status.NEW, rests=True)
    # On trigger the limit meets the print as a taker, at the better of 95 and its limit 94.
    assert triggered == Outcome((taker("95", "0.4", "0.0152", "USDT", time=T1),),
                                Status.PARTIALLY_FILLED, triggered=True, rests=True)
    assert stop.triggered
    assert rest == Outcome((maker("94", "0.6", "0.01128", "USDT", time=T2),), Status.FILLED,
                           triggered=True)


def test_a_triggered_stop_limit_that_is_not_marketable_rests_as_a_limit():
    stop = order("BUY", "STOP_LOSS_LIMIT", price="105.2", stop="105")
    state = book(bid="105", ask="105.5", last="105", time=T1)

    triggered = on_market(stop, state, FEES)
    stop = advance(stop, triggered)
    filled = on_market(stop, book(bid="105", ask="105.1", last="105.1", time=T1), FEES)

    assert triggered == Outcome((), Status.NEW, triggered=True, rests=True)
    assert filled == Outcome((maker("105.2", "1", "0.0002"),), Status.FILLED, triggered=True)


def test_a_stop_whose_trigger_already_holds_is_rejected_like_binance():
    outcome = on_submit(order("SELL", "STOP_LOSS_LIMIT", price="100", stop="101"), book(), FEES)

    assert outcome == Outcome((), Status.REJECTED, WOULD_TRIGGER)


def test_a_triggered_stop_market_fills_in_full_at_the_trade_price_with_slippage():
    stop = order("SELL", "STOP_LOSS", qty="2", stop="95")

    outcome = on_trade(stop, trade("94.8", "0.1"), FEES, slippage_bps=D("10"))

    assert outcome == Outcome((taker("94.7052", "2", "0.07576416", "USDT", time=T1),),
                              Status.FILLED, triggered=True)


def test_a_stop_market_triggered_by_the_book_walks_it_as_a_market_order():
    stop = order("BUY", "STOP_LOSS", qty="2", stop="105")
    state = book(bid="105", ask="105.5", last="105", time=T1,
                 asks=[("105.5", "1"), ("106", "4")])

    outcome = on_market(stop, state, FEES)

    assert outcome == Outcome((taker("105.5", "1", "0.0004", time=T1),
                               taker("106", "1", "0.0004", time=T1)), Status.FILLED,
                              triggered=True)


@pytest.mark.parametrize(
    ("type_", "side", "stop", "fires", "holds"),
    [
        ("STOP_LOSS_LIMIT", "BUY", "105", "105", "104.99"),
        ("STOP_LOSS_LIMIT", "SELL", "95", "95", "95.01"),
        ("TAKE_PROFIT_LIMIT", "BUY", "95", "95", "95.01"),
        ("TAKE_PROFIT_LIMIT", "SELL", "105", "105", "104.99"),
        ("STOP_LOSS", "BUY", "105", "105.5", "104"),
        ("STOP_LOSS", "SELL", "95", "94", "96"),
        ("TAKE_PROFIT", "BUY", "95", "94", "96"),
        ("TAKE_PROFIT", "SELL", "105", "105.5", "104"),
    ],
)
def test_stops_trigger_in_binances_direction(type_, side, stop, fires, holds):
    limit = stop if type_.endswith("_LIMIT") else None
    stop_order = order(side, type_, price=limit, stop=stop)

    assert on_trade(stop_order, trade(fires, "1"), FEES).triggered
    assert not on_trade(stop_order, trade(holds, "1"), FEES).triggered
    state = book(bid="99", ask="101", last=fires)
    assert on_market(stop_order, state, FEES).triggered
    assert not on_market(stop_order, replace(state, last=D(holds)), FEES).triggered


# --- fees -----------------------------------------------------------------------------------


def test_a_bnb_fee_is_the_quote_fee_at_the_bnb_price_less_25_percent():
    buy = on_submit(market("BUY", "2"), book(), BNB_FEES)
    sell = on_trade(order("SELL", price="105"), trade("105", "1"), BNB_FEES)

    # 0.0004 x 202 = 0.0808 USDT, x 0.75 = 0.0606 USDT, / 250 = 0.0002424 BNB.
    assert buy.fills == (taker("101", "2", "0.0002424", "BNB"),)
    # Maker: 0.0002 x 105 = 0.021 USDT, x 0.75 / 250 = 0.000063 BNB.
    assert sell.fills == (maker("105", "1", "0.000063", "BNB"),)


def test_commissions_round_half_up_to_8_decimals():
    fees = replace(FEES, maker=D("0.001"))

    outcome = on_trade(order("SELL", price="0.000005"), trade("0.000005", "1"), fees)

    assert outcome.fills[0].commission == D("0.00000001")  # 0.000000005: half-even gives 0


def test_maker_and_taker_flags_choose_the_rate():
    took = on_submit(order("BUY", price="101"), book(), FEES)
    made = on_trade(order("BUY", price="101"), trade("101", "1"), FEES)

    assert (took.fills[0].is_maker, took.fills[0].commission) == (False, D("0.0004"))
    assert (made.fills[0].is_maker, made.fills[0].commission) == (True, D("0.0002"))


def test_paying_in_bnb_needs_a_bnb_price():
    with pytest.raises(ValueError, match="bnb_price_in_quote"):
        replace(FEES, pay_in_bnb=True)


# --- inputs ---------------------------------------------------------------------------------


def test_orders_accept_plain_strings_and_reject_inconsistent_fields():
    assert order("BUY", price="100").side == "BUY"
    with pytest.raises(ValueError, match="price is missing"):
        order("BUY")
    with pytest.raises(ValueError, match="stop_price is missing"):
        order("BUY", "STOP_LOSS_LIMIT", price="100")
    with pytest.raises(ValueError, match="exactly one"):
        market("BUY", "1", quote="100")
    with pytest.raises(ValueError, match="'HOLD' is not a valid Side"):
        order("HOLD", price="100")


def test_times_must_be_aware_utc():
    with pytest.raises(ValueError, match="aware UTC"):
        trade("100", "1", time=datetime(2024, 3, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="ascending"):
        book(asks=[("102", "1"), ("101", "1")])


# --- properties -----------------------------------------------------------------------------

prices = st.decimals(min_value=D("50"), max_value=D("150"), places=2)
sizes = st.decimals(min_value=D("0.001"), max_value=D("10"), places=3)
steps = st.decimals(min_value=D("0.01"), max_value=D("3"), places=2)
bps = st.decimals(min_value=D("0"), max_value=D("100"), places=1)


@st.composite
def books(draw):
    bid = draw(prices)
    ask = bid + draw(steps)
    asks, bids = [], []
    for gap, size in draw(st.lists(st.tuples(steps, sizes), max_size=4)):
        asks.append((ask if not asks else asks[-1][0] + gap, size))
    for gap, size in draw(st.lists(st.tuples(steps, sizes), max_size=4)):
        bids.append((bid if not bids else bids[-1][0] - gap, size))
    last = draw(st.sampled_from([bid, ask, draw(prices)]))
    return MarketState(symbol="BTCUSDT", bid=bid, ask=ask, last=last, time=T0,
                       bid_depth=tuple(bids), ask_depth=tuple(asks))


@st.composite
def limit_orders(draw):
    type_ = draw(st.sampled_from(["LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"]))
    stop = draw(prices) if type_ in {"STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"} else None
    tif = "GTC" if type_ == "LIMIT_MAKER" else draw(st.sampled_from(["GTC", "IOC", "FOK"]))
    return PaperOrder(client_order_id="prop", side=draw(st.sampled_from(["BUY", "SELL"])),
                      type=type_, quantity=draw(sizes), price=draw(prices), stop_price=stop,
                      time_in_force=tif)


events = st.lists(
    st.one_of(st.builds(Trade, price=prices, qty=sizes, time=st.just(T1)), books()),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(order_=limit_orders(), first=books(), later=events, slippage=bps)
def test_fills_never_exceed_the_quantity_nor_pass_the_limit(order_, first, later, slippage):
    outcome, fills = on_submit(order_, first, FEES, slippage_bps=slippage), []
    fills.extend(outcome.fills)
    for event in later:
        if not outcome.rests:
            break
        order_ = advance(order_, outcome)
        react = on_trade if isinstance(event, Trade) else on_market
        outcome = react(order_, event, FEES, slippage_bps=slippage)
        fills.extend(outcome.fills)

    total = sum((fill.quantity for fill in fills), D("0"))
    assert total <= order_.quantity
    assert all(fill.quantity > 0 for fill in fills)
    if order_.side == "BUY":
        assert all(fill.price <= order_.price for fill in fills)
    else:
        assert all(fill.price >= order_.price for fill in fills)
    assert (outcome.status == Status.FILLED) == (total == order_.quantity)
    assert outcome.rests == (outcome.status in {Status.NEW, Status.PARTIALLY_FILLED})


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from(["BUY", "SELL"]), qty=sizes, quote=prices, state=books(),
       slippage=bps)
def test_market_orders_fill_exactly_and_quote_orders_never_overspend(side, qty, quote, state,
                                                                      slippage):
    by_qty = on_submit(market(side, str(qty)), state, FEES, slippage_bps=slippage)
    by_quote = on_submit(market(side, None, quote=str(quote)), state, FEES,
                         slippage_bps=slippage)

    assert by_qty.status == Status.FILLED
    assert by_qty.filled_qty == qty
    assert sum(fill.quote_quantity for fill in by_quote.fills) <= quote
