"""USD-M futures matching engine: one-way positions, margin, conditional (algo) orders.

Same price-path rules as spot (market/marketable orders fill at the last price as
taker; resting limits fill as maker when a print touches them, capped by the print's
size). Since 2025-12-09 conditional types live in the Algo Service: an algo order waits
for its trigger, then places a MARKET or LIMIT order whose lifecycle is reported through
ORDER_TRADE_UPDATE while the algo itself goes NEW -> TRIGGERED -> FINISHED (ALGO_UPDATE).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from . import errors
from .accounts import Account
from .decimals import ZERO, truncate
from .filters import MarketContext, OrderShape, check_futures
from .market import SymbolMarket, Tick
from .matching import Rates
from .orders import Fill, Order, Trade, random_client_id
from .symbols import SymbolInfo

CONDITIONAL = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")


class FuturesEvents(Protocol):
    def futures_order(self, order: Order, exec_type: str, fill: Fill | None = None) -> None: ...

    def futures_account(
        self, account: Account, reason: str, assets: list[str], symbols: list[str]
    ) -> None: ...

    def futures_algo(self, account: Account, body: dict) -> None: ...


@dataclass
class FuturesNewOrder:
    symbol: str
    side: str
    type: str
    qty: Decimal | None
    price: Decimal | None = None
    time_in_force: str = "GTC"
    client_order_id: str = ""
    reduce_only: bool = False
    orig_type: str = ""


@dataclass
class AlgoOrder:
    algo_id: int
    client_algo_id: str
    account: Account
    symbol: str
    side: str
    type: str
    qty: Decimal
    price: Decimal
    trigger_price: Decimal
    time_in_force: str
    working_type: str
    reduce_only: bool
    close_position: bool
    price_protect: bool
    activate_price: Decimal | None
    callback_rate: Decimal | None
    create_time: int
    update_time: int
    status: str = "NEW"
    trigger_time: int = 0
    actual_order: Order | None = None
    extreme: Decimal | None = None  # trailing stop: best price since activation
    activated: bool = False

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "TRIGGERING", "TRIGGERED")


class FuturesEngine:
    def __init__(
        self,
        markets: dict[str, SymbolMarket],
        symbols: dict[str, SymbolInfo],
        events: FuturesEvents,
        clock: Callable[[], int],
        rates: Rates,
    ) -> None:
        self.markets = markets
        self.symbols = symbols
        self.events = events
        self.clock = clock
        self.rates = rates
        self.orders: dict[str, list[Order]] = {s: [] for s in symbols}
        self.algos: list[AlgoOrder] = []
        self.trades: list[Trade] = []
        self._order_ids = itertools.count(8_000_000_000)
        self._algo_ids = itertools.count(2_000_000)
        self.hide_new_orders = 0

    # --- lookup -----------------------------------------------------------------------
    def info(self, symbol: str) -> SymbolInfo:
        if symbol not in self.symbols:
            raise errors.invalid_symbol()
        return self.symbols[symbol]

    def open_orders(self, account: Account, symbol: str | None = None) -> list[Order]:
        symbols = [symbol] if symbol else list(self.orders)
        return [o for s in symbols for o in self.orders[s] if o.account is account and o.is_open]

    def find(
        self, account: Account, symbol: str, order_id: int | None, client_id: str | None
    ) -> Order:
        for order in reversed(self.orders[symbol]):
            if order.account is not account:
                continue
            if (order_id is None or order.order_id == order_id) and (
                client_id is None or order.client_order_id == client_id
            ):
                return order
        raise errors.no_such_order()

    def find_algo(self, account: Account, algo_id: int | None, client_id: str | None) -> AlgoOrder:
        for algo in reversed(self.algos):
            if algo.account is not account:
                continue
            if (algo_id is None or algo.algo_id == algo_id) and (
                client_id is None or algo.client_algo_id == client_id
            ):
                return algo
        raise errors.no_such_order()

    def mark(self, symbol: str) -> Decimal:
        return self.markets[symbol].price

    # --- margin -------------------------------------------------------------------------
    def unrealized(self, account: Account, symbol: str) -> Decimal:
        pos = account.futures.position(symbol)
        return (self.mark(symbol) - pos.entry_price) * pos.amount if pos.amount else ZERO

    def position_margin(self, account: Account, symbol: str) -> Decimal:
        pos = account.futures.position(symbol)
        return abs(pos.amount) * self.mark(symbol) / pos.leverage

    def order_margin(self, order: Order) -> Decimal:
        price = order.price or self.mark(order.symbol)
        return order.remaining * price / order.account.futures.position(order.symbol).leverage

    def available(self, account: Account, asset: str = "USDT") -> Decimal:
        symbols = [s for s, i in self.symbols.items() if i.quote == asset]
        used = sum((self.position_margin(account, s) for s in symbols), ZERO)
        used += sum(
            (self.order_margin(o) for o in self.open_orders(account) if not o.reduce_only), ZERO
        )
        pnl = sum((self.unrealized(account, s) for s in symbols), ZERO)
        return account.futures.wallet(asset) + pnl - used

    def _check_margin(
        self, account: Account, info: SymbolInfo, req: FuturesNewOrder, qty: Decimal
    ) -> None:
        pos = account.futures.position(info.symbol)
        signed = qty if req.side == "BUY" else -qty
        increases = (
            pos.amount == 0 or (pos.amount > 0) == (signed > 0) or abs(signed) > abs(pos.amount)
        )
        if req.reduce_only or not increases:
            return
        price = req.price or self.mark(info.symbol)
        if qty * price / pos.leverage > self.available(account, info.quote):
            raise errors.futures(-2019)

    # --- placing ------------------------------------------------------------------------
    def create(self, account: Account, req: FuturesNewOrder) -> Order:
        """Validate and accept an order (NEW event); execution happens in execute_new."""
        info = self.info(req.symbol)
        if info.status != "TRADING":
            raise errors.BinanceError(-4141, "Symbol is closed.")
        market = self.markets[req.symbol]
        open_orders = self.open_orders(account, req.symbol)
        shape = OrderShape(req.type, req.side, req.qty, req.price, reduce_only=req.reduce_only)
        check_futures(info, shape, MarketContext(market.price, market.price, len(open_orders), 0))
        if req.client_order_id and any(
            o.client_order_id == req.client_order_id for o in open_orders
        ):
            raise errors.futures(-4116)
        self._check_reduce_only(account, req)
        self._check_margin(account, info, req, req.qty)
        if (
            req.time_in_force == "GTX"
            and req.type == "LIMIT"
            and _marketable(req.side, req.price, market.price)
        ):
            raise errors.futures(-5022)
        order = self._new_order(account, req)
        self.orders[req.symbol].append(order)
        self.events.futures_order(order, "NEW")
        return order

    def _check_reduce_only(self, account: Account, req: FuturesNewOrder) -> None:
        if not req.reduce_only:
            return
        pos = account.futures.position(req.symbol)
        closing_side = "SELL" if pos.amount > 0 else "BUY"
        if pos.amount == 0 or req.side != closing_side or (req.qty or ZERO) > abs(pos.amount):
            raise errors.futures(-2022)

    def _new_order(self, account: Account, req: FuturesNewOrder) -> Order:
        now = self.clock()
        return Order(
            account=account,
            symbol=req.symbol,
            order_id=next(self._order_ids),
            client_order_id=req.client_order_id or random_client_id(),
            side=req.side,
            type=req.type,
            time_in_force=req.time_in_force,
            orig_qty=req.qty,
            price=req.price or ZERO,
            time=now,
            update_time=now,
            working_time=now,
            reduce_only=req.reduce_only,
            orig_type=req.orig_type or req.type,
            hidden_queries=self.hide_new_orders,
        )

    def execute_new(self, order: Order) -> None:
        market = self.markets[order.symbol]
        if order.type == "MARKET" or _marketable(order.side, order.price, market.price):
            self._fill(order, market.price, order.remaining, is_maker=False)
        elif order.time_in_force in ("IOC", "FOK"):
            self._finish(order, "EXPIRED")

    def cancel(self, order: Order) -> Order:
        if not order.is_open:
            raise errors.unknown_order()
        self._finish(order, "CANCELED")
        return order

    # --- algo (conditional) orders ------------------------------------------------------------
    def create_algo(self, account: Account, algo: AlgoOrder) -> AlgoOrder:
        info = self.info(algo.symbol)
        market = self.markets[algo.symbol]
        qty = None if algo.close_position else algo.qty
        price = algo.price if algo.type in ("STOP", "TAKE_PROFIT") else None
        shape = OrderShape(
            algo.type, algo.side, qty, price, reduce_only=algo.reduce_only or algo.close_position
        )
        check_futures(info, shape, MarketContext(market.price, market.price, 0, 0))
        if algo.type != "TRAILING_STOP_MARKET" and _fires(algo, market.price):
            raise errors.futures(-2021)
        if any(
            a.is_open and a.account is account and a.client_algo_id == algo.client_algo_id
            for a in self.algos
        ):
            raise errors.futures(-4116)
        if algo.type == "TRAILING_STOP_MARKET":
            algo.activated = algo.activate_price is None
            algo.extreme = market.price if algo.activated else None
        self.algos.append(algo)
        self.events.futures_algo(account, self.algo_event(algo))
        return algo

    def next_algo_id(self) -> int:
        return next(self._algo_ids)

    def cancel_algo(self, algo: AlgoOrder) -> AlgoOrder:
        if algo.status != "NEW":
            raise errors.unknown_order()
        algo.status, algo.update_time = "CANCELED", self.clock()
        self.events.futures_algo(algo.account, self.algo_event(algo))
        return algo

    def algo_event(self, algo: AlgoOrder) -> dict:
        info = self.symbols[algo.symbol]
        body = {
            "caid": algo.client_algo_id,
            "aid": algo.algo_id,
            "at": "CONDITIONAL",
            "o": algo.type,
            "s": algo.symbol,
            "S": algo.side,
            "ps": "BOTH",
            "f": algo.time_in_force,
            "q": info.qty(algo.qty),
            "X": algo.status,
            "ai": str(algo.actual_order.order_id) if algo.actual_order else "",
            "tp": info.px(algo.trigger_price),
            "p": info.px(algo.price),
            "V": "NONE",
            "wt": algo.working_type,
            "pm": "NONE",
            "cp": algo.close_position,
            "pP": algo.price_protect,
            "R": algo.reduce_only,
            "tt": algo.trigger_time,
            "gtd": 0,
        }
        if algo.actual_order is not None:
            actual = algo.actual_order
            body.update(
                {
                    "ap": info.px(actual.avg_price),
                    "aq": info.qty(actual.executed_qty),
                    "act": actual.type,
                }
            )
        return body

    def _check_algos(self, tick: Tick) -> None:
        for algo in [a for a in self.algos if a.symbol == tick.symbol and a.status == "NEW"]:
            if algo.type == "TRAILING_STOP_MARKET":
                if not _trail(algo, tick.price):
                    continue
            elif not _fires(algo, tick.price):
                continue
            self._trigger(algo, tick)

    def _trigger(self, algo: AlgoOrder, tick: Tick) -> None:
        algo.status, algo.trigger_time = "TRIGGERED", self.clock()
        pos = algo.account.futures.position(algo.symbol)
        qty = abs(pos.amount) if algo.close_position else algo.qty
        limit = algo.type in ("STOP", "TAKE_PROFIT")
        req = FuturesNewOrder(
            algo.symbol,
            algo.side,
            "LIMIT" if limit else "MARKET",
            qty,
            algo.price if limit else None,
            algo.time_in_force if limit else "GTC",
            random_client_id(),
            algo.reduce_only or algo.close_position,
            orig_type=algo.type,
        )
        try:
            order = self.create(algo.account, req)
        except errors.BinanceError:
            algo.status = "REJECTED"
            self.events.futures_algo(algo.account, self.algo_event(algo))
            return
        algo.actual_order = order
        self.events.futures_algo(algo.account, self.algo_event(algo))
        self.execute_new(order)

    def _finish_algo(self, order: Order) -> None:
        for algo in self.algos:
            if algo.actual_order is order and algo.status == "TRIGGERED":
                algo.status, algo.update_time = "FINISHED", self.clock()
                self.events.futures_algo(algo.account, self.algo_event(algo))

    # --- price path -----------------------------------------------------------------------
    def on_tick(self, tick: Tick) -> None:
        if tick.symbol not in self.orders:
            return
        self._check_algos(tick)
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
        resting = [o for o in self.orders[symbol] if o.is_open and o.type == "LIMIT"]
        buys = sorted((o for o in resting if o.side == "BUY"), key=lambda o: (-o.price, o.time))
        sells = sorted((o for o in resting if o.side == "SELL"), key=lambda o: (o.price, o.time))
        return buys + sells

    # --- execution ----------------------------------------------------------------------
    def _fill(self, order: Order, price: Decimal, qty: Decimal, is_maker: bool) -> None:
        info, account = self.symbols[order.symbol], order.account
        pos = account.futures.position(order.symbol)
        if order.reduce_only:  # never flip a position with a reduce-only order
            qty = min(qty, abs(pos.amount))
            if qty <= 0:
                self._finish(order, "EXPIRED")
                return
        rate = self.rates.maker if is_maker else self.rates.taker
        commission = truncate(price * qty * rate, 8)
        realized = pos.apply_fill(qty if order.side == "BUY" else -qty, price)
        account.futures.add(info.quote, realized - commission)
        now = self.clock()
        pos.update_time = account.futures.update_time = now
        fill = Fill(
            price,
            qty,
            commission,
            info.quote,
            self.markets[order.symbol].take_trade_id(),
            now,
            is_maker,
            realized_pnl=realized,
        )
        order.fills.append(fill)
        order.executed_qty += qty
        order.cum_quote += price * qty
        order.update_time = now
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        self.trades.append(Trade(order.symbol, fill.trade_id, order, fill, order.side == "BUY"))
        self.events.futures_order(order, "TRADE", fill)
        self.events.futures_account(account, "ORDER", [info.quote], [order.symbol])
        if order.status == "FILLED":
            self._finish_algo(order)
        elif order.reduce_only and pos.amount == 0:
            self._finish(order, "EXPIRED")

    def _finish(self, order: Order, status: str) -> None:
        order.status, order.update_time = status, self.clock()
        self.events.futures_order(order, "CANCELED" if status == "CANCELED" else "EXPIRED")
        self._finish_algo(order)


def _marketable(side: str, limit: Decimal | None, last: Decimal) -> bool:
    if limit is None:
        return True
    return last <= limit if side == "BUY" else last >= limit


def _fires(algo: AlgoOrder, price: Decimal) -> bool:
    rising = (algo.type.startswith("STOP") and algo.side == "BUY") or (
        algo.type.startswith("TAKE_PROFIT") and algo.side == "SELL"
    )
    return price >= algo.trigger_price if rising else price <= algo.trigger_price


def _trail(algo: AlgoOrder, price: Decimal) -> bool:
    """Update a trailing stop; True when the price retraced by callbackRate percent."""
    if not algo.activated:
        reached = (
            price >= algo.activate_price if algo.side == "SELL" else price <= algo.activate_price
        )
        if not reached:
            return False
        algo.activated, algo.extreme = True, price
    pick = max if algo.side == "SELL" else min
    algo.extreme = pick(algo.extreme, price)
    rate = algo.callback_rate / 100
    if algo.side == "SELL":
        return price <= algo.extreme * (1 - rate)
    return price >= algo.extreme * (1 + rate)
