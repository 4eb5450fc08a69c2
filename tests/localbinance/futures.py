"""USD-M futures REST endpoints (/fapi/v1, v2, v3) in the versions python-binance calls.

Shapes follow shared/data/binance/futures_um/rest and the Binance derivatives docs
(algo orders: New/Query/Cancel Algo Order examples).
"""

from __future__ import annotations

from decimal import Decimal

from . import errors, payloads
from .data import futures_exchange_header
from .decimals import ZERO, fixed, plain
from .exchange import Exchange
from .futures_engine import CONDITIONAL, AlgoOrder, FuturesNewOrder
from .orders import Order, random_client_id
from .rest import FUTURES_CLIENT_ID_PATTERN, Call, Routes, Security, by_symbol
from .spot import _each, depth, klines, requested_symbols

TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX", "GTD")
CANCEL_ALL_DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}


def _info(ex: Exchange, call: Call):
    return ex.futures.info(call.require("symbol"))


# --- market data -------------------------------------------------------------------------------
def exchange_info(ex: Exchange, call: Call) -> dict:
    return {
        **futures_exchange_header(),
        "serverTime": ex.now(),
        "symbols": [i.raw for i in ex.symbols["futures"].values()],
    }


def futures_klines(ex: Exchange, call: Call) -> list:
    return klines(ex, call, market="futures")


def klines_weight(call: Call) -> int:
    limit = int(call.get("limit", "500") or 500)
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


def futures_depth(ex: Exchange, call: Call) -> dict:
    return depth(ex, call, market="futures")


def depth_weight(call: Call) -> int:
    limit = int(call.get("limit", "500") or 500)
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def book_ticker(ex: Exchange, call: Call):
    return _each(ex, call, lambda i, m: payloads.book_ticker(i, m, futures=True), market="futures")


def price_ticker(ex: Exchange, call: Call):
    return _each(
        ex, call, lambda i, m: {**payloads.price_ticker(i, m), "time": m.now_ms}, market="futures"
    )


def ticker_24hr(ex: Exchange, call: Call):
    return _each(ex, call, payloads.futures_ticker_24hr, market="futures")


# --- orders ------------------------------------------------------------------------------------
def _order_fields(ex: Exchange, order: Order) -> dict:
    info = ex.symbols["futures"][order.symbol]
    return {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": order.status,
        "clientOrderId": order.client_order_id,
        "price": info.px(order.price),
        "avgPrice": info.px(order.avg_price),
        "origQty": info.qty(order.orig_qty),
        "executedQty": info.qty(order.executed_qty),
        "cumQuote": fixed(order.cum_quote, info.price_precision),
        "timeInForce": order.time_in_force,
        "type": order.type,
        "reduceOnly": order.reduce_only,
        "closePosition": order.close_position,
        "side": order.side,
        "positionSide": order.position_side,
        "stopPrice": info.px(order.stop_price),
        "workingType": order.working_type,
        "priceProtect": order.price_protect,
        "origType": order.orig_type or order.type,
        "priceMatch": order.price_match,
        "selfTradePreventionMode": order.self_trade_prevention_mode,
        "goodTillDate": order.good_till_date,
    }


def order_query(ex: Exchange, order: Order) -> dict:
    return {**_order_fields(ex, order), "time": order.time, "updateTime": order.update_time}


def order_response(ex: Exchange, order: Order) -> dict:
    info = ex.symbols["futures"][order.symbol]
    return {
        **_order_fields(ex, order),
        "cumQty": info.qty(order.executed_qty),
        "updateTime": order.update_time,
    }


def new_order(ex: Exchange, call: Call) -> dict:
    info = _info(ex, call)
    side = call.enum("side", ("BUY", "SELL"), errors.invalid_side())
    order_type = call.require("type")
    if order_type in CONDITIONAL:
        raise errors.futures(-4120)
    if order_type not in ("LIMIT", "MARKET"):
        raise errors.invalid_order_type()
    qty = call.decimal("quantity", required=True)
    price = call.decimal("price", required=order_type == "LIMIT")
    tif = (
        call.enum("timeInForce", TIME_IN_FORCE, errors.invalid_tif())
        if order_type == "LIMIT"
        else "GTC"
    )
    resp_type = call.enum(
        "newOrderRespType", ("ACK", "RESULT"), errors.invalid_param("newOrderRespType"), "ACK"
    )
    req = FuturesNewOrder(
        info.symbol,
        side,
        order_type,
        qty,
        price,
        tif,
        call.client_id("newClientOrderId", FUTURES_CLIENT_ID_PATTERN) or "",
        reduce_only=call.flag("reduceOnly"),
    )
    order = ex.futures.create(call.account, req)
    ack = order_response(ex, order)  # ACK answers with the order as accepted (NEW)
    ex.futures.execute_new(order)
    return ack if resp_type == "ACK" else order_response(ex, order)


def _lookup(ex: Exchange, call: Call, missing) -> Order:
    info = _info(ex, call)
    order_id, client_id = call.integer("orderId"), call.get("origClientOrderId")
    if order_id is None and client_id is None:
        raise errors.either("orderId", "origClientOrderId")
    try:
        return ex.futures.find(call.account, info.symbol, order_id, client_id)
    except errors.BinanceError as exc:
        raise missing from exc


def query_order(ex: Exchange, call: Call) -> dict:
    order = _lookup(ex, call, errors.no_such_order())
    if order.hidden_queries > 0:
        order.hidden_queries -= 1
        raise errors.no_such_order()
    return order_query(ex, order)


def cancel_order(ex: Exchange, call: Call) -> dict:
    order = ex.futures.cancel(_lookup(ex, call, errors.unknown_order()))
    return order_response(ex, order)


def open_orders(ex: Exchange, call: Call) -> list:
    symbol = call.get("symbol")
    if symbol is not None:
        ex.futures.info(symbol)
    return [order_query(ex, o) for o in ex.futures.open_orders(call.account, symbol)]


def all_orders(ex: Exchange, call: Call) -> list:
    info = _info(ex, call)
    orders = [o for o in ex.futures.orders[info.symbol] if o.account is call.account]
    return [order_query(ex, o) for o in orders[-call.limit(500, 1000) :]]


def cancel_all(ex: Exchange, call: Call) -> dict:
    info = _info(ex, call)
    for order in ex.futures.open_orders(call.account, info.symbol):
        ex.futures.cancel(order)
    return CANCEL_ALL_DONE


def user_trades(ex: Exchange, call: Call) -> list:
    info = _info(ex, call)
    trades = [
        t for t in ex.futures.trades if t.symbol == info.symbol and t.order.account is call.account
    ]
    order_id, from_id = call.integer("orderId"), call.integer("fromId")
    trades = [t for t in trades if (order_id is None or t.order.order_id == order_id)]
    trades = [t for t in trades if (from_id is None or t.trade_id >= from_id)]
    rows = []
    for t in trades[-call.limit(500, 1000) :]:
        f = t.fill
        rows.append(
            {
                "symbol": t.symbol,
                "id": t.trade_id,
                "orderId": t.order.order_id,
                "side": t.order.side,
                "price": plain(f.price),
                "qty": plain(f.qty),
                "realizedPnl": fixed(f.realized_pnl),
                "marginAsset": info.quote,
                "quoteQty": plain(f.price * f.qty),
                "commission": fixed(f.commission),
                "commissionAsset": f.commission_asset,
                "time": f.time,
                "positionSide": "BOTH",
                "buyer": t.is_buyer,
                "maker": f.is_maker,
            }
        )
    return rows


# --- algo orders -------------------------------------------------------------------------------
def _algo_body(ex: Exchange, algo: AlgoOrder) -> dict:
    info = ex.symbols["futures"][algo.symbol]
    trailing = algo.type == "TRAILING_STOP_MARKET"
    return {
        "algoId": algo.algo_id,
        "clientAlgoId": algo.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": algo.type,
        "symbol": algo.symbol,
        "side": algo.side,
        "positionSide": "BOTH",
        "timeInForce": algo.time_in_force,
        "quantity": info.qty(algo.qty),
        "algoStatus": algo.status,
        "triggerPrice": info.px(algo.trigger_price),
        "price": info.px(algo.price),
        "icebergQuantity": None,
        "selfTradePreventionMode": "NONE",
        "workingType": algo.working_type,
        "priceMatch": "NONE",
        "closePosition": algo.close_position,
        "priceProtect": algo.price_protect,
        "reduceOnly": algo.reduce_only,
        "activatePrice": info.px(algo.activate_price) if trailing and algo.activate_price else "",
        "callbackRate": plain(algo.callback_rate) if trailing and algo.callback_rate else "",
        "createTime": algo.create_time,
        "updateTime": algo.update_time,
        "triggerTime": algo.trigger_time,
        "goodTillDate": 0,
    }


def _algo_query(ex: Exchange, algo: AlgoOrder) -> dict:
    info = ex.symbols["futures"][algo.symbol]
    actual = algo.actual_order
    zero = info.px(ZERO)
    extra = {
        "actualOrderId": str(actual.order_id) if actual else "",
        "actualPrice": info.px(actual.avg_price) if actual else zero,
        "tpTriggerPrice": zero,
        "tpPrice": zero,
        "slTriggerPrice": zero,
        "slPrice": zero,
        "tpOrderType": "",
    }
    return {**_algo_body(ex, algo), **extra}


def new_algo_order(ex: Exchange, call: Call) -> dict:
    info = _info(ex, call)
    call.enum("algoType", ("CONDITIONAL",), errors.invalid_param("algoType"))
    order_type = call.enum("type", CONDITIONAL, errors.invalid_order_type())
    close_position = call.flag("closePosition")
    qty = ZERO if close_position else call.decimal("quantity", required=True)
    trailing = order_type == "TRAILING_STOP_MARKET"
    trigger = ZERO if trailing else call.decimal("triggerPrice", required=True)
    price = call.decimal("price", required=order_type in ("STOP", "TAKE_PROFIT")) or ZERO
    callback = call.decimal("callbackRate", required=trailing)
    if callback is not None and not Decimal("0.1") <= callback <= Decimal("10"):
        raise errors.invalid_param("callbackRate")
    now = ex.now()
    algo = AlgoOrder(
        algo_id=ex.futures.next_algo_id(),
        client_algo_id=call.client_id("clientAlgoId", FUTURES_CLIENT_ID_PATTERN)
        or random_client_id(),
        account=call.account,
        symbol=info.symbol,
        side=call.enum("side", ("BUY", "SELL"), errors.invalid_side()),
        type=order_type,
        qty=qty,
        price=price,
        trigger_price=trigger,
        time_in_force=call.get("timeInForce", "GTC"),
        working_type=call.get("workingType", "CONTRACT_PRICE"),
        reduce_only=call.flag("reduceOnly"),
        close_position=close_position,
        price_protect=call.flag("priceProtect"),
        activate_price=call.decimal("activatePrice"),
        callback_rate=callback,
        create_time=now,
        update_time=now,
    )
    return _algo_body(ex, ex.futures.create_algo(call.account, algo))


def _find_algo(ex: Exchange, call: Call, missing) -> AlgoOrder:
    algo_id, client_id = call.integer("algoId"), call.get("clientAlgoId")
    if algo_id is None and client_id is None:
        raise errors.either("algoId", "clientAlgoId")
    try:
        return ex.futures.find_algo(call.account, algo_id, client_id)
    except errors.BinanceError as exc:
        raise missing from exc


def query_algo(ex: Exchange, call: Call) -> dict:
    return _algo_query(ex, _find_algo(ex, call, errors.no_such_order()))


def cancel_algo(ex: Exchange, call: Call) -> dict:
    algo = ex.futures.cancel_algo(_find_algo(ex, call, errors.unknown_order()))
    return {
        "algoId": algo.algo_id,
        "clientAlgoId": algo.client_algo_id,
        "code": "200",
        "msg": "success",
    }


def open_algo_orders(ex: Exchange, call: Call) -> list:
    symbol = call.get("symbol")
    algos = [a for a in ex.futures.algos if a.account is call.account and a.is_open]
    return [_algo_query(ex, a) for a in algos if symbol is None or a.symbol == symbol]


def cancel_all_algos(ex: Exchange, call: Call) -> dict:
    info = _info(ex, call)
    for algo in [
        a for a in ex.futures.algos if a.account is call.account and a.symbol == info.symbol
    ]:
        if algo.status == "NEW":
            ex.futures.cancel_algo(algo)
    return CANCEL_ALL_DONE


# --- account -------------------------------------------------------------------------------------
def _position_common(ex: Exchange, symbol: str, account) -> dict:
    info = ex.symbols["futures"][symbol]
    pos = account.futures.position(symbol)
    mark = ex.futures.mark(symbol)
    return {
        "symbol": symbol,
        "positionAmt": info.qty(pos.amount),
        "entryPrice": fixed(pos.entry_price),
        "breakEvenPrice": fixed(pos.entry_price),
        "markPrice": fixed(mark),
        "unRealizedProfit": fixed(ex.futures.unrealized(account, symbol)),
        "liquidationPrice": "0",
        "isolatedMargin": fixed(pos.isolated_wallet),
        "notional": fixed(pos.amount * mark),
        "isolatedWallet": fixed(pos.isolated_wallet),
        "positionSide": "BOTH",
        "updateTime": pos.update_time,
    }


def _v2_fields(pos) -> dict:
    return {
        "leverage": str(pos.leverage),
        "maxNotionalValue": "250000",
        "marginType": pos.margin_type,
        "isAutoAddMargin": "false",
    }


def position_risk_v2(ex: Exchange, call: Call) -> list:
    symbols = requested_symbols(ex, call, "futures") or list(ex.symbols["futures"])
    account = call.account
    return [
        {**_position_common(ex, s, account), **_v2_fields(account.futures.position(s))}
        for s in symbols
    ]


def position_risk_v3(ex: Exchange, call: Call) -> list:
    """v3 lists only symbols with a position or open orders (Binance v3 behaviour)."""
    symbols = requested_symbols(ex, call, "futures") or list(ex.symbols["futures"])
    account, rows = call.account, []
    for symbol in symbols:
        pos = account.futures.position(symbol)
        if pos.amount == 0 and not ex.futures.open_orders(account, symbol):
            continue
        margin = fixed(ex.futures.position_margin(account, symbol))
        order_margin = sum(
            (ex.futures.order_margin(o) for o in ex.futures.open_orders(account, symbol)), ZERO
        )
        rows.append(
            {
                **_position_common(ex, symbol, account),
                **_v2_fields(pos),
                "marginAsset": ex.symbols["futures"][symbol].quote,
                "initialMargin": margin,
                "maintMargin": fixed(abs(pos.amount) * ex.futures.mark(symbol) * Decimal("0.004")),
                "positionInitialMargin": margin,
                "openOrderInitialMargin": fixed(order_margin),
                "adl": 0,
                "bidNotional": "0",
                "askNotional": "0",
            }
        )
    return rows


def _asset_rows(ex: Exchange, account) -> list[dict]:
    rows = []
    for asset, wallet in sorted(account.futures.balances.items()):
        pnl = sum(
            (
                ex.futures.unrealized(account, s)
                for s, i in ex.symbols["futures"].items()
                if i.quote == asset
            ),
            ZERO,
        )
        rows.append((asset, wallet, pnl, ex.futures.available(account, asset)))
    return rows


def balance_v3(ex: Exchange, call: Call) -> list:
    account = call.account
    return [
        {
            "accountAlias": "SgsR",
            "asset": a,
            "balance": fixed(w),
            "crossWalletBalance": fixed(w),
            "crossUnPnl": fixed(p),
            "availableBalance": fixed(avail),
            "maxWithdrawAmount": fixed(avail),
            "marginAvailable": True,
            "updateTime": account.futures.update_time,
        }
        for a, w, p, avail in _asset_rows(ex, account)
    ]


def account_v2(ex: Exchange, call: Call) -> dict:
    account, rows = call.account, _asset_rows(ex, call.account)
    usdt = next((r for r in rows if r[0] == "USDT"), ("USDT", ZERO, ZERO, ZERO))
    position_margin = sum(
        (ex.futures.position_margin(account, s) for s in ex.symbols["futures"]), ZERO
    )
    order_margin = sum((ex.futures.order_margin(o) for o in ex.futures.open_orders(account)), ZERO)
    assets = [
        {
            "asset": a,
            "walletBalance": fixed(w),
            "unrealizedProfit": fixed(p),
            "marginBalance": fixed(w + p),
            "maintMargin": fixed(ZERO),
            "initialMargin": fixed(position_margin + order_margin if a == "USDT" else ZERO),
            "positionInitialMargin": fixed(position_margin if a == "USDT" else ZERO),
            "openOrderInitialMargin": fixed(order_margin if a == "USDT" else ZERO),
            "crossWalletBalance": fixed(w),
            "crossUnPnl": fixed(p),
            "availableBalance": fixed(avail),
            "maxWithdrawAmount": fixed(avail),
            "marginAvailable": True,
            "updateTime": account.futures.update_time,
        }
        for a, w, p, avail in rows
    ]
    positions = []
    for symbol in ex.symbols["futures"]:
        pos = account.futures.position(symbol)
        margin = fixed(ex.futures.position_margin(account, symbol))
        positions.append(
            {
                "symbol": symbol,
                "initialMargin": margin,
                "maintMargin": "0",
                "unrealizedProfit": fixed(ex.futures.unrealized(account, symbol)),
                "positionInitialMargin": margin,
                "openOrderInitialMargin": "0",
                "leverage": str(pos.leverage),
                "isolated": pos.margin_type == "isolated",
                "entryPrice": fixed(pos.entry_price),
                "maxNotional": "250000",
                "bidNotional": "0",
                "askNotional": "0",
                "positionSide": "BOTH",
                "positionAmt": ex.symbols["futures"][symbol].qty(pos.amount),
                "updateTime": pos.update_time,
            }
        )
    _, wallet, pnl, avail = usdt
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "updateTime": account.futures.update_time,
        "multiAssetsMargin": False,
        "tradeGroupId": -1,
        "totalInitialMargin": fixed(position_margin + order_margin),
        "totalMaintMargin": fixed(ZERO),
        "totalWalletBalance": fixed(wallet),
        "totalUnrealizedProfit": fixed(pnl),
        "totalMarginBalance": fixed(wallet + pnl),
        "totalPositionInitialMargin": fixed(position_margin),
        "totalOpenOrderInitialMargin": fixed(order_margin),
        "totalCrossWalletBalance": fixed(wallet),
        "totalCrossUnPnl": fixed(pnl),
        "availableBalance": fixed(avail),
        "maxWithdrawAmount": fixed(avail),
        "assets": assets,
        "positions": positions,
    }


def change_leverage(ex: Exchange, call: Call) -> dict:
    info = _info(ex, call)
    raw = call.require("leverage")
    if not raw.isdigit() or not 1 <= int(raw) <= 125:
        raise errors.futures(-4028, raw)
    call.account.futures.position(info.symbol).leverage = int(raw)
    return {"leverage": int(raw), "maxNotionalValue": "1000000", "symbol": info.symbol}


def change_margin_type(ex: Exchange, call: Call) -> dict:
    info = _info(ex, call)
    wanted = call.enum("marginType", ("ISOLATED", "CROSSED"), errors.invalid_param("marginType"))
    pos = call.account.futures.position(info.symbol)
    target = "isolated" if wanted == "ISOLATED" else "cross"
    if pos.margin_type == target:
        raise errors.futures(-4046)
    if pos.amount != 0:
        raise errors.BinanceError(-4048, "Margin type cannot be changed if there exists position.")
    if ex.futures.open_orders(call.account, info.symbol):
        raise errors.BinanceError(
            -4047, "Margin type cannot be changed if there exists open orders."
        )
    pos.margin_type = target
    return {"code": 200, "msg": "success"}


# --- user data stream ----------------------------------------------------------------------------
def new_listen_key(ex: Exchange, call: Call) -> dict:
    return {"listenKey": ex.events.listen_keys.create(call.account)}


def keepalive_listen_key(ex: Exchange, call: Call) -> dict:
    ex.events.listen_keys.extend(call.account, call.get("listenKey"))
    return {}


def close_listen_key(ex: Exchange, call: Call) -> dict:
    for key in ex.events.listen_keys.delete(call.account, call.get("listenKey")):
        for conn in ex.hub.of_kind("futures_user"):
            if conn.listen_key == key:
                conn.close()
    return {}


def ping(ex: Exchange, call: Call) -> dict:
    return {}


def server_time(ex: Exchange, call: Call) -> dict:
    return {"serverTime": ex.now()}


def register(routes: Routes) -> None:
    s, t, u, k = Security.NONE, Security.TRADE, Security.USER_DATA, Security.USER_STREAM
    v1, v2, v3 = "/fapi/v1/", "/fapi/v2/", "/fapi/v3/"

    def add(method, path, handler, security, weight=1, order=False):
        routes.add(method, path, handler, security, weight=weight, order=order, market="futures")

    add("GET", v1 + "ping", ping, s)
    add("GET", v1 + "time", server_time, s)
    add("GET", v1 + "exchangeInfo", exchange_info, s)
    add("GET", v1 + "klines", futures_klines, s, klines_weight)
    add("GET", v1 + "depth", futures_depth, s, depth_weight)
    add("GET", v1 + "ticker/bookTicker", book_ticker, s, by_symbol(2, 5))
    add("GET", v1 + "ticker/price", price_ticker, s, by_symbol(1, 2))
    add("GET", v2 + "ticker/price", price_ticker, s, by_symbol(1, 2))  # futures_symbol_ticker
    add("GET", v1 + "ticker/24hr", ticker_24hr, s, by_symbol(1, 40))
    add("POST", v1 + "order", new_order, t, weight=0, order=True)
    add("GET", v1 + "order", query_order, u)
    add("DELETE", v1 + "order", cancel_order, t)
    add("GET", v1 + "openOrders", open_orders, u, by_symbol(1, 40))
    add("GET", v1 + "allOrders", all_orders, u, 5)
    add("DELETE", v1 + "allOpenOrders", cancel_all, t)
    add("POST", v1 + "algoOrder", new_algo_order, t, weight=0, order=True)
    add("GET", v1 + "algoOrder", query_algo, u)
    add("DELETE", v1 + "algoOrder", cancel_algo, t)
    add("GET", v1 + "openAlgoOrders", open_algo_orders, u, by_symbol(1, 40))
    add("DELETE", v1 + "algoOpenOrders", cancel_all_algos, t)
    add("GET", v1 + "userTrades", user_trades, u, 5)
    add("GET", v2 + "positionRisk", position_risk_v2, u, 5)
    add("GET", v3 + "positionRisk", position_risk_v3, u, 5)
    add("GET", v2 + "account", account_v2, u, 5)
    add("GET", v2 + "balance", balance_v3, u, 5)
    add("GET", v3 + "balance", balance_v3, u, 5)
    add("POST", v1 + "leverage", change_leverage, t)
    add("POST", v1 + "marginType", change_margin_type, t)
    add("POST", v1 + "listenKey", new_listen_key, k)
    add("PUT", v1 + "listenKey", keepalive_listen_key, k)
    add("DELETE", v1 + "listenKey", close_listen_key, k)
