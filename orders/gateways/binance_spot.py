"""Binance spot orders through the exchange layer (rate limits, error classes, clock)."""

from datetime import UTC, datetime
from decimal import Decimal

from marketdata.exchange.filters import format_decimal
from marketdata.exchange.gateway import BinanceGateway
from orders.gateways.base import ExchangeOrder, OrderReport, TradeFill


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def order_params(order) -> dict[str, str]:
    """python-binance keyword arguments for a new order; our client_order_id always goes along
    (python-binance would otherwise invent one we could never look up)."""
    params = {"symbol": order.symbol, "side": order.side, "type": order.type,
              "newClientOrderId": order.client_order_id, "newOrderRespType": "FULL"}
    if order.quantity is not None:
        params["quantity"] = format_decimal(order.quantity)
    else:
        params["quoteOrderQty"] = format_decimal(order.quote_quantity)
    if order.price is not None:
        params["price"] = format_decimal(order.price)
    if order.stop_price is not None:
        params["stopPrice"] = format_decimal(order.stop_price)
    if order.time_in_force:
        params["timeInForce"] = order.time_in_force
    return params


def fill_from_response(raw: dict, *, time_ms: int) -> TradeFill:
    """A `fills[]` entry of a FULL order response (which carries no time: the order's is used)."""
    price, qty = Decimal(raw["price"]), Decimal(raw["qty"])
    return TradeFill(trade_id=int(raw["tradeId"]), price=price, quantity=qty,
                     quote_quantity=price * qty, commission=Decimal(raw["commission"]),
                     commission_asset=raw["commissionAsset"], is_maker=False,
                     executed_at=_at(time_ms))


def fill_from_my_trades(raw: dict) -> TradeFill:
    return TradeFill(trade_id=int(raw["id"]), price=Decimal(raw["price"]),
                     quantity=Decimal(raw["qty"]), quote_quantity=Decimal(raw["quoteQty"]),
                     commission=Decimal(raw["commission"]),
                     commission_asset=raw["commissionAsset"], is_maker=bool(raw["isMaker"]),
                     executed_at=_at(raw["time"]))


def exchange_order(raw: dict) -> ExchangeOrder:
    time_ms = raw.get("transactTime") or raw.get("updateTime") or raw.get("time") or 0
    return ExchangeOrder(
        status=raw["status"], exchange_order_id=raw.get("orderId"),
        executed_qty=Decimal(raw.get("executedQty", "0")),
        cumulative_quote=Decimal(raw.get("cummulativeQuoteQty", "0")),
        fills=[fill_from_response(f, time_ms=time_ms) for f in raw.get("fills", [])],
    )


def order_report(raw: dict) -> OrderReport:
    """A row of GET /api/v3/openOrders (or /order)."""
    return OrderReport(client_order_id=raw["clientOrderId"], symbol=raw["symbol"],
                       side=raw["side"], order_type=raw["type"],
                       quantity=Decimal(raw["origQty"]), price=Decimal(raw["price"]),
                       answer=exchange_order(raw), event_time=raw.get("updateTime", 0))


def oco_params(above, below) -> dict[str, str]:
    """POST /api/v3/orderList/oco for two legs saved with our ids (and the list's)."""
    params = {"symbol": above.symbol, "side": above.side,
              "quantity": format_decimal(above.quantity),
              "listClientOrderId": above.list_client_order_id}
    for prefix, leg in (("above", above), ("below", below)):
        params[f"{prefix}Type"] = leg.type
        params[f"{prefix}ClientOrderId"] = leg.client_order_id
        if leg.price is not None:
            params[f"{prefix}Price"] = format_decimal(leg.price)
        if leg.stop_price is not None:
            params[f"{prefix}StopPrice"] = format_decimal(leg.stop_price)
        if leg.time_in_force and leg.type != "LIMIT_MAKER":
            params[f"{prefix}TimeInForce"] = leg.time_in_force
    return params


def list_reports(raw: dict) -> dict[str, ExchangeOrder]:
    """An order list's answer: each leg's report, by its client order id (a cancel's reports
    carry the cancel request's own id in clientOrderId and the leg's in origClientOrderId)."""
    return {r.get("origClientOrderId") or r["clientOrderId"]: exchange_order(r)
            for r in raw.get("orderReports", [])}


class BinanceSpotGateway:
    def __init__(self, gateway: BinanceGateway):
        self.gateway = gateway
        self.venue = gateway.venue.key

    def place(self, order) -> ExchangeOrder:
        return exchange_order(self.gateway.call("create_order", **order_params(order)))

    def query(self, order) -> ExchangeOrder:
        return exchange_order(self.gateway.call("get_order", symbol=order.symbol,
                                                origClientOrderId=order.client_order_id))

    def place_oco(self, above, below) -> dict[str, ExchangeOrder]:
        return list_reports(self.gateway.call("create_oco_order", **oco_params(above, below)))

    def cancel(self, order) -> ExchangeOrder:
        raw = self.gateway.call("cancel_order", symbol=order.symbol,
                                origClientOrderId=order.client_order_id)
        if "orderReports" in raw:  # a leg of an OCO: Binance cancelled the whole list
            return list_reports(raw)[order.client_order_id]
        return exchange_order(raw)

    def trades(self, order) -> list[TradeFill]:
        raw = self.gateway.call("get_my_trades", symbol=order.symbol,
                                orderId=order.exchange_order_id)
        return [fill_from_my_trades(t) for t in raw]

    def open_orders(self, symbol: str | None = None) -> list[OrderReport]:
        # Without a symbol this weighs 80: fine after a reconnect, never in a tight loop.
        params = {"symbol": symbol} if symbol else {}
        return [order_report(raw) for raw in self.gateway.call("get_open_orders", **params)]

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (free, locked), for the assets the account holds any of."""
        raw = self.gateway.call("get_account", omitZeroBalances="true")
        return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"]))
                for b in raw["balances"] if Decimal(b["free"]) or Decimal(b["locked"])}
