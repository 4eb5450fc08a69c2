"""Symbol filters exactly as Binance applies them (spot -1013/-1111, futures -4xxx)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.localbinance import data, errors
from tests.localbinance.filters import MarketContext, OrderShape, check_futures, check_spot
from tests.localbinance.symbols import SymbolInfo

from .helpers import shared

BTC = SymbolInfo(data.spot_symbol_info("BTCUSDT"), "spot")
FUT = SymbolInfo(data.futures_symbol_info("BTCUSDT"), "futures")
CTX = MarketContext(
    avg_price=Decimal("30000"), last_price=Decimal("30000"), open_orders=0, open_algo_orders=0
)


def spot_error(
    order: OrderShape, info: SymbolInfo = BTC, ctx: MarketContext = CTX
) -> tuple[int, str] | None:
    try:
        check_spot(info, order, ctx)
    except errors.BinanceError as exc:
        return exc.code, exc.msg
    return None


def limit(qty: str, price: str, side: str = "BUY") -> OrderShape:
    return OrderShape("LIMIT", side, Decimal(qty), Decimal(price))


@pytest.mark.parametrize(
    ("order", "failure"),
    [
        (limit("0.001", "30000.001"), "PRICE_FILTER"),  # not a multiple of tickSize 0.01
        (limit("0.001", "0.001"), "PRICE_FILTER"),  # below minPrice
        (limit("0.001", "200000.00"), "PERCENT_PRICE"),  # above 5x the 5-minute average
        (limit("0.000015", "30000.00"), "LOT_SIZE"),  # not a multiple of stepSize 0.00001
        (limit("0.000001", "30000.00"), "LOT_SIZE"),  # below minQty
        (limit("9001", "30000.00"), "LOT_SIZE"),  # above maxQty
        (limit("0.0003", "30000.00"), "MIN_NOTIONAL"),  # 9 USDT < 10
        (OrderShape("MARKET", "BUY", Decimal("0.0003")), "MIN_NOTIONAL"),  # market: avg price
        (OrderShape("MARKET", "BUY", Decimal("101")), "MARKET_LOT_SIZE"),  # maxQty 100.05381873
    ],
)
def test_spot_filter_failures(order, failure):
    assert spot_error(order) == (-1013, f"Filter failure: {failure}")


def test_spot_filter_messages_are_the_documented_ones():
    documented = {
        m["msg"] for m in shared("errors/catalog.docs.json")["filter_failure_messages_for_-1013"]
    }
    for name in (
        "PRICE_FILTER",
        "PERCENT_PRICE",
        "LOT_SIZE",
        "MIN_NOTIONAL",
        "MARKET_LOT_SIZE",
        "MAX_NUM_ORDERS",
    ):
        assert f"Filter failure: {name}" in documented


def test_max_num_orders_and_precision():
    full = MarketContext(Decimal("30000"), Decimal("30000"), open_orders=200, open_algo_orders=0)
    assert spot_error(limit("0.001", "30000.00"), ctx=full) == (
        -1013,
        "Filter failure: MAX_NUM_ORDERS",
    )
    assert spot_error(limit("0.000000001", "30000.00")) == (
        -1111,
        "Parameter 'quantity' has too much precision.",
    )
    assert spot_error(limit("0.001", "30000.000000001")) == (
        -1111,
        "Parameter 'price' has too much precision.",
    )
    assert spot_error(limit("0.00100", "30000.0100")) is None  # trailing zeros are not precision


def test_notional_filter_with_max():
    raw = {**data.spot_symbol_info("BTCUSDT"), "filters": shared("spot/rest/filters.docs.json")}
    info = SymbolInfo(raw, "spot")
    ctx = MarketContext(Decimal("10"), Decimal("10"), 0, 0)
    assert spot_error(OrderShape("LIMIT", "BUY", Decimal("2000"), Decimal("10")), info, ctx) == (
        -1013,
        "Filter failure: NOTIONAL",
    )
    # applyMaxToMarket=false: market orders are only held to the minimum
    assert spot_error(OrderShape("MARKET", "BUY", Decimal("2000")), info, ctx) is None


@settings(max_examples=60, deadline=None)
@given(
    steps=st.integers(min_value=34, max_value=10_000_000),
    ticks=st.integers(min_value=2_000_000, max_value=4_000_000),
)
def test_valid_quantized_orders_pass(steps, ticks):
    qty = BTC.step_size * steps
    price = BTC.tick_size * ticks
    if qty * price >= 10 and qty <= 9000:
        assert spot_error(limit(str(qty), str(price))) is None
        off_step = qty + BTC.step_size / 2
        assert spot_error(limit(str(off_step), str(price)))[1] == "Filter failure: LOT_SIZE"


def futures_error(order: OrderShape, ctx: MarketContext = CTX) -> tuple[int, str] | None:
    try:
        check_futures(FUT, order, ctx)
    except errors.BinanceError as exc:
        return exc.code, exc.msg
    return None


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (
            limit("0.0001", "30000.0"),
            (-1111, "Precision is over the maximum defined for this asset."),
        ),
        (limit("0", "30000.0"), (-4003, "Quantity less than or equal to zero.")),
        (limit("1001", "30000.0"), (-4005, "Quantity greater than max quantity.")),
        (limit("0.001", "100.0"), (-4013, "Price less than min price.")),
        (limit("0.001", "30000.05"), (-4014, "Price not increased by tick size.")),
        (limit("0.001", "40000.0"), (-4016, "Price is higher than mark price multiplier cap.")),
        (limit("0.001", "10000.0"), (-4024, "Price is lower than mark price multiplier floor.")),
        (limit("0.010", "30000.0"), None),
    ],
)
def test_futures_filters(order, expected):
    assert futures_error(order) == expected


def test_futures_min_notional_and_reduce_only_exemption():
    ctx = MarketContext(Decimal("9000"), Decimal("9000"), 0, 0)
    order = OrderShape("LIMIT", "SELL", Decimal("0.001"), Decimal("9000.0"))
    assert futures_error(order, ctx) == (
        -4164,
        "Order's notional must be no smaller than 10 (unless you choose reduce only).",
    )
    order.reduce_only = True
    assert futures_error(order, ctx) is None
