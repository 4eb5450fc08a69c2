"""Binance's user-data stream: order updates and fills as they happen, for every exchange account
with an active portfolio. Spot arrives over the WebSocket API subscription python-binance opens
(`user_socket`); USD-M over a listenKey (`futures_user_socket`).

The stream is a fast path, not the source of truth on its own: events may repeat, arrive out of
order, or be missed across a reconnect. Applying one is idempotent (fills once per trade id,
statuses only forward), and after every (re)connect the open orders are queried over REST, so
whatever happened while the stream was away is caught up.
"""

import asyncio
import logging
import time
from datetime import UTC, datetime
from decimal import Decimal

from channels.db import database_sync_to_async

from marketdata.exchange.clients import build_async_client, build_socket_manager
from marketdata.streams import Backoff, sleep_unless
from orders.gateways.base import ExchangeOrder, OrderReport, TradeFill

logger = logging.getLogger(__name__)

SOCKET_READ_TIMEOUT = 1.0
RESTART_EVENTS = {"eventStreamTerminated", "listenKeyExpired", "serverShutdown"}


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def spot_order_event(event: dict) -> OrderReport:
    """An executionReport as the exchange's view of the order, with its one new fill, if any."""
    fills = []
    if event["x"] == "TRADE":
        price, qty = Decimal(event["L"]), Decimal(event["l"])
        fills.append(TradeFill(trade_id=int(event["t"]), price=price, quantity=qty,
                               quote_quantity=Decimal(event.get("Y") or price * qty),
                               commission=Decimal(event["n"]),
                               commission_asset=event["N"] or "", is_maker=bool(event["m"]),
                               executed_at=_at(event["T"])))
    # A cancel carries the cancel request's own id in "c" and the order's in "C".
    client_id = event.get("C") or event["c"]
    answer = ExchangeOrder(status=event["X"], exchange_order_id=event["i"],
                           executed_qty=Decimal(event["z"]),
                           cumulative_quote=Decimal(event["Z"]), fills=fills)
    return OrderReport(client_order_id=client_id, symbol=event["s"], side=event["S"],
                      order_type=event["o"], quantity=Decimal(event["q"]),
                      price=Decimal(event["p"]), answer=answer, event_time=event["E"])


def futures_order_event(event: dict) -> OrderReport:
    """An ORDER_TRADE_UPDATE as the exchange's view of the order, with its one new fill."""
    body = event["o"]
    fills = []
    if body["x"] == "TRADE":
        price, qty = Decimal(body["L"]), Decimal(body["l"])
        fills.append(TradeFill(trade_id=int(body["t"]), price=price, quantity=qty,
                               quote_quantity=price * qty, commission=Decimal(body["n"]),
                               commission_asset=body.get("N") or "",
                               is_maker=bool(body["m"]), executed_at=_at(body["T"])))
    executed = Decimal(body["z"])
    answer = ExchangeOrder(status=body["X"], exchange_order_id=body["i"], executed_qty=executed,
                           cumulative_quote=executed * Decimal(body.get("ap") or "0"),
                           fills=fills)
    return OrderReport(client_order_id=body["c"], symbol=body["s"], side=body["S"],
                       order_type=body.get("ot") or body["o"], quantity=Decimal(body["q"]),
                       price=Decimal(body["p"]), answer=answer, event_time=event["E"])


def spot_balances_event(event: dict) -> dict[str, tuple[Decimal, Decimal]]:
    """outboundAccountPosition: the assets that changed, free and locked."""
    return {b["a"]: (Decimal(b["f"]), Decimal(b["l"])) for b in event["B"]}


def futures_positions_event(event: dict) -> dict[str, tuple[Decimal, Decimal]]:
    """ACCOUNT_UPDATE: the one-way positions that changed, amount and entry price."""
    return {p["s"]: (Decimal(p["pa"]), Decimal(p["ep"])) for p in event["a"]["P"]
            if p.get("ps", "BOTH") == "BOTH"}


@database_sync_to_async
def _apply(account_id: int, venue: str, order_event: OrderReport) -> None:
    from orders.services import order_event_apply

    order_event_apply(account_id=account_id, venue=venue, event=order_event)


@database_sync_to_async
def _apply_algo(account_id: int, client_algo_id: str) -> None:
    from orders.services import algo_event_apply

    algo_event_apply(account_id=account_id, client_order_id=client_algo_id)


@database_sync_to_async
def _apply_holdings(account_id: int, *, balances=None, positions=None) -> None:
    from orders import sync

    portfolio = sync.sole_portfolio(account_id)
    if portfolio is None:
        return
    if balances:
        sync.balances_apply(portfolio=portfolio, balances=balances, complete=False)
    if positions:
        sync.futures_positions_apply(portfolio=portfolio, positions=positions, complete=False)


@database_sync_to_async
def _catch_up(account_id: int) -> None:
    from orders.services import orders_refresh_for_account

    orders_refresh_for_account(account_id=account_id)


class UserStream:
    """One account's user-data connection, kept alive until `stop` is set."""

    def __init__(self, *, account_id: int, venue, api_key: str, api_secret: str,
                 market: str = "spot"):
        self.account_id, self.venue, self.market = account_id, venue, market
        self.api_key, self.api_secret = api_key, api_secret
        self.connected = False
        self.reconnects = 0

    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            started, failed = time.monotonic(), False
            try:
                await self._run_connection(stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - whatever broke, reconnect and catch up
                logger.warning("user stream of account %s broke: %s", self.account_id, exc)
                failed = True
            self.connected = False
            self.reconnects += 1
            await sleep_unless(stop, backoff.delay(lived=time.monotonic() - started,
                                                   failed=failed))

    async def _run_connection(self, stop: asyncio.Event) -> None:
        client = await build_async_client(self.venue, api_key=self.api_key,
                                          api_secret=self.api_secret)
        try:
            manager = build_socket_manager(self.venue, client)
            socket = (manager.user_socket() if self.market == "spot"
                      else manager.futures_user_socket())
            socket.TIMEOUT = SOCKET_READ_TIMEOUT  # see marketdata.streams: quick, clean closes
            socket.MAX_RECONNECTS = 0
            async with socket as stream:
                self.connected = True
                await _catch_up(self.account_id)  # whatever happened while we were away
                while not stop.is_set():
                    try:
                        event = await asyncio.wait_for(stream.recv(), timeout=1.0)
                    except TimeoutError:
                        continue
                    await self._handle(event)
        finally:
            await client.close_connection()

    async def _handle(self, event: dict) -> None:
        kind = event.get("e")
        if kind == "error" or kind in RESTART_EVENTS:
            raise ConnectionError(f"user stream ended: {kind} {event.get('m', '')}")
        if kind == "executionReport":
            await _apply(self.account_id, self.venue.key, spot_order_event(event))
        elif kind == "ORDER_TRADE_UPDATE":
            await _apply(self.account_id, self.venue.key, futures_order_event(event))
        elif kind == "ALGO_UPDATE":
            await _apply_algo(self.account_id, event["o"]["caid"])
        elif kind == "outboundAccountPosition":
            await _apply_holdings(self.account_id, balances=spot_balances_event(event))
        elif kind == "ACCOUNT_UPDATE":
            await _apply_holdings(self.account_id, positions=futures_positions_event(event))
