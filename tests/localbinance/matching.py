"""Spot matching engine against the replayed price path.

The fake has no real order book: user orders trade against the replayed public trades.
* MARKET orders (and marketable limit orders) fill completely at the last price, as
  taker.
* Resting limit orders fill as maker at their limit price when a print touches or
  crosses it, up to the print's quantity (so a small print partially fills a large
  order); set_price prints carry unbounded liquidity.
* Stop orders arm on the print that reaches their stopPrice; STOP_LOSS/TAKE_PROFIT then
  execute at market, the *_LIMIT variants start working as limit orders.
Commission (default 0.1%) is taken from the asset received, as Binance does without BNB.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from . import errors
from .accounts import Account
from .decimals import ZERO, round_down, round_up, truncate
from .filters import MarketContext, OrderShape, check_spot
from .market import SymbolMarket, Tick
from .orders import Fill, Lock, Order, OrderList, Trade, random_client_id
from .symbols import SymbolInfo

MARKET_TYPES = ("MARKET",)
STOP_TRIGGERS = {
    # (type family, side) -> price reaches stop from this direction
    ("STOP_LOSS", "SELL"): "down",
    ("STOP_LOSS", "BUY"): "up",
    ("TAKE_PROFIT", "SELL"): "up",
    ("TAKE_PROFIT", "BUY"): "down",
}


class SpotEvents(Protocol):
    def spot_order(self, order: Order, exec_type: str, fill: Fill | None = None) -> None: ...

    def spot_balances(self, account: Account, assets: list[str]) -> None: ...

    def spot_list_status(self, order_list: OrderList) -> None: ...


@dataclass
class NewOrder:
    symbol: str
    side: str
    type: str
    qty: Decimal | None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    quote_qty: Decimal | None = None
    iceberg_qty: Decimal | None = None
    time_in_force: str = "GTC"
    client_order_id: str = ""
    order_list_id: int = -1


@dataclass
class Rates:
    maker: Decimal
    taker: Decimal


class SpotEngine:
    def __init__(
        self,
        markets: dict[str, SymbolMarket],
        symbols: dict[str, SymbolInfo],
        events: SpotEvents,
        clock: Callable[[], int],
        rates: Rates,
    ) -> None:
        self.markets = markets
        self.symbols = symbols
        self.events = events
        self.clock = clock
        self.rates = rates
        self.orders: dict[str, list[Order]] = {s: [] for s in symbols}
        self.trades: list[Trade] = []
        self.lists: dict[int, OrderList] = {}
        self._order_ids = {s: itertools.count(1000) for s in symbols}
        self._list_ids = itertools.count(1)
        self.hide_new_orders = 0  # fault: -2013 for the first N queries of new orders

    # --- lookup -----------------------------------------------------------------------
    def info(self, symbol: str) -> SymbolInfo:
        if symbol not in self.symbols:
            raise errors.invalid_symbol()
        return self.symbols[symbol]

    def open_orders(self, account: Account, symbol: str | None = None) -> list[Order]:
        symbols = [symbol] if symbol else list(self.orders)
        return [o for s in symbols for o in self.orders[s] if o.account is account and o.is_open]

    def account_orders(self, account: Account, symbol: str) -> list[Order]:
        return [o for o in self.orders[symbol] if o.account is account]

    def find(
        self, account: Account, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order:
        """Newest order matching id/clientOrderId; -2013 when absent."""
        for order in reversed(self.account_orders(account, symbol)):
            if order_id is not None and order.order_id != order_id:
                continue
            if client_id is not None and order.client_order_id != client_id:
                continue
            return order
        raise errors.no_such_order()

    # --- placing ------------------------------------------------------------------------
    def validate(self, account: Account, req: NewOrder) -> SymbolInfo:
        info = self.info(req.symbol)
        if info.status != "TRADING":
            raise errors.new_order_rejected("Market is closed.")
        market = self.markets[req.symbol]
        shape = OrderShape(
            req.type, req.side, req.qty, req.price, req.stop_price, req.iceberg_qty, req.quote_qty
        )
        open_orders = self.open_orders(account, req.symbol)
        ctx = MarketContext(
            avg_price=market.avg_price(),
            last_price=market.price,
            open_orders=len(open_orders),
            open_algo_orders=sum(1 for o in open_orders if o.is_stop),
        )
        check_spot(info, shape, ctx)
        if req.client_order_id and any(
            o.client_order_id == req.client_order_id for o in open_orders
        ):
            raise errors.new_order_rejected(errors.MSG_DUPLICATE_ORDER)
        return info

    def place(self, account: Account, req: NewOrder) -> Order:
        info = self.validate(account, req)
        market = self.markets[req.symbol]
        self._check_business_rules(req, market.price)
        qty = self._resolve_qty(info, req, market.price)
        order = self._new_order(account, req, qty)
        order.lock = self._reserve(account, info, order, market.price)
        self.orders[req.symbol].append(order)
        self.events.spot_order(order, "NEW")
        self._publish_balances(account)
        self._execute_new(order, market)
        return order

    def _check_business_rules(self, req: NewOrder, last: Decimal) -> None:
        family = req.type.removesuffix("_LIMIT")
        if (
            req.type == "LIMIT_MAKER"
            and req.price is not None
            and _marketable(req.side, req.price, last)
        ):
            raise errors.new_order_rejected("Order would immediately match and take.")
        stops = family in ("STOP_LOSS", "TAKE_PROFIT") and req.stop_price is not None
        if stops and _triggered(STOP_TRIGGERS[(family, req.side)], last, req.stop_price):
            raise errors.new_order_rejected("Order would trigger immediately.")

    def _resolve_qty(self, info: SymbolInfo, req: NewOrder, last: Decimal) -> Decimal:
        if req.qty is not None:
            return req.qty
        # quoteOrderQty: the engine picks the largest valid quantity for that much quote.
        qty = round_down(req.quote_qty / last, info.step_size)
        if qty <= 0:
            raise errors.new_order_rejected(
                "Order book liquidity is less than `LOT_SIZE` filter minimum quantity."
            )
        return qty

    def _new_order(self, account: Account, req: NewOrder, qty: Decimal) -> Order:
        now = self.clock()
        order = Order(
            account=account,
            symbol=req.symbol,
            order_id=next(self._order_ids[req.symbol]),
            client_order_id=req.client_order_id or random_client_id(),
            side=req.side,
            type=req.type,
            time_in_force=req.time_in_force,
            orig_qty=qty,
            price=req.price or ZERO,
            time=now,
            stop_price=req.stop_price or ZERO,
            iceberg_qty=req.iceberg_qty or ZERO,
            orig_quote_qty=req.quote_qty or ZERO,
            update_time=now,
            order_list_id=req.order_list_id,
            hidden_queries=self.hide_new_orders,
        )
        if req.type in ("MARKET", "LIMIT", "LIMIT_MAKER"):
            order.working_time = now
        return order

    def _reserve(
        self, account: Account, info: SymbolInfo, order: Order, last: Decimal
    ) -> Lock | None:
        """Lock what a resting order could spend; market orders pay from free funds."""
        if order.side == "SELL":
            account.spot.lock(info.base, order.orig_qty)
            return Lock(info.base, order.orig_qty)
        if order.type == "MARKET":
            account.spot.require_free(
                info.quote, round_up(order.orig_qty * last, info.quote_precision)
            )
            return None
        reference = order.price if order.price else order.stop_price
        amount = round_up(order.orig_qty * reference, info.quote_precision)
        account.spot.lock(info.quote, amount)
        return Lock(info.quote, amount)

    def _execute_new(self, order: Order, market: SymbolMarket) -> None:
        if order.is_stop:
            return
        if order.type == "MARKET" or _marketable(order.side, order.price, market.price):
            self._fill(order, market.price, order.remaining, is_maker=False)
            return
        if order.time_in_force in ("IOC", "FOK"):
            self._finish(order, "EXPIRED")

    # --- OCO ----------------------------------------------------------------------------
    def place_oco(self, account: Account, legs: list[NewOrder], list_client_id: str) -> OrderList:
        info = self.info(legs[0].symbol)
        market = self.markets[info.symbol]
        for leg in legs:
            self.validate(account, leg)
        _check_oco_prices(legs, market.price)
        for leg in legs:
            self._check_business_rules(leg, market.price)
        list_id = next(self._list_ids)
        side, qty = legs[0].side, legs[0].qty
        lock = self._oco_lock(account, info, side, qty, legs)
        orders = []
        for leg in legs:
            leg.order_list_id = list_id
            order = self._new_order(account, leg, qty)
            order.lock = lock
            self.orders[info.symbol].append(order)
            orders.append(order)
        order_list = OrderList(
            list_id, list_client_id or random_client_id(), info.symbol, orders, self.clock()
        )
        self.lists[list_id] = order_list
        for order in orders:
            self.events.spot_order(order, "NEW")
        self.events.spot_list_status(order_list)
        self._publish_balances(account)
        return order_list

    def _oco_lock(
        self, account: Account, info: SymbolInfo, side: str, qty: Decimal, legs: list[NewOrder]
    ) -> Lock:
        if side == "SELL":
            account.spot.lock(info.base, qty)
            return Lock(info.base, qty)
        worst = max((leg.price or leg.stop_price or ZERO) for leg in legs)
        amount = round_up(qty * worst, info.quote_precision)
        account.spot.lock(info.quote, amount)
        return Lock(info.quote, amount)

    # --- cancelling ---------------------------------------------------------------------
    def cancel(self, order: Order, cancel_client_id: str) -> Order | OrderList:
        if not order.is_open:
            raise errors.unknown_order()
        order.cancel_client_id = cancel_client_id or random_client_id()
        if order.order_list_id != -1:
            order_list = self.lists[order.order_list_id]
            for leg in order_list.orders:
                if leg.is_open:
                    leg.cancel_client_id = order.cancel_client_id
                    self._finish(leg, "CANCELED")
            return order_list
        self._finish(order, "CANCELED")
        return order

    # --- price path -----------------------------------------------------------------------
    def on_tick(self, tick: Tick) -> None:
        market = self.markets.get(tick.symbol)
        if market is None or tick.symbol not in self.orders:
            return
        self._trigger_stops(tick, market)
        self._match_resting(tick)

    def _trigger_stops(self, tick: Tick, market: SymbolMarket) -> None:
        for order in [
            o for o in self.orders[tick.symbol] if o.is_open and o.is_stop and not o.is_working
        ]:
            family = order.type.removesuffix("_LIMIT")
            if not _triggered(STOP_TRIGGERS[(family, order.side)], tick.price, order.stop_price):
                continue
            order.working_time = self.clock()
            self._expire_other_leg(order)
            if order.type.endswith("_LIMIT"):
                if _marketable(order.side, order.price, tick.price):
                    self._fill(order, tick.price, order.remaining, is_maker=False)
            else:
                self._fill(order, tick.price, order.remaining, is_maker=False)

    def _match_resting(self, tick: Tick) -> None:
        liquidity = tick.liquidity
        for order in self._book_priority(tick.symbol):
            if liquidity is not None and liquidity <= 0:
                return
            if not _marketable(order.side, order.price, tick.price):
                continue
            qty = order.remaining if liquidity is None else min(order.remaining, liquidity)
            if liquidity is not None:
                liquidity -= qty
            self._fill(order, order.price, qty, is_maker=True)

    def _book_priority(self, symbol: str) -> list[Order]:
        resting = [
            o
            for o in self.orders[symbol]
            if o.is_open and o.is_working and o.type != "MARKET" and o.price > 0
        ]
        buys = sorted((o for o in resting if o.side == "BUY"), key=lambda o: (-o.price, o.time))
        sells = sorted((o for o in resting if o.side == "SELL"), key=lambda o: (o.price, o.time))
        return buys + sells

    # --- execution ----------------------------------------------------------------------
    def _fill(self, order: Order, price: Decimal, qty: Decimal, is_maker: bool) -> None:
        info = self.symbols[order.symbol]
        account = order.account
        rate = self.rates.maker if is_maker else self.rates.taker
        quote = price * qty
        if order.side == "BUY":
            if not self._pay(account, order, info.quote, round_up(quote, info.quote_precision)):
                self._finish(order, "EXPIRED")
                return
            commission, asset = truncate(qty * rate, info.base_precision), info.base
            account.spot.credit(info.base, qty - commission)
        else:
            self._pay(account, order, info.base, qty)
            commission, asset = truncate(quote * rate, info.quote_precision), info.quote
            account.spot.credit(info.quote, quote - commission)
        now = self.clock()
        fill = Fill(
            price, qty, commission, asset, self.markets[order.symbol].take_trade_id(), now, is_maker
        )
        order.fills.append(fill)
        order.executed_qty += qty
        order.cum_quote += quote
        order.update_time = now
        self.trades.append(Trade(order.symbol, fill.trade_id, order, fill, order.side == "BUY"))
        self._expire_other_leg(order)
        if order.remaining == 0:
            order.status = "FILLED"
            self._release(order)
        else:
            order.status = "PARTIALLY_FILLED"
        self.events.spot_order(order, "TRADE", fill)
        self._publish_balances(account)
        self._maybe_close_list(order)

    def _pay(self, account: Account, order: Order, asset: str, amount: Decimal) -> bool:
        lock = order.lock
        if lock is None:
            if account.spot.get(asset).free < amount:
                return False
            account.spot.spend_free(asset, amount)
            return True
        from_lock = min(amount, lock.amount)
        lock.amount -= from_lock
        account.spot.spend_locked(asset, from_lock)
        if amount > from_lock:  # a stop filled above its reserve: pay the rest from free
            account.spot.spend_free(asset, amount - from_lock)
        return True

    def _finish(self, order: Order, status: str) -> None:
        order.status = status
        order.update_time = self.clock()
        self._release(order)
        self.events.spot_order(order, "CANCELED" if status == "CANCELED" else "EXPIRED")
        self._publish_balances(order.account)
        self._maybe_close_list(order)

    def _release(self, order: Order) -> None:
        """Unlock what is left of the reservation once nothing can spend it any more."""
        lock = order.lock
        if lock is None or lock.amount <= 0:
            return
        if order.order_list_id != -1 and any(
            o.is_open for o in self.lists[order.order_list_id].orders
        ):
            return
        order.account.spot.unlock(lock.asset, lock.amount)
        lock.amount = ZERO

    def _expire_other_leg(self, order: Order) -> None:
        if order.order_list_id == -1:
            return
        other = self.lists[order.order_list_id].other(order)
        if other.is_open and other.executed_qty == 0:
            self._finish(other, "EXPIRED")

    def _maybe_close_list(self, order: Order) -> None:
        if order.order_list_id == -1:
            return
        order_list = self.lists[order.order_list_id]
        if order_list.status == "ALL_DONE" or any(o.is_open for o in order_list.orders):
            return
        order_list.status = order_list.status_type = "ALL_DONE"
        order_list.transaction_time = self.clock()
        self.events.spot_list_status(order_list)

    def _publish_balances(self, account: Account) -> None:
        changed = account.spot.take_changes()
        if changed:
            self.events.spot_balances(account, changed)


def _marketable(side: str, limit: Decimal, last: Decimal) -> bool:
    return last <= limit if side == "BUY" else last >= limit


def _triggered(direction: str, price: Decimal, stop: Decimal) -> bool:
    return price >= stop if direction == "up" else price <= stop


def _check_oco_prices(legs: list[NewOrder], last: Decimal) -> None:
    """SELL: above leg price > last > below stop; BUY: above stop > last > below price."""
    above, below = legs[1], legs[0]
    above_ref = (
        above.price if above.type in ("LIMIT_MAKER", "TAKE_PROFIT_LIMIT") else above.stop_price
    )
    below_ref = (
        below.price if below.type in ("LIMIT_MAKER", "TAKE_PROFIT_LIMIT") else below.stop_price
    )
    if above_ref is None or below_ref is None or not (above_ref > last > below_ref):
        raise errors.new_order_rejected(
            "The relationship of the prices for the orders is not correct."
        )
