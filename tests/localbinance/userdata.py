"""User data: event payloads, the spot WebSocket API subscription and USD-M listenKeys.

Spot (python-binance 1.0.37 user_socket): the client opens /ws-api/v3, sends
`userDataStream.subscribe.signature` and receives `{"subscriptionId": N, "event": {...}}`
frames; it leaves with an unsigned `userDataStream.unsubscribe`.
USD-M: POST /fapi/v1/listenKey, then /private/ws?listenKey=<key> delivers bare events.
User events carry wall-clock times (orders are timestamped by the wall clock).
"""

from __future__ import annotations

import itertools
import json
import secrets
import string
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from . import auth, errors
from .accounts import Account, ApiKey, Position
from .decimals import ZERO, fixed, plain
from .orders import Fill, Order, OrderList
from .streams import Connection, StreamHub
from .symbols import SymbolInfo

LISTEN_KEY_TTL_MS = 60 * 60 * 1000


# --- spot payloads ----------------------------------------------------------------------------
def execution_report(
    info: SymbolInfo, order: Order, exec_type: str, fill: Fill | None, now: int, seq: int
) -> dict:
    canceled = exec_type == "CANCELED"
    event = {
        "e": "executionReport",
        "E": now,
        "s": order.symbol,
        "c": order.cancel_client_id if canceled else order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": info.qty(order.orig_qty),
        "p": info.px(order.price),
        "P": info.px(order.stop_price),
        "F": info.qty(order.iceberg_qty),
        "g": order.order_list_id,
        "C": order.client_order_id if canceled else "",
        "x": exec_type,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": info.qty(fill.qty if fill else ZERO),
        "z": info.qty(order.executed_qty),
        "L": info.px(fill.price if fill else ZERO),
        "n": info.amount(fill.commission) if fill else "0",
        "N": fill.commission_asset if fill else None,
        "T": fill.time if fill else order.update_time,
        "t": fill.trade_id if fill else -1,
        "I": seq,
        "w": order.is_open and order.is_working,
        "m": fill.is_maker if fill else False,
        "M": False,
        "O": order.time,
        "Z": info.amount(order.cum_quote),
        "Y": info.amount(fill.price * fill.qty if fill else ZERO),
        "Q": info.amount(order.orig_quote_qty),
        "V": order.self_trade_prevention_mode,
    }
    if order.is_working:  # "W" is only present once the order is on the book
        event["W"] = order.working_time
    return event


def account_position(account: Account, assets: list[str], now: int) -> dict:
    balances = [
        {"a": a, "f": fixed(account.spot.get(a).free), "l": fixed(account.spot.get(a).locked)}
        for a in assets
    ]
    return {"e": "outboundAccountPosition", "E": now, "u": now, "B": balances}


def list_status(order_list: OrderList, now: int) -> dict:
    return {
        "e": "listStatus",
        "E": now,
        "s": order_list.symbol,
        "g": order_list.order_list_id,
        "c": "OCO",
        "l": order_list.status_type,
        "L": order_list.status,
        "r": "NONE",
        "C": order_list.list_client_order_id,
        "T": order_list.transaction_time,
        "O": [{"s": o.symbol, "i": o.order_id, "c": o.client_order_id} for o in order_list.orders],
    }


# --- futures payloads ---------------------------------------------------------------------------
def order_trade_update(
    info: SymbolInfo, order: Order, exec_type: str, fill: Fill | None, now: int
) -> dict:
    px, qty = info.px, info.qty
    body = {
        "s": order.symbol,
        "c": order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": qty(order.orig_qty),
        "p": px(order.price),
        "ap": px(order.avg_price),
        "sp": px(order.stop_price),
        "x": exec_type,
        "X": order.status,
        "i": order.order_id,
        "l": qty(fill.qty if fill else ZERO),
        "z": qty(order.executed_qty),
        "L": px(fill.price if fill else ZERO),
        "N": fill.commission_asset if fill else info.quote,
        "n": fixed(fill.commission) if fill else "0",
        "T": now,
        "t": fill.trade_id if fill else 0,
        "b": "0",
        "a": "0",
        "m": fill.is_maker if fill else False,
        "R": order.reduce_only,
        "wt": order.working_type,
        "ot": order.orig_type or order.type,
        "ps": order.position_side,
        "cp": order.close_position,
        "AP": px(order.activate_price or ZERO),
        "cr": plain(order.callback_rate or ZERO),
        "pP": order.price_protect,
        "si": 0,
        "ss": 0,
        "rp": fixed(fill.realized_pnl if fill else ZERO),
        "V": order.self_trade_prevention_mode,
        "pm": order.price_match,
        "gtd": order.good_till_date,
    }
    return {"e": "ORDER_TRADE_UPDATE", "T": now, "E": now, "o": body}


def trade_lite(info: SymbolInfo, order: Order, fill: Fill, now: int) -> dict:
    return {
        "e": "TRADE_LITE",
        "E": now,
        "T": fill.time,
        "s": order.symbol,
        "c": order.client_order_id,
        "S": order.side,
        "q": info.qty(order.orig_qty),
        "p": info.px(order.price),
        "i": order.order_id,
        "l": info.qty(fill.qty),
        "L": info.px(fill.price),
        "t": fill.trade_id,
        "m": fill.is_maker,
    }


def position_entry(position: Position, info: SymbolInfo, mark) -> dict:
    unrealized = (mark - position.entry_price) * position.amount if position.amount else ZERO
    return {
        "s": position.symbol,
        "pa": info.qty(position.amount),
        "ep": fixed(position.entry_price),
        "bep": fixed(position.entry_price),
        "cr": fixed(position.realized_pnl),
        "up": fixed(unrealized),
        "mt": position.margin_type,
        "iw": fixed(position.isolated_wallet),
        "ps": "BOTH",
    }


def account_update(
    account: Account, reason: str, assets: list[str], positions: list[dict], now: int
) -> dict:
    wallet = account.futures
    balances = [
        {"a": a, "wb": fixed(wallet.wallet(a)), "cw": fixed(wallet.wallet(a)), "bc": "0"}
        for a in assets
    ]
    return {
        "e": "ACCOUNT_UPDATE",
        "E": now,
        "T": now,
        "a": {"m": reason, "B": balances, "P": positions},
    }


# --- listenKeys ---------------------------------------------------------------------------------
@dataclass
class ListenKey:
    key: str
    account: Account
    expires_at: int


class ListenKeys:
    def __init__(self, clock: Callable[[], int]) -> None:
        self.clock = clock
        self.keys: dict[str, ListenKey] = {}

    def create(self, account: Account) -> str:
        """Binance returns the account's live key (extending it) instead of a second one."""
        for entry in self.keys.values():
            if entry.account is account and entry.expires_at > self.clock():
                entry.expires_at = self.clock() + LISTEN_KEY_TTL_MS
                return entry.key
        alphabet = string.ascii_letters + string.digits
        key = "".join(secrets.choice(alphabet) for _ in range(64))
        self.keys[key] = ListenKey(key, account, self.clock() + LISTEN_KEY_TTL_MS)
        return key

    def get(self, key: str) -> ListenKey:
        entry = self.keys.get(key)
        if entry is None or entry.expires_at <= self.clock():
            raise errors.invalid_listen_key()
        return entry

    def extend(self, account: Account, key: str | None) -> None:
        entries = (
            [self.get(key)] if key else [e for e in self.keys.values() if e.account is account]
        )
        if not entries or entries[0].account is not account:
            raise errors.invalid_listen_key()
        for entry in entries:
            entry.expires_at = self.clock() + LISTEN_KEY_TTL_MS

    def delete(self, account: Account, key: str | None) -> list[str]:
        removed = [
            k for k, e in self.keys.items() if e.account is account and (key is None or k == key)
        ]
        for k in removed:
            del self.keys[k]
        return removed


# --- event routing ------------------------------------------------------------------------------
class UserEvents:
    """Implements the engines' event sinks and delivers events to subscribed sockets."""

    def __init__(
        self, hub: StreamHub, symbols: dict[str, dict[str, SymbolInfo]], clock, marks
    ) -> None:
        self.hub = hub
        self.symbols = symbols
        self.clock = clock
        self.marks = marks  # symbol -> current price (for unrealized PnL)
        self.listen_keys = ListenKeys(clock)
        self.history: deque[tuple[str, dict]] = deque(maxlen=10_000)
        self._seq = itertools.count(1)

    def _spot(self, account: Account, event: dict) -> None:
        self.history.append((account.name, event))
        for conn in self.hub.of_kind("wsapi"):
            for sub_id, sub_account in conn.user_subscriptions.items():
                if sub_account is account:
                    conn.send({"subscriptionId": sub_id, "event": event})

    def _futures(self, account: Account, event: dict) -> None:
        self.history.append((account.name, event))
        for conn in self.hub.of_kind("futures_user"):
            entry = self.listen_keys.keys.get(conn.listen_key)
            if entry is not None and entry.account is account:
                conn.send(event)

    # spot sink
    def spot_order(self, order: Order, exec_type: str, fill: Fill | None = None) -> None:
        info = self.symbols["spot"][order.symbol]
        self._spot(
            order.account,
            execution_report(info, order, exec_type, fill, self.clock(), next(self._seq)),
        )

    def spot_balances(self, account: Account, assets: list[str]) -> None:
        self._spot(account, account_position(account, assets, self.clock()))

    def spot_list_status(self, order_list: OrderList) -> None:
        self._spot(order_list.orders[0].account, list_status(order_list, self.clock()))

    def spot_balance_update(self, account: Account, asset: str, delta) -> None:
        now = self.clock()
        self._spot(
            account, {"e": "balanceUpdate", "E": now, "a": asset, "d": fixed(delta), "T": now}
        )

    # futures sink
    def futures_order(self, order: Order, exec_type: str, fill: Fill | None = None) -> None:
        info = self.symbols["futures"][order.symbol]
        now = self.clock()
        if fill is not None:
            self._futures(order.account, trade_lite(info, order, fill, now))
        self._futures(order.account, order_trade_update(info, order, exec_type, fill, now))

    def futures_account(
        self, account: Account, reason: str, assets: list[str], symbols: list[str]
    ) -> None:
        positions = [
            position_entry(account.futures.position(s), self.symbols["futures"][s], self.marks(s))
            for s in symbols
        ]
        self._futures(account, account_update(account, reason, assets, positions, self.clock()))

    def futures_algo(self, account: Account, body: dict) -> None:
        now = self.clock()
        self._futures(account, {"e": "ALGO_UPDATE", "T": now, "E": now, "o": body})

    # faults
    def expire_listen_keys(self, key: str | None = None, close: bool = False) -> list[str]:
        """Send listenKeyExpired; the stream then stays silent (or is closed when asked)."""
        expired = [k for k in self.listen_keys.keys if key is None or k == key]
        now = self.clock()
        for k in expired:
            del self.listen_keys.keys[k]
            for conn in self.hub.of_kind("futures_user"):
                if conn.listen_key == k:
                    conn.send({"e": "listenKeyExpired", "E": now, "listenKey": k})
                    if close:
                        conn.close()
        return expired

    def terminate_spot_subscriptions(self) -> int:
        count = 0
        for conn in self.hub.of_kind("wsapi"):
            for sub_id in list(conn.user_subscriptions):
                conn.send(
                    {
                        "subscriptionId": sub_id,
                        "event": {"e": "eventStreamTerminated", "E": self.clock()},
                    }
                )
                del conn.user_subscriptions[sub_id]
                count += 1
        return count


# --- WebSocket API (/ws-api/v3) -------------------------------------------------------------------
class WsApi:
    def __init__(self, keys: dict[str, ApiKey], clock, record) -> None:
        self.keys = keys
        self.clock = clock
        self.record = record  # callable(method, params) -> None

    async def __call__(self, conn: Connection, text: str) -> None:
        try:
            request = json.loads(text)
        except ValueError:
            conn.send(
                {"id": None, "status": 400, "error": {"code": -1135, "msg": "Invalid JSON Request"}}
            )
            return
        req_id, method = request.get("id"), request.get("method", "")
        params = request.get("params") or {}
        self.record(method, params)
        try:
            result = self.dispatch(conn, method, params)
        except errors.BinanceError as exc:
            conn.send({"id": req_id, "status": exc.status, "error": exc.payload()})
            return
        conn.send({"id": req_id, "status": 200, "result": result})

    def dispatch(self, conn: Connection, method: str, params: dict):
        if method == "userDataStream.subscribe.signature":
            return self.subscribe(conn, params)
        if method == "userDataStream.unsubscribe":
            sub_id = params.get("subscriptionId")
            if sub_id is None:
                conn.user_subscriptions.clear()
            elif conn.user_subscriptions.pop(sub_id, None) is None:
                raise errors.BinanceError(-2036, "User Data Stream subscription not active.")
            return {}
        if method == "session.subscriptions":
            return [{"subscriptionId": s} for s in conn.user_subscriptions]
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self.clock()}
        raise errors.BinanceError(-1020, "This operation is not supported.")

    def subscribe(self, conn: Connection, params: dict) -> dict:
        api_key = auth.resolve_key(self.keys, params.get("apiKey"))
        auth.check_ws_signature(api_key.secret, params)
        auth.check_timestamp({k: str(v) for k, v in params.items()}, self.clock())
        if api_key.account in conn.user_subscriptions.values():
            raise errors.BinanceError(-2035, "User Data Stream subscription already active.")
        sub_id = max(conn.user_subscriptions, default=-1) + 1
        conn.user_subscriptions[sub_id] = api_key.account
        return {"subscriptionId": sub_id}


async def ws_api_handler(request: web.Request, hub: StreamHub, api: WsApi) -> web.StreamResponse:
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    await hub.run(Connection(ws=ws, kind="wsapi"), api)
    return ws


async def futures_user_handler(request: web.Request, hub: StreamHub, events: UserEvents, key: str):
    try:
        events.listen_keys.get(key)
    except errors.BinanceError as exc:
        return web.json_response(exc.payload(), status=400)
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)

    async def ignore(conn: Connection, text: str) -> None:
        return None

    await hub.run(Connection(ws=ws, kind="futures_user", listen_key=key), ignore)
    return ws
