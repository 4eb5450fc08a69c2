"""Binance USD-M futures orders through the exchange layer.

Since 2025-12-09 Binance takes conditional orders (STOP_MARKET, TAKE_PROFIT_MARKET,
TRAILING_STOP_MARKET, ...) only on the algo endpoint (POST /fapi/v1/algoOrder). They carry our
id as `clientAlgoId` and are looked up, cancelled and followed by it; once triggered, the algo
order places an ordinary order (its `actualOrderId`) whose trades are the algo order's fills.
"""

from datetime import UTC, datetime
from decimal import Decimal

from marketdata.exchange.errors import DefiniteRejection
from marketdata.exchange.filters import format_decimal
from marketdata.exchange.gateway import BinanceGateway
from orders.gateways.base import ExchangeOrder, OrderReport, TradeFill

CONDITIONAL_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                               "TRAILING_STOP_MARKET"})
NO_NEED_TO_CHANGE_MARGIN_TYPE = -4046
ZERO = Decimal("0")
# An algo order's own life, mapped onto order statuses; TRIGGERED/FINISHED follow the order
# it placed.
ALGO_STATUS = {"NEW": "NEW", "TRIGGERING": "NEW", "CANCELED": "CANCELED", "EXPIRED": "EXPIRED",
               "REJECTED": "REJECTED"}


def is_conditional(order) -> bool:
    return order.type in CONDITIONAL_TYPES


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _amounts(order) -> dict[str, str]:
    params = {"quantity": format_decimal(order.quantity)}
    if order.price is not None:
        params["price"] = format_decimal(order.price)
    if order.time_in_force and order.price is not None:
        params["timeInForce"] = order.time_in_force
    if order.reduce_only:
        params["reduceOnly"] = "true"
    if order.position_side:
        params["positionSide"] = order.position_side
    return params


def order_params(order) -> dict[str, str]:
    return {"symbol": order.symbol, "side": order.side, "type": order.type,
            "newClientOrderId": order.client_order_id, "newOrderRespType": "RESULT",
            **_amounts(order)}


def algo_params(order) -> dict[str, str]:
    params = {"algoType": "CONDITIONAL", "symbol": order.symbol, "side": order.side,
              "type": order.type, "clientAlgoId": order.client_order_id, **_amounts(order)}
    if order.type == "TRAILING_STOP_MARKET":
        params["callbackRate"] = format_decimal(order.callback_rate)
        if order.activation_price is not None:
            params["activatePrice"] = format_decimal(order.activation_price)
    else:
        params["triggerPrice"] = format_decimal(order.stop_price)
    return params


def exchange_order(raw: dict) -> ExchangeOrder:
    # Futures answers carry no fills: they come from userTrades or the user stream.
    return ExchangeOrder(status=raw["status"], exchange_order_id=raw.get("orderId"),
                         executed_qty=Decimal(raw.get("executedQty", "0")),
                         cumulative_quote=Decimal(raw.get("cumQuote", "0")))


def fill_from_user_trades(raw: dict) -> TradeFill:
    return TradeFill(trade_id=int(raw["id"]), price=Decimal(raw["price"]),
                     quantity=Decimal(raw["qty"]), quote_quantity=Decimal(raw["quoteQty"]),
                     commission=Decimal(raw["commission"]),
                     commission_asset=raw["commissionAsset"], is_maker=bool(raw["maker"]),
                     executed_at=_at(raw["time"]))


def order_report(raw: dict) -> OrderReport:
    return OrderReport(client_order_id=raw["clientOrderId"], symbol=raw["symbol"],
                       side=raw["side"], order_type=raw["type"],
                       quantity=Decimal(raw["origQty"]), price=Decimal(raw["price"]),
                       answer=exchange_order(raw), event_time=raw.get("updateTime", 0))


def algo_report(raw: dict) -> OrderReport:
    answer = ExchangeOrder(status=ALGO_STATUS.get(raw["algoStatus"], "NEW"),
                           exchange_order_id=raw.get("algoId"), executed_qty=ZERO,
                           cumulative_quote=ZERO)
    return OrderReport(client_order_id=raw["clientAlgoId"], symbol=raw["symbol"],
                       side=raw["side"], order_type=raw["orderType"],
                       quantity=Decimal(raw["quantity"] or "0"),
                       price=Decimal(raw.get("price") or "0"), answer=answer,
                       event_time=raw.get("updateTime", 0))


class BinanceFuturesGateway:
    market = "futures"

    def __init__(self, gateway: BinanceGateway):
        self.gateway = gateway
        self.venue = gateway.venue.key

    def place(self, order) -> ExchangeOrder:
        if is_conditional(order):
            raw = self.gateway.call("futures_create_algo_order", **algo_params(order))
            return ExchangeOrder(status="NEW", exchange_order_id=raw.get("algoId"),
                                 executed_qty=ZERO, cumulative_quote=ZERO)
        return exchange_order(self.gateway.call("futures_create_order", **order_params(order)))

    def query(self, order) -> ExchangeOrder:
        if not is_conditional(order):
            return exchange_order(self.gateway.call(
                "futures_get_order", symbol=order.symbol, origClientOrderId=order.client_order_id))
        raw = self._algo(order)
        actual = self._actual_order(order, raw)
        if actual is None:
            return ExchangeOrder(status=ALGO_STATUS.get(raw["algoStatus"], "NEW"),
                                 exchange_order_id=raw.get("algoId"), executed_qty=ZERO,
                                 cumulative_quote=ZERO)
        answer = exchange_order(actual)
        answer.exchange_order_id = raw.get("algoId")
        return answer

    def cancel(self, order) -> ExchangeOrder:
        if not is_conditional(order):
            return exchange_order(self.gateway.call(
                "futures_cancel_order", symbol=order.symbol,
                origClientOrderId=order.client_order_id))
        raw = self.gateway.call("futures_cancel_algo_order", symbol=order.symbol,
                                clientAlgoId=order.client_order_id)
        return ExchangeOrder(status="CANCELED", exchange_order_id=raw.get("algoId"),
                             executed_qty=order.executed_qty,
                             cumulative_quote=order.cumulative_quote)

    def trades(self, order) -> list[TradeFill]:
        order_id = order.exchange_order_id
        if is_conditional(order):
            actual = self._actual_order(order, self._algo(order))
            if actual is None:
                return []
            order_id = actual["orderId"]
        raw = self.gateway.call("futures_account_trades", symbol=order.symbol, orderId=order_id)
        return [fill_from_user_trades(t) for t in raw]

    def open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        params = {"symbol": symbol} if symbol else {}
        plain = [order_report(raw) for raw in self.gateway.call("futures_get_open_orders",
                                                                **params)]
        algos = [algo_report(raw) for raw in self.gateway.call("futures_get_open_algo_orders",
                                                               **params)]
        triggered_children = {r.client_order_id for r in plain}
        return plain + [a for a in algos if a.client_order_id not in triggered_children]

    # --- per-symbol settings: idempotent -------------------------------------------------------
    def set_leverage(self, symbol: str, leverage: int) -> None:
        self.gateway.call("futures_change_leverage", symbol=symbol, leverage=str(leverage))

    def set_margin_type(self, symbol: str, margin_type: str) -> None:
        try:
            self.gateway.call("futures_change_margin_type", symbol=symbol,
                              marginType=margin_type)
        except DefiniteRejection as error:
            if error.code != NO_NEED_TO_CHANGE_MARGIN_TYPE:  # already so: that is success
                raise

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (available, the rest of the wallet balance held as margin)."""
        rows = self.gateway.call("futures_account_balance")
        return {r["asset"]: (Decimal(r["availableBalance"]),
                             max(Decimal(r["balance"]) - Decimal(r["availableBalance"]), ZERO))
                for r in rows}

    def positions(self) -> dict[str, tuple[Decimal, Decimal]]:
        """symbol -> (signed amount, entry price) for every open position."""
        rows = self.gateway.call("futures_position_information")
        return {r["symbol"]: (Decimal(r["positionAmt"]), Decimal(r["entryPrice"]))
                for r in rows if Decimal(r["positionAmt"]) != 0}

    # --- algo lookups --------------------------------------------------------------------------
    def _algo(self, order) -> dict:
        return self.gateway.call("futures_get_algo_order", symbol=order.symbol,
                                 clientAlgoId=order.client_order_id)

    def _actual_order(self, order, algo: dict) -> dict | None:
        actual_id = algo.get("actualOrderId")
        if not actual_id:
            return None
        return self.gateway.call("futures_get_order", symbol=order.symbol,
                                 orderId=int(actual_id))
