"""Real-time events about a trader's books, pushed to their pages after each commit.

Event types and payloads (all amounts as decimal strings):
- order.update: {id, client_order_id, symbol, side, type, status, quantity, price,
  executed_qty, average_price, reason, portfolio_id}
- fill.new: {order_id, client_order_id, symbol, side, trade_id, price, quantity, commission,
  commission_asset, is_maker, executed_at}
- position.update: {portfolio_id, market, symbol, quantity, average_entry, cost,
  realised_pnl, fees_paid}
- portfolio.update: {portfolio_id, balances: [{asset, free, locked}]}
"""

from orders.models import Balance, Fill, Order, Position
from tradingsite.events import publish_to_user_on_commit


def _text(value) -> str | None:
    return None if value is None else f"{value:f}"


def order_payload(order: Order) -> dict:
    return {"id": order.pk, "client_order_id": order.client_order_id, "symbol": order.symbol,
            "side": order.side, "type": order.type, "status": order.status,
            "quantity": _text(order.quantity), "price": _text(order.price),
            "executed_qty": _text(order.executed_qty),
            "average_price": _text(order.average_price), "reason": order.reason,
            "portfolio_id": order.portfolio_id}


def fill_payload(fill: Fill) -> dict:
    return {"order_id": fill.order_id, "client_order_id": fill.order.client_order_id,
            "symbol": fill.symbol, "side": fill.side, "trade_id": fill.trade_id,
            "price": _text(fill.price), "quantity": _text(fill.quantity),
            "commission": _text(fill.commission), "commission_asset": fill.commission_asset,
            "is_maker": fill.is_maker, "executed_at": fill.executed_at.isoformat()}


def position_payload(position: Position) -> dict:
    return {"portfolio_id": position.portfolio_id, "market": position.market,
            "symbol": position.symbol,
            "quantity": _text(position.quantity),
            "average_entry": _text(position.average_entry), "cost": _text(position.cost),
            "realised_pnl": _text(position.realised_pnl), "fees_paid": _text(position.fees_paid)}


def _after_commit(owner_id: int, event_type: str, data: dict) -> None:
    publish_to_user_on_commit(user_id=owner_id, event_type=event_type, data=data)


def order_changed(order: Order, *, owner_id: int) -> None:
    _after_commit(owner_id, "order.update", order_payload(order))


def fill_booked(fill: Fill, *, owner_id: int) -> None:
    _after_commit(owner_id, "fill.new", fill_payload(fill))


def position_changed(position: Position, *, owner_id: int) -> None:
    _after_commit(owner_id, "position.update", position_payload(position))


def balances_changed(portfolio) -> None:
    rows = Balance.objects.filter(portfolio=portfolio).order_by("asset")
    data = {"portfolio_id": portfolio.pk,
            "balances": [{"asset": b.asset, "free": _text(b.free), "locked": _text(b.locked)}
                         for b in rows]}
    _after_commit(portfolio.owner_id, "portfolio.update", data)
