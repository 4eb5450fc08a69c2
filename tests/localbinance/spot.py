"""Spot REST endpoints (/api/v3/..., /sapi/v1/account/apiRestrictions).

Response shapes follow shared/data/binance/spot/rest; weights follow rest-api.md.
"""

from __future__ import annotations

import json

from . import errors, payloads
from .data import spot_exchange_header
from .decimals import ZERO, fixed
from .exchange import Exchange
from .klines import INTERVAL_MS
from .matching import NewOrder
from .orders import Order, OrderList
from .rest import Call, Routes, Security, by_symbol

ORDER_TYPES = (
    "LIMIT",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
    "LIMIT_MAKER",
)
UNSUPPORTED_TYPE = {
    "MARKET": "Market orders are not supported for this symbol.",
    "STOP_LOSS": "Stop loss orders are not supported for this symbol.",
    "STOP_LOSS_LIMIT": "Stop loss limit orders are not supported for this symbol.",
    "TAKE_PROFIT": "Take profit orders are not supported for this symbol.",
    "TAKE_PROFIT_LIMIT": "Take profit limit orders are not supported for this symbol.",
    "LIMIT_MAKER": "Unsupported order combination",
}
NEEDS_PRICE = ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
NEEDS_TIF = ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
NEEDS_STOP = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


# --- general and market data ----------------------------------------------------------------
def ping(ex: Exchange, call: Call) -> dict:
    return {}


def server_time(ex: Exchange, call: Call) -> dict:
    return {"serverTime": ex.now()}


def requested_symbols(ex: Exchange, call: Call, market: str = "spot") -> list[str] | None:
    """symbol=X or symbols=["X","Y"]; None means all. Unknown symbols are -1121."""
    known = ex.symbols[market]
    if call.get("symbol"):
        wanted = [call.require("symbol")]
    elif call.get("symbols"):
        try:
            wanted = json.loads(call.require("symbols"))
        except ValueError as exc:
            raise errors.BinanceError(
                -1100, "Illegal characters found in parameter 'symbols'."
            ) from exc
    else:
        return None
    if any(s not in known for s in wanted):
        raise errors.invalid_symbol()
    return wanted


def exchange_info(ex: Exchange, call: Call) -> dict:
    wanted = requested_symbols(ex, call) or list(ex.symbols["spot"])
    return {
        **spot_exchange_header(),
        "serverTime": ex.now(),
        "symbols": [ex.symbols["spot"][s].raw for s in wanted],
    }


def klines(ex: Exchange, call: Call, market: str = "spot") -> list:
    symbol = call.require("symbol")
    info = ex.symbols[market].get(symbol) or _raise(errors.invalid_symbol())
    interval = call.require("interval")
    if interval not in INTERVAL_MS or INTERVAL_MS[interval] % ex.markets[symbol].interval_ms:
        raise errors.invalid_interval()
    limit = call.limit(500, 1500 if market == "futures" else 1000)
    rows = ex.markets[symbol].klines(
        INTERVAL_MS[interval], call.integer("startTime"), call.integer("endTime"), limit
    )
    return [payloads.kline_row(info, c) for c in rows]


def _raise(exc: Exception):
    raise exc


def _each(ex: Exchange, call: Call, build, market: str = "spot"):
    wanted = requested_symbols(ex, call, market)
    infos = ex.symbols[market]
    if wanted is None and call.get("symbol") is None:
        return [build(infos[s], ex.markets[s]) for s in infos]
    result = [build(infos[s], ex.markets[s]) for s in wanted]
    return result[0] if call.get("symbol") else result


def ticker_24hr(ex: Exchange, call: Call) -> dict | list:
    mini = (
        call.enum("type", ("FULL", "MINI"), errors.invalid_param("type"), default="FULL") == "MINI"
    )
    return _each(ex, call, lambda info, m: payloads.ticker_24hr(info, m, mini))


def book_ticker(ex: Exchange, call: Call) -> dict | list:
    return _each(ex, call, payloads.book_ticker)


def price_ticker(ex: Exchange, call: Call) -> dict | list:
    return _each(ex, call, payloads.price_ticker)


def avg_price(ex: Exchange, call: Call) -> dict:
    symbol = call.require("symbol")
    ex.spot.info(symbol)
    market = ex.markets[symbol]
    return {"mins": 5, "price": fixed(market.avg_price()), "closeTime": market.now_ms - 1}


def depth(ex: Exchange, call: Call, market: str = "spot") -> dict:
    symbol = call.require("symbol")
    info = ex.symbols[market].get(symbol) or _raise(errors.invalid_symbol())
    result = payloads.depth(info, ex.markets[symbol], call.limit(100, 5000))
    if market == "futures":
        now = ex.markets[symbol].now_ms
        result = {"lastUpdateId": result["lastUpdateId"], "E": now, "T": now, **result}
    return result


def depth_weight(call: Call) -> int:
    limit = int(call.get("limit", "100") or 100)
    for bound, weight in ((100, 5), (500, 25), (1000, 50)):
        if limit <= bound:
            return weight
    return 250


# --- order responses -------------------------------------------------------------------------
def order_ack(order: Order) -> dict:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": order.order_list_id,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time,
    }


def _numbers(order: Order) -> dict:
    return {
        "price": fixed(order.price),
        "origQty": fixed(order.orig_qty),
        "executedQty": fixed(order.executed_qty),
        "origQuoteOrderQty": fixed(order.orig_quote_qty),
        "cummulativeQuoteQty": fixed(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
    }


def _stop_fields(order: Order) -> dict:
    extra = {}
    if order.stop_price:
        extra["stopPrice"] = fixed(order.stop_price)
    if order.iceberg_qty:
        extra["icebergQty"] = fixed(order.iceberg_qty)
    return extra


def order_result(order: Order) -> dict:
    return {
        **order_ack(order),
        **_numbers(order),
        "workingTime": order.working_time,
        **_stop_fields(order),
        "selfTradePreventionMode": order.self_trade_prevention_mode,
    }


def order_full(order: Order) -> dict:
    fills = [
        {
            "price": fixed(f.price),
            "qty": fixed(f.qty),
            "commission": fixed(f.commission),
            "commissionAsset": f.commission_asset,
            "tradeId": f.trade_id,
        }
        for f in order.fills
    ]
    return {**order_result(order), "fills": fills}


def order_query(order: Order) -> dict:
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": order.order_list_id,
        "clientOrderId": order.client_order_id,
        "price": fixed(order.price),
        "origQty": fixed(order.orig_qty),
        "executedQty": fixed(order.executed_qty),
        "cummulativeQuoteQty": fixed(order.cum_quote),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "stopPrice": fixed(order.stop_price),
        "icebergQty": fixed(order.iceberg_qty),
        "time": order.time,
        "updateTime": order.update_time,
        "isWorking": order.is_working,
        "workingTime": order.working_time,
        "origQuoteOrderQty": fixed(order.orig_quote_qty),
        "selfTradePreventionMode": order.self_trade_prevention_mode,
    }


def order_cancel(order: Order) -> dict:
    head = {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": order.order_list_id,
        "clientOrderId": order.cancel_client_id,
        "transactTime": order.update_time,
    }
    return {
        **head,
        **_numbers(order),
        **_stop_fields(order),
        "selfTradePreventionMode": order.self_trade_prevention_mode,
    }


def list_result(order_list: OrderList, report) -> dict:
    return {
        "orderListId": order_list.order_list_id,
        "contingencyType": "OCO",
        "listStatusType": order_list.status_type,
        "listOrderStatus": order_list.status,
        "listClientOrderId": order_list.list_client_order_id,
        "transactionTime": order_list.transaction_time,
        "symbol": order_list.symbol,
        "orders": [
            {"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id}
            for o in order_list.orders
        ],
        "orderReports": [report(o) for o in order_list.orders],
    }


RESPONSES = {"ACK": order_ack, "RESULT": order_result, "FULL": order_full}


# --- trading -----------------------------------------------------------------------------------
def parse_new_order(ex: Exchange, call: Call) -> NewOrder:
    symbol = call.require("symbol")
    info = ex.spot.info(symbol)
    side = call.enum("side", ("BUY", "SELL"), errors.invalid_side())
    order_type = call.enum("type", ORDER_TYPES, errors.invalid_order_type())
    if order_type not in info.order_types:
        raise errors.new_order_rejected(UNSUPPORTED_TYPE[order_type])
    qty, quote_qty = call.decimal("quantity"), call.decimal("quoteOrderQty")
    _check_quantity_params(
        order_type, qty, quote_qty, info.raw.get("quoteOrderQtyMarketAllowed", True)
    )
    price = call.decimal("price", required=order_type in NEEDS_PRICE)
    if order_type not in NEEDS_PRICE and price is not None:
        raise errors.BinanceError(-1106, "Parameter 'price' sent when not required.")
    stop = call.decimal("stopPrice", required=order_type in NEEDS_STOP)
    if order_type in NEEDS_TIF:
        tif = call.enum("timeInForce", ("GTC", "IOC", "FOK"), errors.invalid_tif())
    elif call.get("timeInForce") is not None:
        raise errors.BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
    else:
        tif = "GTC"
    return NewOrder(
        symbol=symbol,
        side=side,
        type=order_type,
        qty=qty,
        price=price,
        stop_price=stop,
        quote_qty=quote_qty,
        iceberg_qty=call.decimal("icebergQty"),
        time_in_force=tif,
        client_order_id=call.client_id("newClientOrderId") or "",
    )


def _check_quantity_params(order_type: str, qty, quote_qty, quote_allowed: bool) -> None:
    if order_type != "MARKET":
        if qty is None:
            raise errors.mandatory("quantity")
        if quote_qty is not None:
            raise errors.BinanceError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        return
    if qty is None and quote_qty is None:
        raise errors.either("quantity", "quoteOrderQty")
    if qty is not None and quote_qty is not None:
        raise errors.BinanceError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
    if quote_qty is not None and not quote_allowed:
        raise errors.new_order_rejected(
            "Quote order qty market orders are not support for this symbol."
        )


def response_type(call: Call, order_type: str) -> str:
    default = "FULL" if order_type in ("MARKET", "LIMIT") else "ACK"
    return call.enum(
        "newOrderRespType",
        ("ACK", "RESULT", "FULL"),
        errors.invalid_param("newOrderRespType"),
        default,
    )


def new_order(ex: Exchange, call: Call) -> dict:
    req = parse_new_order(ex, call)
    kind = response_type(call, req.type)
    order = ex.spot.place(call.account, req)
    return RESPONSES[kind](order)


def new_test_order(ex: Exchange, call: Call) -> dict:
    """Validates parameters and filters like a real order; nothing reaches the engine."""
    req = parse_new_order(ex, call)
    response_type(call, req.type)
    ex.spot.validate(call.account, req)
    if call.flag("computeCommissionRates"):
        rates, zero = ex.spot.rates, fixed(ZERO)
        return {
            "standardCommissionForOrder": {
                "maker": fixed(rates.maker),
                "taker": fixed(rates.taker),
            },
            "specialCommissionForOrder": {"maker": zero, "taker": zero},
            "taxCommissionForOrder": {"maker": zero, "taker": zero},
            "discount": {
                "enabledForAccount": False,
                "enabledForSymbol": False,
                "discountAsset": "BNB",
                "discount": zero,
            },
        }
    return {}


def _lookup(ex: Exchange, call: Call, missing_error) -> Order:
    symbol = call.require("symbol")
    ex.spot.info(symbol)
    order_id, client_id = call.integer("orderId"), call.get("origClientOrderId")
    if order_id is None and client_id is None:
        raise errors.either("origClientOrderId", "orderId")
    try:
        return ex.spot.find(call.account, symbol, order_id, client_id)
    except errors.BinanceError as exc:
        raise missing_error from exc


def query_order(ex: Exchange, call: Call) -> dict:
    order = _lookup(ex, call, errors.no_such_order())
    if order.hidden_queries > 0:  # fault: a fresh order is not visible yet
        order.hidden_queries -= 1
        raise errors.no_such_order()
    return order_query(order)


def cancel_order(ex: Exchange, call: Call) -> dict:
    order = _lookup(ex, call, errors.unknown_order())
    result = ex.spot.cancel(order, call.client_id("newClientOrderId") or "")
    if isinstance(result, OrderList):
        return list_result(result, order_cancel)
    return order_cancel(result)


def open_orders(ex: Exchange, call: Call) -> list:
    symbol = call.get("symbol")
    if symbol is not None:
        ex.spot.info(symbol)
    return [order_query(o) for o in ex.spot.open_orders(call.account, symbol)]


def cancel_open_orders(ex: Exchange, call: Call) -> list:
    symbol = call.require("symbol")
    ex.spot.info(symbol)
    orders = ex.spot.open_orders(call.account, symbol)
    if not orders:
        raise errors.BinanceError(-2011, errors.MSG_UNKNOWN_ORDER)
    result, seen_lists = [], set()
    for order in orders:
        if not order.is_open or order.order_list_id in seen_lists:
            continue
        outcome = ex.spot.cancel(order, "")
        if isinstance(outcome, OrderList):
            seen_lists.add(outcome.order_list_id)
            result.append(list_result(outcome, order_cancel))
        else:
            result.append(order_cancel(outcome))
    return result


def _time_window(rows, call: Call, time_of):
    start, end = call.integer("startTime"), call.integer("endTime")
    return [
        r
        for r in rows
        if (start is None or time_of(r) >= start) and (end is None or time_of(r) <= end)
    ]


def all_orders(ex: Exchange, call: Call) -> list:
    symbol = call.require("symbol")
    ex.spot.info(symbol)
    orders = ex.spot.account_orders(call.account, symbol)
    order_id = call.integer("orderId")
    if order_id is not None:
        orders = [o for o in orders if o.order_id >= order_id]
    orders = _time_window(orders, call, lambda o: o.time)
    return [order_query(o) for o in orders[: call.limit(500, 1000)]]


def my_trades(ex: Exchange, call: Call) -> list:
    symbol = call.require("symbol")
    ex.spot.info(symbol)
    trades = [t for t in ex.spot.trades if t.symbol == symbol and t.order.account is call.account]
    order_id, from_id = call.integer("orderId"), call.integer("fromId")
    if order_id is not None:
        trades = [t for t in trades if t.order.order_id == order_id]
    if from_id is not None:
        trades = [t for t in trades if t.trade_id >= from_id]
    trades = _time_window(trades, call, lambda t: t.fill.time)
    return [_trade_row(t) for t in trades[: call.limit(500, 1000)]]


def _trade_row(t) -> dict:
    f = t.fill
    return {
        "symbol": t.symbol,
        "id": t.trade_id,
        "orderId": t.order.order_id,
        "orderListId": t.order.order_list_id,
        "price": fixed(f.price),
        "qty": fixed(f.qty),
        "quoteQty": fixed(f.price * f.qty),
        "commission": fixed(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time,
        "isBuyer": t.is_buyer,
        "isMaker": f.is_maker,
        "isBestMatch": True,
    }


def my_trades_weight(call: Call) -> int:
    return 5 if call.get("orderId") else 20


def account(ex: Exchange, call: Call) -> dict:
    acct, rates = call.account, ex.spot.rates
    rows = sorted(acct.spot.balances.items())
    if call.flag("omitZeroBalances"):
        rows = [(a, b) for a, b in rows if b.free or b.locked]
    balances = [{"asset": a, "free": fixed(b.free), "locked": fixed(b.locked)} for a, b in rows]
    return {
        "makerCommission": int(rates.maker * 10000),
        "takerCommission": int(rates.taker * 10000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fixed(rates.maker),
            "taker": fixed(rates.taker),
            "buyer": fixed(ZERO),
            "seller": fixed(ZERO),
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": acct.update_time,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": acct.uid,
    }


def api_restrictions(ex: Exchange, call: Call) -> dict:
    key = call.api_key
    return {
        "ipRestrict": key.ip_restrict,
        "createTime": key.create_time,
        "enableReading": key.enable_reading,
        "enableWithdrawals": key.enable_withdrawals,
        "enableInternalTransfer": False,
        "enableMargin": False,
        "enableFutures": key.enable_futures,
        "permitsUniversalTransfer": False,
        "enableVanillaOptions": False,
        "enableFixApiTrade": False,
        "enableFixReadOnly": False,
        "enableSpotAndMarginTrading": key.can_trade,
        "enablePortfolioMarginTrading": False,
    }


def rate_limit_order(ex: Exchange, call: Call) -> list:
    return ex.rate_limits.order_counts(call.account, ex.now())


# --- OCO -----------------------------------------------------------------------------------------
def oco_leg(call: Call, prefix: str, symbol: str, side: str, qty) -> NewOrder:
    leg_type = call.enum(f"{prefix}Type", ORDER_TYPES, errors.invalid_order_type())
    tif = call.get(f"{prefix}TimeInForce", "GTC") if leg_type in NEEDS_TIF else "GTC"
    return NewOrder(
        symbol=symbol,
        side=side,
        type=leg_type,
        qty=qty,
        price=call.decimal(f"{prefix}Price", required=leg_type in NEEDS_PRICE),
        stop_price=call.decimal(f"{prefix}StopPrice", required=leg_type in NEEDS_STOP),
        iceberg_qty=call.decimal(f"{prefix}IcebergQty"),
        time_in_force=tif,
        client_order_id=call.client_id(f"{prefix}ClientOrderId") or "",
    )


def new_oco(ex: Exchange, call: Call) -> dict:
    """POST /api/v3/orderList/oco: explicit above/below legs."""
    symbol = call.require("symbol")
    ex.spot.info(symbol)
    side = call.enum("side", ("BUY", "SELL"), errors.invalid_side())
    qty = call.decimal("quantity", required=True)
    legs = [oco_leg(call, "below", symbol, side, qty), oco_leg(call, "above", symbol, side, qty)]
    order_list = ex.spot.place_oco(call.account, legs, call.client_id("listClientOrderId") or "")
    return list_result(order_list, order_result)


def new_oco_legacy(ex: Exchange, call: Call) -> dict:
    """POST /api/v3/order/oco: price = LIMIT_MAKER leg, stopPrice(+stopLimitPrice) = stop leg."""
    symbol = call.require("symbol")
    ex.spot.info(symbol)
    side = call.enum("side", ("BUY", "SELL"), errors.invalid_side())
    qty = call.decimal("quantity", required=True)
    stop_limit = call.decimal("stopLimitPrice")
    limit = NewOrder(
        symbol=symbol,
        side=side,
        type="LIMIT_MAKER",
        qty=qty,
        price=call.decimal("price", True),
        client_order_id=call.client_id("limitClientOrderId") or "",
    )
    stop = NewOrder(
        symbol=symbol,
        side=side,
        type="STOP_LOSS_LIMIT" if stop_limit else "STOP_LOSS",
        qty=qty,
        price=stop_limit,
        stop_price=call.decimal("stopPrice", True),
        time_in_force=call.get("stopLimitTimeInForce", "GTC"),
        client_order_id=call.client_id("stopClientOrderId") or "",
    )
    if stop.type not in ex.spot.info(symbol).order_types:
        raise errors.new_order_rejected(UNSUPPORTED_TYPE[stop.type])
    legs = [stop, limit] if side == "SELL" else [limit, stop]
    order_list = ex.spot.place_oco(call.account, legs, call.client_id("listClientOrderId") or "")
    return list_result(order_list, order_result)


def order_test_weight(call: Call) -> int:
    return 20 if call.flag("computeCommissionRates") else 1


def register(routes: Routes) -> None:
    s, t, u = Security.NONE, Security.TRADE, Security.USER_DATA
    api = "/api/v3/"

    def add(method, path, handler, security, weight=1, order=False):
        routes.add(method, api + path, handler, security, weight=weight, order=order)

    add("GET", "ping", ping, s)
    add("GET", "time", server_time, s)
    add("GET", "exchangeInfo", exchange_info, s, 20)
    add("GET", "klines", klines, s, 2)
    add("GET", "uiKlines", klines, s, 2)
    add("GET", "ticker/24hr", ticker_24hr, s, by_symbol(2, 80))
    add("GET", "ticker/bookTicker", book_ticker, s, by_symbol(2, 4))
    add("GET", "ticker/price", price_ticker, s, by_symbol(2, 4))
    add("GET", "avgPrice", avg_price, s, 2)
    add("GET", "depth", depth, s, depth_weight)
    add("POST", "order", new_order, t, order=True)
    add("POST", "order/test", new_test_order, t, order_test_weight)
    add("GET", "order", query_order, u, 4)
    add("DELETE", "order", cancel_order, t)
    add("GET", "openOrders", open_orders, u, by_symbol(6, 80))
    add("DELETE", "openOrders", cancel_open_orders, t)
    add("GET", "allOrders", all_orders, u, 20)
    add("GET", "myTrades", my_trades, u, my_trades_weight)
    add("GET", "account", account, u, 20)
    add("GET", "rateLimit/order", rate_limit_order, u, 40)
    add("POST", "orderList/oco", new_oco, t, order=True)
    add("POST", "order/oco", new_oco_legacy, t, order=True)
    routes.add("GET", "/sapi/v1/account/apiRestrictions", api_restrictions, u, market="sapi")
