"""Admin HTTP API under /_fake/... for driving a hand-run server (curl-friendly JSON).

POST   /_fake/advance            {"n": 1}                      replay candles
POST   /_fake/price              {"symbol", "price"}           trade at price (unbounded size)
POST   /_fake/trade              {"symbol", "price", "qty"}    public trade of qty
GET    /_fake/faults                                           list fault rules
POST   /_fake/faults             {"kind", "method", "path", "count", "duration", ...options}
DELETE /_fake/faults[?id=N]                                    clear one/all rules
GET    /_fake/requests[?method=&path=]                         recorded requests
DELETE /_fake/requests                                         forget them
POST   /_fake/clock              {"skew_ms": 1500}
POST   /_fake/streams/disconnect {"market": true, "user": false}
POST   /_fake/streams/silence    {"silent": true}
POST   /_fake/streams/shutdown                                 serverShutdown event
POST   /_fake/listenkey/expire   {"listenKey": optional, "close": false}
POST   /_fake/user/terminate                                   eventStreamTerminated
POST   /_fake/balance            {"asset", "free", "account"}
GET    /_fake/state                                            prices, balances, rules
"""

from __future__ import annotations

import dataclasses
import json
from typing import TYPE_CHECKING

from aiohttp import web

from .decimals import fixed

if TYPE_CHECKING:
    from .server import LocalBinance


async def _body(request: web.Request) -> dict:
    text = await request.text()
    return json.loads(text) if text.strip() else {}


def _ok(payload: object) -> web.Response:
    return web.json_response(payload)


async def handle_admin(server: LocalBinance, request: web.Request) -> web.Response:
    route = request.path.removeprefix("/_fake").strip("/")
    body = await _body(request) if request.method in ("POST", "PUT") else {}
    try:
        return _ok(_dispatch(server, request, route, body))
    except (KeyError, ValueError, TypeError) as exc:
        return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)


def _dispatch(server: LocalBinance, request: web.Request, route: str, body: dict) -> object:
    handler = ROUTES.get(route)
    if handler is None:
        raise KeyError(f"unknown admin route /_fake/{route}")
    return handler(server, request, body)


def _advance(server: LocalBinance, request: web.Request, body: dict) -> dict:
    return {"advanced": server.advance(int(body.get("n", 1)))}


def _price(server: LocalBinance, request: web.Request, body: dict) -> dict:
    server.set_price(body["symbol"], str(body["price"]))
    return {"symbol": body["symbol"], "price": fixed(server.price(body["symbol"]))}


def _trade(server: LocalBinance, request: web.Request, body: dict) -> dict:
    server.emit_trade(body["symbol"], str(body["price"]), str(body["qty"]))
    return {}


def _requests(server: LocalBinance, request: web.Request, body: dict) -> object:
    if request.method == "DELETE":
        server.log.clear()
        return {}
    found = server.requests(request.query.get("method"), request.query.get("path"))
    return [dataclasses.asdict(e) for e in found]


def _clock(server: LocalBinance, request: web.Request, body: dict) -> dict:
    server.set_clock_skew(int(body.get("skew_ms", 0)))
    return {"skew_ms": server.exchange.clock_skew_ms}


def _disconnect(server: LocalBinance, request: web.Request, body: dict) -> dict:
    return {"closed": server.disconnect_streams(body.get("market", True), body.get("user", False))}


def _silence(server: LocalBinance, request: web.Request, body: dict) -> dict:
    server.silence_streams(bool(body.get("silent", True)))
    return {"silent": server.hub.silent}


def _shutdown(server: LocalBinance, request: web.Request, body: dict) -> dict:
    server.server_shutdown()
    return {}


def _expire(server: LocalBinance, request: web.Request, body: dict) -> dict:
    expired = server.expire_listen_key(body.get("listenKey"), bool(body.get("close", False)))
    return {"expired": expired}


def _terminate(server: LocalBinance, request: web.Request, body: dict) -> dict:
    return {"terminated": server.terminate_user_streams()}


def _balance(server: LocalBinance, request: web.Request, body: dict) -> dict:
    server.set_balance(body["asset"], str(body["free"]), body.get("account", "default"))
    return {}


def _faults(server: LocalBinance, request: web.Request, body: dict) -> object:
    method = request.method
    if method == "POST":
        kind = body.pop("kind")
        return {"id": server.inject(kind, **body)}
    if method == "DELETE":
        rule_id = request.query.get("id")
        if rule_id:
            server.faults.remove(int(rule_id))
        else:
            server.clear_faults()
        return {}
    return [rule.describe() for rule in server.faults.rules]


def _state(server: LocalBinance, request: web.Request, body: dict) -> dict:
    ex = server.exchange
    return {
        "markets": {
            s: {"price": fixed(m.price), "time": m.now_ms, "remaining_candles": m.remaining}
            for s, m in ex.markets.items()
        },
        "accounts": {
            name: {
                a: {"free": fixed(b.free), "locked": fixed(b.locked)}
                for a, b in acct.spot.balances.items()
            }
            for name, acct in ex.accounts.items()
        },
        "faults": [rule.describe() for rule in server.faults.rules],
        "connections": len(ex.hub.connections),
    }


ROUTES = {
    "advance": _advance,
    "price": _price,
    "trade": _trade,
    "faults": _faults,
    "requests": _requests,
    "clock": _clock,
    "streams/disconnect": _disconnect,
    "streams/silence": _silence,
    "streams/shutdown": _shutdown,
    "listenkey/expire": _expire,
    "user/terminate": _terminate,
    "balance": _balance,
    "state": _state,
}
