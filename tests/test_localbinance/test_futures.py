"""USD-M futures REST through python-binance (the /fapi versions it calls)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
from binance.exceptions import BinanceAPIException

from .helpers import assert_shape, shared

ORDER = shared("futures_um/rest/order.NEW.json")
# POST /fapi/v1/order answers with cumQty and without "time" (docs New Order response).
POST_OPTIONAL, POST_EXTRA = ("time",), ("cumQty",)
ALGO_POST = {
    "algoId": 2146760,
    "clientAlgoId": "6B2I9XVcJpCjqPAJ4YoFX7",
    "algoType": "CONDITIONAL",
    "orderType": "TAKE_PROFIT",
    "symbol": "BNBUSDT",
    "side": "SELL",
    "positionSide": "BOTH",
    "timeInForce": "GTC",
    "quantity": "0.01",
    "algoStatus": "NEW",
    "triggerPrice": "750.000",
    "price": "750.000",
    "icebergQuantity": None,
    "selfTradePreventionMode": "EXPIRE_MAKER",
    "workingType": "CONTRACT_PRICE",
    "priceMatch": "NONE",
    "closePosition": False,
    "priceProtect": False,
    "reduceOnly": False,
    "activatePrice": "",
    "callbackRate": "",
    "createTime": 1750485492076,
    "updateTime": 1750485492076,
    "triggerTime": 0,
    "goodTillDate": 0,
}  # Binance derivatives docs, New Algo Order (TRADE) response example


def api_error(call, *args, **kwargs) -> tuple[int, str]:
    with pytest.raises(BinanceAPIException) as exc:
        call(*args, **kwargs)
    return exc.value.code, exc.value.message


def test_public_endpoints(client, local_binance):
    assert client.futures_ping() == {}
    assert "serverTime" in client.futures_time()
    info = client.futures_exchange_info()
    assert_shape(info, shared("futures_um/rest/exchangeInfo.real-2022-02-19.subset.json"))
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    klines = client.futures_klines(symbol="BTCUSDT", interval="1m", limit=3)
    assert len(klines) == 3
    assert len(klines[0]) == 12
    assert_shape(
        client.futures_order_book(symbol="BTCUSDT", limit=5),
        shared("futures_um/rest/depth.real-SUSHIUSDT-limit1000.json"),
    )
    book = client.futures_orderbook_ticker(symbol="BTCUSDT")
    assert set(book) == {"symbol", "bidPrice", "bidQty", "askPrice", "askQty", "time"}
    url = f"{local_binance.rest_url}/fapi/v1/klines?symbol=BTCUSDT&interval=1m&limit=1000"
    used = [int(requests.get(url, timeout=5).headers["X-MBX-USED-WEIGHT-1M"]) for _ in range(2)]
    assert used[1] - used[0] == 5  # klines weight for limit 500..1000


def test_market_order_ack_and_result(client, local_binance):
    ack = client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    assert_shape(ack, ORDER, optional=POST_OPTIONAL, extra=POST_EXTRA)
    assert (ack["status"], ack["executedQty"]) == ("NEW", "0.000")  # ACK: as accepted
    queried = client.futures_get_order(symbol="BTCUSDT", orderId=ack["orderId"])
    assert_shape(queried, ORDER)
    assert (queried["status"], queried["executedQty"]) == ("FILLED", "0.010")
    result = client.futures_create_order(
        symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newOrderRespType="RESULT"
    )
    assert result["status"] == "FILLED"
    assert Decimal(result["avgPrice"]) == local_binance.price("BTCUSDT")
    position = client.futures_position_information(symbol="BTCUSDT")
    assert_shape(
        position,
        shared("futures_um/rest/positionRisk.json"),
        extra=(
            "marginAsset",
            "initialMargin",
            "maintMargin",
            "positionInitialMargin",
            "openOrderInitialMargin",
            "adl",
            "bidNotional",
            "askNotional",
        ),
    )
    assert position[0]["positionAmt"] == "0.020"
    assert_shape(
        client.futures_account_trades(symbol="BTCUSDT"),
        shared("futures_um/rest/userTrades.real-ETHUSDT.json"),
    )


def test_limit_order_lifecycle(client, local_binance):
    price = local_binance.price("BTCUSDT")
    order = client.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="LIMIT",
        quantity="0.01",
        price=f"{price + 20:.1f}",
        timeInForce="GTC",
    )
    assert [o["orderId"] for o in client.futures_get_open_orders(symbol="BTCUSDT")] == [
        order["orderId"]
    ]
    local_binance.set_price("BTCUSDT", f"{price + 25:.2f}")
    filled = client.futures_get_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert (filled["status"], Decimal(filled["avgPrice"])) == (
        "FILLED",
        (price + 20).quantize(Decimal("0.1")),
    )
    assert api_error(client.futures_cancel_order, symbol="BTCUSDT", orderId=order["orderId"]) == (
        -2011,
        "Unknown order sent.",
    )
    assert api_error(client.futures_get_order, symbol="BTCUSDT", orderId=1) == (
        -2013,
        "Order does not exist.",
    )
    rest = client.futures_create_order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        quantity="0.01",
        price=f"{price - 200:.1f}",
        timeInForce="GTC",
    )
    canceled = client.futures_cancel_order(
        symbol="BTCUSDT", origClientOrderId=rest["clientOrderId"]
    )
    assert canceled["status"] == "CANCELED"
    post_only = api_error(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        quantity="0.01",
        price=f"{price + 100:.1f}",
        timeInForce="GTX",
    )
    assert post_only[0] == -5022


def test_realized_pnl_and_wallet(client, local_binance):
    entry = local_binance.price("BTCUSDT")
    client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1")
    local_binance.set_price("BTCUSDT", f"{entry + 100}")
    client.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.1", reduceOnly="true"
    )
    trades = client.futures_account_trades(symbol="BTCUSDT")
    assert Decimal(trades[-1]["realizedPnl"]) == Decimal("10")
    fees = sum(Decimal(t["commission"]) for t in trades)
    balance = client.futures_account_balance()
    assert_shape(balance, shared("futures_um/rest/balance.json"))
    assert Decimal(balance[0]["balance"]) == Decimal(10000) + 10 - fees
    assert client.futures_position_information(symbol="BTCUSDT") == []  # v3 omits flat symbols
    assert_shape(client.futures_account(), shared("futures_um/rest/account_v2.json"))
    assert_shape(
        client.futures_position_information(version=2), shared("futures_um/rest/positionRisk.json")
    )


def test_margin_and_reduce_only_rejections(client):
    assert api_error(
        client.futures_create_order, symbol="BTCUSDT", side="BUY", type="MARKET", quantity="30"
    ) == (-2019, "Margin is insufficient.")
    assert api_error(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="MARKET",
        quantity="0.01",
        reduceOnly="true",
    ) == (-2022, "ReduceOnly Order is rejected.")


def test_conditional_orders_use_the_algo_service(client, local_binance):
    price = local_binance.price("BTCUSDT")
    client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    stop = client.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        quantity="0.01",
        stopPrice=f"{price - 50:.1f}",
        reduceOnly="true",
        clientAlgoId="my-stop",
    )
    assert_shape(stop, ALGO_POST)
    assert (stop["clientAlgoId"], stop["algoStatus"]) == ("my-stop", "NEW")
    post = local_binance.requests("POST", "/fapi/v1/algoOrder")[0].params
    assert post["algoType"] == "CONDITIONAL"
    assert post["triggerPrice"] == f"{price - 50:.1f}"
    assert [
        a["algoId"] for a in client.futures_get_open_orders(symbol="BTCUSDT", conditional=True)
    ] == [stop["algoId"]]
    local_binance.set_price("BTCUSDT", f"{price - 60:.2f}")
    algo = client.futures_get_order(symbol="BTCUSDT", algoId=stop["algoId"])
    assert algo["algoStatus"] == "FINISHED"
    assert algo["actualOrderId"]
    assert client.futures_position_information(symbol="BTCUSDT") == []
    immediate = api_error(
        client.futures_create_order,
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_MARKET",
        quantity="0.01",
        stopPrice=f"{price:.1f}",
    )
    assert immediate == (-2021, "Order would immediately trigger.")
    legacy = api_error(
        client._request_futures_api,
        "post",
        "order",
        True,
        data={
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "STOP_MARKET",
            "quantity": "0.01",
            "stopPrice": "1000",
        },
    )
    assert legacy[0] == -4120


def test_algo_cancel_and_trailing_stop(client, local_binance):
    price = local_binance.price("BTCUSDT")
    take = client.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="TAKE_PROFIT",
        quantity="0.01",
        price=f"{price + 100:.1f}",
        stopPrice=f"{price + 90:.1f}",
    )
    canceled = client.futures_cancel_order(symbol="BTCUSDT", algoId=take["algoId"])
    assert canceled == {
        "algoId": take["algoId"],
        "clientAlgoId": take["clientAlgoId"],
        "code": "200",
        "msg": "success",
    }
    assert (
        api_error(client.futures_cancel_order, symbol="BTCUSDT", algoId=take["algoId"])[0] == -2011
    )
    client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    trail = client.futures_create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="TRAILING_STOP_MARKET",
        quantity="0.01",
        callbackRate="1",
        reduceOnly="true",
    )
    local_binance.set_price("BTCUSDT", f"{price + 200:.2f}")  # new high: the stop trails up
    local_binance.set_price("BTCUSDT", f"{(price + 200) * Decimal('0.995'):.2f}")
    assert client.futures_get_order(symbol="BTCUSDT", algoId=trail["algoId"])["algoStatus"] == "NEW"
    local_binance.set_price("BTCUSDT", f"{(price + 200) * Decimal('0.989'):.2f}")
    assert (
        client.futures_get_order(symbol="BTCUSDT", algoId=trail["algoId"])["algoStatus"]
        == "FINISHED"
    )


def test_leverage_and_margin_type(client):
    change = client.futures_change_leverage(symbol="BTCUSDT", leverage=21)
    assert_shape(change, shared("futures_um/rest/leverage.docs.json"))
    assert change["leverage"] == 21
    assert api_error(client.futures_change_leverage, symbol="BTCUSDT", leverage=0) == (
        -4028,
        "Leverage 0 is not valid",
    )
    assert client.futures_change_margin_type(symbol="BTCUSDT", marginType="ISOLATED") == {
        "code": 200,
        "msg": "success",
    }
    assert api_error(
        client.futures_change_margin_type, symbol="BTCUSDT", marginType="ISOLATED"
    ) == (-4046, "No need to change margin type.")
    client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    assert (
        api_error(client.futures_change_margin_type, symbol="BTCUSDT", marginType="CROSSED")[0]
        == -4048
    )


def test_listen_key_lifecycle(client, local_binance):
    key = client.futures_stream_get_listen_key()
    assert len(key) == len(shared("futures_um/rest/listenKey.docs.json")["listenKey"])
    assert client.futures_stream_get_listen_key() == key  # the live key is returned again
    assert client.futures_stream_keepalive(listenKey=key) == {}
    assert client.futures_stream_close(listenKey=key) == {}
    assert api_error(client.futures_stream_keepalive, listenKey=key) == (
        -1125,
        "This listenKey does not exist.",
    )


def test_bulk_endpoints(client, local_binance):
    price = local_binance.price("ETHUSDT")
    for offset in (5, 6):
        client.futures_create_order(
            symbol="ETHUSDT",
            side="BUY",
            type="LIMIT",
            quantity="0.1",
            price=f"{price - offset:.2f}",
            timeInForce="GTC",
        )
    client.futures_create_order(
        symbol="ETHUSDT",
        side="BUY",
        type="STOP_MARKET",
        quantity="0.1",
        stopPrice=f"{price + 5:.2f}",
    )
    assert len(client.futures_get_all_orders(symbol="ETHUSDT")) == 2
    assert client.futures_cancel_all_open_orders(symbol="ETHUSDT") == {
        "code": 200,
        "msg": "The operation of cancel all open order is done.",
    }
    assert client.futures_get_open_orders() == []
    assert len(client.futures_get_open_orders(symbol="ETHUSDT", conditional=True)) == 1
    client.futures_cancel_all_open_orders(symbol="ETHUSDT", conditional=True)
    assert client.futures_get_open_orders(symbol="ETHUSDT", conditional=True) == []
    ticker = client.futures_symbol_ticker(symbol="ETHUSDT")
    assert set(ticker) == {"symbol", "price", "time"}
    assert Decimal(ticker["price"]) == price
    stats = client.futures_ticker(symbol="ETHUSDT")
    assert "lastPrice" in stats
    assert "bidPrice" not in stats
