"""Spot trading through python-binance: responses, balances, matching, user trades."""

from __future__ import annotations

from decimal import Decimal

import pytest
from binance.exceptions import BinanceAPIException

from .helpers import assert_shape, shared

FULL = shared("spot/rest/order.FULL.docs.json")
QUERY = shared("spot/rest/order_query.docs.json")


def balance(client, asset: str) -> tuple[Decimal, Decimal]:
    row = next(b for b in client.get_account()["balances"] if b["asset"] == asset)
    return Decimal(row["free"]), Decimal(row["locked"])


def api_error(call, *args, **kwargs) -> tuple[int, str]:
    with pytest.raises(BinanceAPIException) as exc:
        call(*args, **kwargs)
    return exc.value.code, exc.value.message


def test_market_buy_full_response_and_balances(client, local_binance):
    price = local_binance.price("BTCUSDT")
    order = client.order_market_buy(symbol="BTCUSDT", quantity="0.002")
    assert_shape(order, FULL)
    assert order["status"] == "FILLED"
    assert order["type"] == "MARKET"
    fill = order["fills"][0]
    assert Decimal(fill["price"]) == price
    assert fill["commission"] == "0.00000200"
    assert fill["commissionAsset"] == "BTC"
    assert order["cummulativeQuoteQty"] == f"{price * Decimal('0.002'):.8f}"
    assert balance(client, "BTC") == (Decimal("0.501998"), 0)
    assert balance(client, "USDT") == (Decimal(10000) - price * Decimal("0.002"), 0)


def test_response_types(client):
    ack = client.create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.002", newOrderRespType="ACK"
    )
    assert_shape(ack, shared("spot/rest/order.ACK.docs.json"))
    result = client.create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.002", newOrderRespType="RESULT"
    )
    assert_shape(result, shared("spot/rest/order.RESULT.docs.json"))
    maker_default = client.create_order(
        symbol="BTCUSDT", side="SELL", type="LIMIT_MAKER", quantity="0.002", price="20000"
    )
    assert set(maker_default) == set(shared("spot/rest/order.ACK.docs.json"))


def test_limit_order_rests_locks_and_fills_when_crossed(client, local_binance):
    price = local_binance.price("BTCUSDT")
    limit = (price - 50).quantize(Decimal("0.01"))
    order = client.order_limit_buy(symbol="BTCUSDT", quantity="0.01", price=f"{limit}")
    assert order["status"] == "NEW"
    assert order["fills"] == []
    assert balance(client, "USDT") == (10000 - limit * Decimal("0.01"), limit * Decimal("0.01"))
    open_orders = client.get_open_orders(symbol="BTCUSDT")
    assert_shape(open_orders, shared("spot/rest/openOrders.docs.json"))
    assert [o["orderId"] for o in open_orders] == [order["orderId"]]
    local_binance.set_price("BTCUSDT", f"{limit + 1}")
    assert client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "NEW"
    local_binance.set_price("BTCUSDT", f"{limit - 5}")
    queried = client.get_order(symbol="BTCUSDT", origClientOrderId=order["clientOrderId"])
    assert_shape(queried, QUERY)
    assert (queried["status"], queried["executedQty"]) == ("FILLED", "0.01000000")
    assert balance(client, "USDT") == (10000 - limit * Decimal("0.01"), 0)
    trade = client.get_my_trades(symbol="BTCUSDT")[-1]
    assert_shape(trade, shared("spot/rest/myTrades.docs.json")[0])
    assert (trade["isMaker"], trade["price"], trade["commissionAsset"]) == (
        True,
        f"{limit:.8f}",
        "BTC",
    )


def test_replayed_candles_fill_resting_orders(client, local_binance):
    low = min(Decimal(k[3]) for k in client.get_klines(symbol="BTCUSDT", interval="1m", limit=1))
    order = client.order_limit_sell(symbol="BTCUSDT", quantity="0.002", price="9500.00")
    assert order["status"] == "NEW"
    for _ in range(60):
        local_binance.advance(1)
        if client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] != "NEW":
            break
    status = client.get_order(symbol="BTCUSDT", orderId=order["orderId"])
    highs = [Decimal(k[2]) for k in client.get_klines(symbol="BTCUSDT", interval="1m", limit=100)]
    assert (status["status"] == "FILLED") == (max(highs) >= Decimal("9500")), low


def test_partial_fill_from_small_print_then_cancel(client, local_binance):
    price = local_binance.price("BTCUSDT")
    order = client.order_limit_sell(symbol="BTCUSDT", quantity="0.01", price=f"{price + 10:.2f}")
    local_binance.emit_trade("BTCUSDT", f"{price + 11:.2f}", "0.004")
    partial = client.get_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert (partial["status"], partial["executedQty"]) == ("PARTIALLY_FILLED", "0.00400000")
    assert balance(client, "BTC") == (Decimal("0.49"), Decimal("0.006"))
    cancel = client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert_shape(cancel, shared("spot/rest/order_cancel.docs.json"))
    assert (cancel["status"], cancel["executedQty"]) == ("CANCELED", "0.00400000")
    assert balance(client, "BTC") == (Decimal("0.496"), 0)


def test_unknown_and_duplicate_orders(client, local_binance):
    assert api_error(client.cancel_order, symbol="BTCUSDT", orderId=99999) == (
        -2011,
        "Unknown order sent.",
    )
    assert api_error(client.get_order, symbol="BTCUSDT", orderId=99999) == (
        -2013,
        "Order does not exist.",
    )
    first = client.order_limit_buy(
        symbol="BTCUSDT", quantity="0.01", price="8000.00", newClientOrderId="dup-1"
    )
    duplicate = api_error(
        client.order_limit_buy,
        symbol="BTCUSDT",
        quantity="0.01",
        price="8000.00",
        newClientOrderId="dup-1",
    )
    assert duplicate == (-2010, "Duplicate order sent.")
    client.cancel_order(symbol="BTCUSDT", orderId=first["orderId"])
    assert api_error(client.cancel_order, symbol="BTCUSDT", orderId=first["orderId"])[0] == -2011
    # Binance only rejects a clientOrderId reused while the first order is open.
    again = client.order_limit_buy(
        symbol="BTCUSDT", quantity="0.01", price="8000.00", newClientOrderId="dup-1"
    )
    assert again["status"] == "NEW"


def test_insufficient_balance(client):
    assert api_error(client.order_market_buy, symbol="BTCUSDT", quantity="2") == (
        -2010,
        "Account has insufficient balance for requested action.",
    )
    assert (
        api_error(client.order_limit_sell, symbol="ETHUSDT", quantity="6", price="500.00")[0]
        == -2010
    )


def test_all_orders_cancel_all_and_account(client):
    client.order_limit_buy(symbol="BTCUSDT", quantity="0.01", price="8000.00")
    client.order_limit_buy(symbol="BTCUSDT", quantity="0.01", price="8001.00")
    assert_shape(client.get_all_orders(symbol="BTCUSDT"), shared("spot/rest/allOrders.docs.json"))
    canceled = client.cancel_all_open_orders(symbol="BTCUSDT")
    assert [c["status"] for c in canceled] == ["CANCELED", "CANCELED"]
    assert client.get_open_orders() == []
    assert_shape(client.get_account(), shared("spot/rest/account.docs.json"))


def test_quote_order_qty_market(client, local_binance):
    price = local_binance.price("BTCUSDT")
    order = client.order_market_buy(symbol="BTCUSDT", quoteOrderQty="100")
    qty = (Decimal(100) / price).quantize(Decimal("0.00001"), rounding="ROUND_DOWN")
    assert (Decimal(order["origQty"]), order["origQuoteOrderQty"]) == (qty, "100.00000000")


def test_time_in_force_and_limit_maker(client, local_binance):
    price = local_binance.price("BTCUSDT")
    ioc = client.order_limit_buy(
        symbol="BTCUSDT", quantity="0.01", price=f"{price - 100:.2f}", timeInForce="IOC"
    )
    assert ioc["status"] == "EXPIRED"
    fok = client.order_limit_buy(
        symbol="BTCUSDT", quantity="0.01", price=f"{price + 100:.2f}", timeInForce="FOK"
    )
    assert fok["status"] == "FILLED"
    assert Decimal(fok["fills"][0]["price"]) == price
    maker = api_error(
        client.create_order,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT_MAKER",
        quantity="0.01",
        price=f"{price + 1:.2f}",
    )
    assert maker == (-2010, "Order would immediately match and take.")


def test_stop_loss_limit_triggers(client, local_binance):
    price = local_binance.price("BTCUSDT")
    stop = client.create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_LOSS_LIMIT",
        quantity="0.01",
        price=f"{price - 15:.2f}",
        stopPrice=f"{price - 20:.2f}",
        timeInForce="GTC",
    )
    assert set(stop) == set(shared("spot/rest/order.ACK.docs.json"))
    query = client.get_order(symbol="BTCUSDT", orderId=stop["orderId"])
    assert (query["isWorking"], query["workingTime"]) == (False, -1)
    local_binance.set_price("BTCUSDT", f"{price - 25:.2f}")
    query = client.get_order(symbol="BTCUSDT", orderId=stop["orderId"])
    assert query["isWorking"] is True
    assert query["status"] == "NEW"
    local_binance.set_price("BTCUSDT", f"{price - 15:.2f}")
    filled = client.get_order(symbol="BTCUSDT", orderId=stop["orderId"])
    assert (filled["status"], filled["cummulativeQuoteQty"]) == (
        "FILLED",
        f"{(price - 15) / 100:.8f}",
    )
    immediate = api_error(
        client.create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_LOSS_LIMIT",
        quantity="0.01",
        price=f"{price + 90:.2f}",
        stopPrice=f"{price + 100:.2f}",
        timeInForce="GTC",
    )
    assert immediate == (-2010, "Order would trigger immediately.")
    unsupported = api_error(
        client.create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_LOSS",
        quantity="0.01",
        stopPrice="100.00",
    )
    assert unsupported == (-2010, "Stop loss orders are not supported for this symbol.")


def test_oco_order_list(client, local_binance):
    price = local_binance.price("BTCUSDT")
    oco = client.create_oco_order(
        symbol="BTCUSDT",
        side="SELL",
        quantity="0.01",
        aboveType="LIMIT_MAKER",
        abovePrice=f"{price + 100:.2f}",
        belowType="STOP_LOSS_LIMIT",
        belowStopPrice=f"{price - 100:.2f}",
        belowPrice=f"{price - 110:.2f}",
        belowTimeInForce="GTC",
    )
    assert oco["contingencyType"] == "OCO"
    assert oco["listOrderStatus"] == "EXECUTING"
    assert_shape(oco["orderReports"][1], shared("spot/rest/order.RESULT.docs.json"))
    assert balance(client, "BTC") == (Decimal("0.49"), Decimal("0.01"))
    local_binance.set_price("BTCUSDT", f"{price + 100:.2f}")
    statuses = {o["type"]: o["status"] for o in client.get_all_orders(symbol="BTCUSDT")}
    assert statuses == {"LIMIT_MAKER": "FILLED", "STOP_LOSS_LIMIT": "EXPIRED"}
    assert balance(client, "BTC") == (Decimal("0.49"), 0)


def test_legacy_oco_and_cancel_list(client, local_binance):
    price = local_binance.price("BTCUSDT")
    oco = client._post(
        "order/oco",
        True,
        data={
            "symbol": "BTCUSDT",
            "side": "BUY",
            "quantity": "0.01",
            "price": f"{price - 100:.2f}",
            "stopPrice": f"{price + 100:.2f}",
            "stopLimitPrice": f"{price + 110:.2f}",
            "stopLimitTimeInForce": "GTC",
        },
    )
    assert [r["type"] for r in oco["orderReports"]] == ["LIMIT_MAKER", "STOP_LOSS_LIMIT"]
    canceled = client.cancel_order(symbol="BTCUSDT", orderId=oco["orders"][0]["orderId"])
    assert canceled["listOrderStatus"] == "ALL_DONE"
    assert [r["status"] for r in canceled["orderReports"]] == ["CANCELED", "CANCELED"]
    assert balance(client, "USDT") == (Decimal(10000), 0)
    bad = api_error(
        client._post,
        "order/oco",
        True,
        data={
            "symbol": "BTCUSDT",
            "side": "BUY",
            "quantity": "0.01",
            "price": f"{price + 100:.2f}",
            "stopPrice": f"{price + 200:.2f}",
            "stopLimitPrice": f"{price + 210:.2f}",
        },
    )
    assert bad == (-2010, "The relationship of the prices for the orders is not correct.")


def test_test_order_validates_without_trading(client, local_binance):
    assert (
        client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.002")
        == {}
    )
    rates = client.create_test_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.002", computeCommissionRates="true"
    )
    assert_shape(rates, shared("spot/rest/order_test.computeCommissionRates.docs.json"))
    assert (
        api_error(
            client.create_test_order,
            symbol="BTCUSDT",
            side="BUY",
            type="MARKET",
            quantity="0.000000001",
        )[0]
        == -1111
    )
    assert client.get_all_orders(symbol="BTCUSDT") == []


def test_order_headers(local_binance, client):
    client.order_market_buy(symbol="BTCUSDT", quantity="0.002")
    headers = client.response.headers
    assert headers["X-MBX-ORDER-COUNT-10S"] == "1"
    assert headers["X-MBX-ORDER-COUNT-1D"] == "1"
    assert headers["X-MBX-USED-WEIGHT-1M"].isdigit()
    counts = client._get("rateLimit/order", True, data={})
    assert_shape(counts, shared("spot/rest/rateLimit_order.docs.json"))
    assert [c["count"] for c in counts] == [1, 1]
