"""Binance symbol filters against the real exchangeInfo payloads in shared/data/binance.

The shared directory is found next to the repository, or wherever SHARED_DATA_DIR points.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from marketdata.exchange.filters import (
    BUY,
    SELL,
    FilterError,
    OrderRejected,
    PrecisionError,
    SymbolNotTrading,
    SymbolRules,
    format_decimal,
    normalise_order,
    round_price,
    round_quantity,
    validate_order,
)

SHARED = Path(os.environ.get("SHARED_DATA_DIR", Path(__file__).resolve().parents[3] / "shared"))
BINANCE = SHARED / "data" / "binance"
PLAIN_DECIMAL = re.compile(r"^\d+(\.\d+)?$")

pytestmark = pytest.mark.skipif(not BINANCE.is_dir(), reason=f"no Binance fixtures at {BINANCE}")


def _load(relative: str) -> dict:
    path = BINANCE / relative
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)


@cache
def _symbols(relative: str) -> dict[str, SymbolRules]:
    payload = _load(relative)
    return {raw["symbol"]: SymbolRules.from_exchange_info(raw) for raw in payload["symbols"]}


SPOT_FULL = "spot/rest/exchangeInfo.real-2021-10-12.full.json.gz"
FUTURES_FULL = "futures_um/rest/exchangeInfo.real-2021-07-22.full.json.gz"
SPOT_PAIR = "spot/rest/exchangeInfo.real-2021-10-22.BTCUSDT-ETHUSDT.json"
FUTURES_2022 = "futures_um/rest/exchangeInfo.real-2022-02-19.subset.json"


def spot_btc() -> SymbolRules:
    return _symbols(SPOT_PAIR)["BTCUSDT"]


def futures_btc() -> SymbolRules:
    return _symbols(FUTURES_2022)["BTCUSDT"]


def documented_rules(**changes) -> SymbolRules:
    """A spot symbol carrying every filter exactly as Binance's filters docs print them."""
    symbol = _load("spot/rest/exchangeInfo.docs.json")["symbols"][0]
    symbol = {**symbol, "filters": _load("spot/rest/filters.docs.json"), **changes}
    return SymbolRules.from_exchange_info(symbol)


def all_real_rules() -> list[SymbolRules]:
    return [
        *_symbols(SPOT_FULL).values(),
        *_symbols(FUTURES_FULL).values(),
        *_symbols("spot/rest/exchangeInfo.real-2021-10-12.subset.json").values(),
        *_symbols(FUTURES_2022).values(),
    ]


def trading_rules() -> list[SymbolRules]:
    return [rules for rules in all_real_rules() if rules.status == "TRADING"]


def attempt(call, **kwargs):
    """The call's result, or the OrderRejected it raised."""
    try:
        return call(**kwargs)
    except OrderRejected as error:
        return error


def rejection(call, **kwargs) -> OrderRejected:
    with pytest.raises(OrderRejected) as caught:
        call(**kwargs)
    return caught.value


# --- parsing -------------------------------------------------------------------------------


def test_it_parses_every_real_symbol_with_decimal_filters():
    rules = all_real_rules()
    assert len(rules) > 1800
    for rule in rules:
        assert isinstance(rule.price_filter.tick_size, Decimal)
        assert isinstance(rule.lot_size.step_size, Decimal)
        assert rule.raw_filters
        assert rule.raw_filters[0]["filterType"]


def test_it_reads_spot_fields_and_legacy_min_notional():
    rules = spot_btc()
    assert (rules.market, rules.base_asset, rules.quote_asset) == ("spot", "BTC", "USDT")
    assert rules.base_asset_precision == 8
    assert rules.quote_precision == 8
    assert rules.price_filter.tick_size == Decimal("0.01")
    assert rules.lot_size.min_qty == Decimal("0.00001")
    assert rules.market_lot_size.step_size == 0  # disabled in the real payload
    assert rules.min_notional.min_notional == Decimal("10")
    assert rules.min_notional.apply_to_market is True
    assert rules.max_num_orders == 200
    assert rules.max_num_algo_orders == 5
    assert rules.iceberg_parts == 10


def test_it_reads_futures_spellings_of_notional_and_order_counts():
    rules = futures_btc()
    assert rules.is_futures
    assert (rules.price_precision, rules.quantity_precision) == (2, 3)
    assert rules.min_notional.min_notional == Decimal("10")
    assert rules.max_num_orders == 200
    assert rules.max_num_algo_orders == 10
    assert rules.percent_price.multiplier_decimal == 4


def test_it_reads_every_documented_filter():
    rules = documented_rules()
    assert rules.notional.max_notional == Decimal("10000")
    assert rules.notional.apply_min_to_market is False
    assert rules.percent_price_by_side.ask_multiplier_down == Decimal("0.8")
    assert rules.trailing_delta.max_trailing_below_delta == 2000
    assert rules.max_num_iceberg_orders == 5
    assert rules.max_position == Decimal("10")
    assert rules.market_lot_size.min_qty == Decimal("0.001")


def test_rules_are_frozen_hashable_and_keep_raw_filters_read_only():
    rules = spot_btc()
    assert hash(rules) == hash(dataclasses.replace(rules))
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.status = "BREAK"  # type: ignore[misc]
    with pytest.raises(TypeError):
        rules.raw_filters[0]["tickSize"] = "1"  # type: ignore[index]


# --- rounding and formatting ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "quantity", "expected"),
    [
        ("0.1", "0.7", "0.7"),
        ("0.1", "0.3", "0.3"),
        ("0.01", "0.29", "0.29"),
        ("0.001", "0.123456", "0.123"),
        ("0.00001000", "0.00001999", "0.00001"),
        ("1", "12.9", "12"),
    ],
)
def test_quantity_rounds_down_to_the_step(step, quantity, expected):
    rules = dataclasses.replace(
        spot_btc(), lot_size=dataclasses.replace(spot_btc().lot_size, step_size=Decimal(step))
    )
    assert format_decimal(round_quantity(rules, quantity)) == expected


def test_market_quantity_also_honours_market_lot_size_step():
    rules = documented_rules(
        filters=[
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.01",
                "maxQty": "100",
                "stepSize": "0.01",
            },
        ]
    )
    assert round_quantity(rules, "1.23456") == Decimal("1.234")
    assert round_quantity(rules, "1.23456", market=True) == Decimal("1.23")


@pytest.mark.parametrize(
    ("side", "price", "expected"),
    [
        (BUY, "100.019", "100.01"),
        (SELL, "100.011", "100.02"),
        (BUY, "100.01", "100.01"),
        (SELL, "100.01", "100.01"),
    ],
)
def test_limit_price_rounds_in_the_passive_direction(side, price, expected):
    assert format_decimal(round_price(spot_btc(), price, side=side)) == expected


def test_floats_round_as_their_shortest_repr():
    assert round_quantity(spot_btc(), 0.3) == Decimal("0.3")
    assert round_price(spot_btc(), 0.29, side=BUY) == Decimal("0.29")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1E-8"), "0.00000001"),
        (Decimal("0.00000001"), "0.00000001"),
        (Decimal("60685.22000000"), "60685.22"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0.000"), "0"),
        (Decimal("0E-8"), "0"),
        ("100.500", "100.5"),
        (7, "7"),
    ],
)
def test_format_decimal_writes_plain_text(value, expected):
    assert format_decimal(value) == expected


@given(st.decimals(min_value=0, max_value=Decimal("1e12"), allow_nan=False, allow_infinity=False))
def test_format_decimal_never_uses_exponents(value):
    text = format_decimal(value)
    assert PLAIN_DECIMAL.match(text)
    assert Decimal(text) == value


# --- properties over real filters ----------------------------------------------------------


@st.composite
def amounts(draw, *, low: Decimal, high: Decimal) -> Decimal:
    """Log-uniform decimals with up to 12 significant digits between low and high."""
    exponent = draw(st.integers(min_value=low.adjusted(), max_value=high.adjusted()))
    mantissa = draw(st.integers(min_value=10**11, max_value=10**12 - 1))
    value = Decimal(mantissa).scaleb(exponent - 11)
    assume(low <= value <= high)
    return value


@st.composite
def sensible_orders(draw):
    """A real TRADING symbol and an order comfortably inside its filters before rounding."""
    rules = draw(st.sampled_from(trading_rules()))
    limits, lot = rules.price_filter, rules.lot_size
    low_price = max(limits.min_price, limits.tick_size) * 20
    high_price = (limits.max_price or Decimal("1e9")) / 2
    assume(low_price < high_price)
    price = draw(amounts(low=low_price, high=high_price))
    minimum = rules.min_notional.min_notional if rules.min_notional else Decimal(0)
    low_qty = max(lot.min_qty, lot.step_size) * 20
    high_qty = lot.max_qty / 2
    low_qty = max(low_qty, minimum * 2 / price)
    if rules.market_lot_size and rules.market_lot_size.max_qty:
        high_qty = min(high_qty, rules.market_lot_size.max_qty / 2)
        low_qty = max(
            low_qty, rules.market_lot_size.min_qty * 2, rules.market_lot_size.step_size * 20
        )
    assume(low_qty < high_qty)
    quantity = draw(amounts(low=low_qty, high=high_qty))
    side = draw(st.sampled_from([BUY, SELL]))
    order_type = draw(st.sampled_from(["LIMIT", "MARKET"]))
    return rules, side, order_type, quantity, price


def _assert_satisfies_filters(rules: SymbolRules, order, reference: Decimal) -> None:
    lot, limits = rules.lot_size, rules.price_filter
    assert order.quantity % lot.step_size == 0
    assert lot.min_qty <= order.quantity <= lot.max_qty
    if order.price is not None:
        assert order.price % limits.tick_size == 0
        assert limits.min_price <= order.price <= limits.max_price
    notional = (order.price or reference) * order.quantity
    if rules.min_notional:
        assert notional >= rules.min_notional.min_notional
    for value in order.as_params().values():
        assert isinstance(value, str)
    for key in ("quantity", "price"):
        if key in order.as_params():
            assert PLAIN_DECIMAL.match(order.as_params()[key])


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
@given(sensible_orders())
def test_normalised_orders_satisfy_the_real_filters(order_input):
    rules, side, order_type, quantity, price = order_input
    is_limit = order_type == "LIMIT"
    order = normalise_order(
        rules,
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=price if is_limit else None,
        reference_price=price,
    )
    _assert_satisfies_filters(rules, order, reference=price)
    assert order.quantity <= quantity
    if is_limit:
        assert order.price <= price if side == BUY else order.price >= price


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(trading_rules()),
    st.decimals(
        min_value=0, max_value=Decimal("1e7"), allow_nan=False, allow_infinity=False, places=12
    ),
    st.decimals(
        min_value=0, max_value=Decimal("1e7"), allow_nan=False, allow_infinity=False, places=12
    ),
    st.sampled_from([BUY, SELL]),
)
def test_rounding_always_lands_on_the_grid(rules, quantity, price, side):
    rounded_qty = round_quantity(rules, quantity)
    rounded_price = round_price(rules, price, side=side)
    step, tick = rules.lot_size.step_size, rules.price_filter.tick_size
    assert rounded_qty % step == 0
    assert 0 <= quantity - rounded_qty < step
    assert rounded_price % tick == 0
    assert abs(rounded_price - price) < tick
    assert (rounded_price <= price) if side == BUY else (rounded_price >= price)
    assert PLAIN_DECIMAL.match(format_decimal(rounded_qty))
    assert PLAIN_DECIMAL.match(format_decimal(rounded_price))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(trading_rules()),
    st.decimals(
        min_value=0, max_value=Decimal("1e6"), allow_nan=False, allow_infinity=False, places=10
    ),
    st.decimals(
        min_value=Decimal("1e-8"),
        max_value=Decimal("1e6"),
        allow_nan=False,
        allow_infinity=False,
        places=10,
    ),
)
def test_normalise_order_either_passes_the_filters_or_says_which_failed(rules, quantity, price):
    outcome = attempt(
        normalise_order, rules=rules, side=BUY, order_type="LIMIT", quantity=quantity, price=price
    )
    if isinstance(outcome, FilterError):
        assert outcome.filter_name
        assert outcome.detail
        assert outcome.message.startswith("Filter failure: ") or rules.is_futures
    else:
        _assert_satisfies_filters(rules, outcome, reference=price)


# --- each filter's failure ------------------------------------------------------------------


def limit(rules: SymbolRules, **order) -> dict:
    return {"rules": rules, "side": BUY, "order_type": "LIMIT", **order}


@pytest.mark.parametrize(
    ("order", "detail"),
    [
        ({"quantity": "0.001", "price": "0.001"}, "price 0.001 is below the minimum 0.01 USDT"),
        (
            {"quantity": "0.001", "price": "1000001"},
            "price 1000001 is above the maximum 1000000 USDT",
        ),
        (
            {"quantity": "0.001", "price": "60000.005"},
            "price 60000.005 is not a multiple of the tick size 0.01 USDT",
        ),
    ],
)
def test_price_filter_failures_carry_binances_text(order, detail):
    error = rejection(validate_order, **limit(spot_btc(), **order))
    assert isinstance(error, FilterError)
    assert (error.code, error.message, error.filter_name) == (
        -1013,
        "Filter failure: PRICE_FILTER",
        "PRICE_FILTER",
    )
    assert error.detail == detail


def test_stop_price_is_held_to_the_price_filter_too():
    error = rejection(
        validate_order,
        **limit(
            spot_btc(),
            order_type="STOP_LOSS_LIMIT",
            quantity="0.001",
            price="60000",
            stop_price="60000.001",
        ),
    )
    assert error.message == "Filter failure: PRICE_FILTER"
    assert error.detail.startswith("stop price 60000.001")


@pytest.mark.parametrize(
    ("quantity", "detail"),
    [
        ("0.000001", "quantity 0.000001 is below the minimum 0.00001 BTC"),
        ("9000.1", "quantity 9000.1 is above the maximum 9000 BTC"),
        ("0.000015", "quantity 0.000015 is not a multiple of the step size 0.00001 BTC"),
    ],
)
def test_lot_size_failures_carry_binances_text(quantity, detail):
    error = rejection(validate_order, **limit(spot_btc(), quantity=quantity, price="1000"))
    assert (error.message, error.detail) == ("Filter failure: LOT_SIZE", detail)


def test_market_lot_size_applies_to_market_orders_only():
    rules = documented_rules()
    order = {"rules": rules, "side": SELL, "order_type": "MARKET", "reference_price": "0.01"}
    error = rejection(validate_order, **order, quantity="100001")
    assert error.message == "Filter failure: LOT_SIZE"  # LOT_SIZE applies to every order first
    rules = dataclasses.replace(
        rules, market_lot_size=dataclasses.replace(rules.market_lot_size, max_qty=Decimal(5))
    )
    error = rejection(validate_order, **{**order, "rules": rules}, quantity="6")
    assert error.filter_name == "MARKET_LOT_SIZE"
    assert (error.message, error.detail) == (
        "Filter failure: MARKET_LOT_SIZE",
        "market order quantity 6 is above the maximum 5 ETH",
    )


def test_min_notional_checks_limit_orders_at_their_price():
    error = rejection(validate_order, **limit(spot_btc(), quantity="0.0001", price="60000"))
    assert (error.message, error.filter_name) == ("Filter failure: MIN_NOTIONAL", "MIN_NOTIONAL")
    assert error.detail == "notional 6 USDT (0.0001 x 60000) is below the minimum 10 USDT"


def test_min_notional_checks_market_orders_at_the_reference_price():
    order = {"rules": spot_btc(), "side": SELL, "order_type": "MARKET", "quantity": "0.0001"}
    validate_order(**order)  # no reference price: cannot tell, so no verdict
    error = rejection(validate_order, **order, reference_price="60000")
    assert error.message == "Filter failure: MIN_NOTIONAL"
    validate_order(**order, reference_price="200000")


def test_min_notional_with_apply_to_market_off_ignores_market_orders():
    rules = spot_btc()
    rules = dataclasses.replace(
        rules, min_notional=dataclasses.replace(rules.min_notional, apply_to_market=False)
    )
    validate_order(
        rules, side=SELL, order_type="MARKET", quantity="0.0001", reference_price="60000"
    )


def test_notional_filter_bounds_both_ways_and_spares_market_orders_when_told():
    rules = documented_rules()  # NOTIONAL 10..10000, neither bound applied to MARKET
    low = rejection(validate_order, **limit(rules, quantity="1", price="5"))
    high = rejection(validate_order, **limit(rules, quantity="100", price="200"))
    assert low.message == high.message == "Filter failure: NOTIONAL"
    assert low.detail == "notional 5 BTC (1 x 5) is below the minimum 10 BTC"
    assert high.detail == "notional 20000 BTC (100 x 200) is above the maximum 10000 BTC"
    validate_order(rules, side=BUY, order_type="MARKET", quantity="100", reference_price="200")


def test_quote_order_qty_is_the_notional_of_a_market_buy():
    error = rejection(
        validate_order,
        rules=spot_btc(),
        side=BUY,
        order_type="MARKET",
        quantity=None,
        quote_amount="5",
    )
    assert error.message == "Filter failure: MIN_NOTIONAL"
    assert error.detail == "notional 5 USDT (quoteOrderQty) is below the minimum 10 USDT"


@pytest.mark.parametrize(
    ("side", "price", "detail"),
    [
        (BUY, "300", "price 300 is above 299, 1.3 x the reference price 230"),
        (SELL, "160", "price 160 is below 161, 0.7 x the reference price 230"),
    ],
)
def test_percent_price_bounds_the_price_around_the_average(side, price, detail):
    rules = dataclasses.replace(documented_rules(), percent_price_by_side=None)
    error = rejection(
        validate_order,
        **limit(rules, side=side, quantity="0.1", price=price, reference_price="230"),
    )
    assert (error.message, error.detail) == ("Filter failure: PERCENT_PRICE", detail)


def test_percent_price_by_side_uses_the_bid_or_ask_multipliers():
    rules = dataclasses.replace(documented_rules(), percent_price=None)  # bid 0.2..1.2, ask 0.8..5
    order = limit(rules, quantity="1", reference_price="100")
    validate_order(**{**order, "side": SELL, "price": "400"})
    error = rejection(validate_order, **{**order, "price": "130"})
    assert error.message == "Filter failure: PERCENT_PRICE_BY_SIDE"
    assert error.detail == "BUY price 130 is above 120, 1.2 x the reference price 100"
    error = rejection(validate_order, **{**order, "side": SELL, "price": "70"})
    assert error.detail == "SELL price 70 is below 80, 0.8 x the reference price 100"


def test_iceberg_parts_limits_how_thin_an_iceberg_slices():
    rules = documented_rules()
    order = limit(rules, quantity="10", price="100")
    validate_order(**order, iceberg_qty="1")
    validate_order(**order, iceberg_qty="1.1")  # 9.09 visible slices: 10 parts
    error = rejection(validate_order, **order, iceberg_qty="0.95")
    assert error.message == "Filter failure: ICEBERG_PARTS"
    assert error.detail == "a visible part of 0.95 splits 10 ETH into 11 parts; the limit is 10"


@pytest.mark.parametrize(("order_type", "side"), [("STOP_LOSS", BUY), ("TAKE_PROFIT_LIMIT", SELL)])
def test_trailing_delta_must_stay_inside_the_filter(order_type, side):
    rules = documented_rules()
    order = {"rules": rules, "side": side, "order_type": order_type, "quantity": "1"}
    if order_type.endswith("LIMIT"):
        order["price"] = "100"
    validate_order(**order, trailing_delta=500)
    error = rejection(validate_order, **order, trailing_delta=5)
    assert error.message == "Filter failure: TRAILING_DELTA"
    assert (
        error.detail == f"trailing delta 5 BIPS is outside 10..2000 for a {order_type} {side} order"
    )


def test_the_first_broken_filter_in_the_symbols_listing_names_the_error():
    # Real BTCUSDT lists MIN_NOTIONAL before MARKET_LOT_SIZE (max 112.2110882 BTC).
    order = {"rules": spot_btc(), "side": SELL, "order_type": "MARKET", "quantity": "200"}
    assert rejection(validate_order, **order, reference_price="0.01").filter_name == "MIN_NOTIONAL"
    error = rejection(validate_order, **order, reference_price="60000")
    assert error.filter_name == "MARKET_LOT_SIZE"


def test_too_many_decimals_is_bad_precision_before_any_filter():
    error = rejection(validate_order, **limit(spot_btc(), quantity="0.000000001", price="60000"))
    assert isinstance(error, PrecisionError)
    assert (error.code, error.message, error.parameter) == (
        -1111,
        "Parameter 'quantity' has too much precision.",
        "quantity",
    )
    assert error.detail == "quantity 0.000000001 has 9 decimal places; BTCUSDT allows 8 for BTC"


# --- futures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "code", "message"),
    [
        ({"quantity": "0.001", "price": "401"}, -4013, "Price less than min price."),
        ({"quantity": "0.001", "price": "1246396.7"}, -4002, "Price greater than max price."),
        ({"quantity": "0.001", "price": "40000.05"}, -4014, "Price not increased by tick size."),
        ({"quantity": "1001", "price": "40000"}, -4005, "Quantity greater than max quantity."),
        ({"quantity": "0", "price": "40000"}, -4004, "Quantity less than min quantity."),
        (
            {"quantity": "0.0015", "price": "40000"},
            -1111,
            "Precision is over the maximum defined for this asset.",
        ),
        (
            {"quantity": "0.001", "price": "9000"},
            -4164,
            "Order's notional must be no smaller than 10 (unless you choose reduce only)",
        ),
        (
            {"quantity": "0.001", "price": "44000.1", "reference_price": "40000"},
            -4016,
            "Price is higher than mark price multiplier cap.",
        ),
    ],
)
def test_futures_failures_use_futures_codes(order, code, message):
    error = rejection(validate_order, **limit(futures_btc(), **order))
    assert (error.code, error.message) == (code, message)


def test_futures_sell_is_floored_against_the_mark_price():
    order = limit(futures_btc(), side=SELL, quantity="0.001", reference_price="40000")
    validate_order(**{**order, "price": "60000"})  # a high SELL is fine on futures
    error = rejection(validate_order, **{**order, "price": "21800"})
    assert (error.code, error.message) == (
        -4024,
        "Price is lower than mark price multiplier floor.",
    )


def test_futures_reduce_only_exits_are_exempt_from_min_notional():
    order = limit(futures_btc(), side=SELL, quantity="0.001", price="9000")
    assert rejection(validate_order, **order).code == -4164
    validate_order(**order, reduce_only=True)


# --- status and request shape ----------------------------------------------------------------


@pytest.mark.parametrize(
    "status", ["BREAK", "HALT", "END_OF_DAY", "PRE_TRADING", "PENDING_TRADING"]
)
def test_symbols_not_trading_refuse_orders(status):
    rules = dataclasses.replace(spot_btc(), status=status)
    error = rejection(normalise_order, **limit(rules, quantity="0.001", price="60000"))
    assert isinstance(error, SymbolNotTrading)
    assert (error.code, error.message, error.status) == (-2010, "Market is closed.", status)
    assert error.detail == f"BTCUSDT is in status {status}, not TRADING"


def test_real_symbols_in_break_are_refused():
    broken = [rules for rules in _symbols(SPOT_FULL).values() if rules.status == "BREAK"]
    assert len(broken) > 400
    with pytest.raises(SymbolNotTrading):
        validate_order(broken[0], side=BUY, order_type="MARKET", quantity="1")


def test_order_types_the_symbol_does_not_list_are_refused_with_binances_text():
    error = rejection(
        validate_order,
        rules=spot_btc(),
        side=SELL,
        order_type="STOP_LOSS",
        quantity="1",
        stop_price="1",
    )
    assert (error.code, error.message) == (
        -2010,
        "Stop loss orders are not supported for this symbol.",
    )
    error = rejection(
        validate_order, rules=futures_btc(), side=SELL, order_type="STOP_LOSS", quantity="1"
    )
    assert (error.code, error.message) == (-1116, "Invalid orderType.")


def test_missing_or_extra_parameters_are_refused():
    missing = rejection(validate_order, **limit(spot_btc(), quantity="1"))
    assert (missing.code, missing.message) == (
        -1102,
        "Mandatory parameter 'price' was not sent, was empty/null, or malformed.",
    )
    extra = rejection(
        validate_order, rules=spot_btc(), side=BUY, order_type="MARKET", quantity="1", price="1"
    )
    assert (extra.code, extra.message) == (-1106, "Parameter 'price' sent when not required.")
    neither = rejection(
        validate_order, rules=spot_btc(), side=BUY, order_type="MARKET", quantity=None
    )
    assert (
        neither.message
        == "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
    )


def test_negative_amounts_are_a_programming_error():
    with pytest.raises(ValueError, match="quantity must not be negative"):
        round_quantity(spot_btc(), "-1")


# --- normalised orders ----------------------------------------------------------------------


def test_normalise_order_rounds_then_renders_python_binance_params():
    order = normalise_order(
        spot_btc(), side=BUY, order_type="LIMIT", quantity="0.0012345", price="60000.019"
    )
    assert order.quantity == Decimal("0.00123")
    assert order.price == Decimal("60000.01")
    assert order.as_params() == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "quantity": "0.00123",
        "price": "60000.01",
        "timeInForce": "GTC",
    }


def test_normalise_order_renders_market_buys_by_quote_amount():
    order = normalise_order(
        spot_btc(), side=BUY, order_type="MARKET", quantity=None, quote_amount="25.123456789"
    )
    assert order.as_params() == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quoteOrderQty": "25.12345678",
    }


def test_normalise_order_rounds_stop_prices_to_the_nearest_tick_and_marks_reduce_only():
    order = normalise_order(
        futures_btc(),
        side=SELL,
        order_type="STOP_MARKET",
        quantity="0.0019",
        stop_price="39000.06",
        reduce_only=True,
    )
    assert order.as_params() == {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_MARKET",
        "quantity": "0.001",
        "stopPrice": "39000.1",
        "reduceOnly": "true",
    }


def test_normalise_order_refuses_what_rounding_pushed_below_the_minimums():
    error = rejection(normalise_order, **limit(spot_btc(), quantity="0.000019", price="60000"))
    assert error.message == "Filter failure: MIN_NOTIONAL"
    error = rejection(normalise_order, **limit(spot_btc(), quantity="0.0000099", price="6000000"))
    assert error.message == "Filter failure: PRICE_FILTER"
