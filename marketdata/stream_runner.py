"""Wires the stream supervisor to Django: what to watch, where to connect, where data goes.

Served profile: `manage.py run_streams` runs this in its own process. Embedded profile:
`runplatform` runs it in a thread beside the worker, so the in-memory channel layer reaches the
pages.
"""

import asyncio
import contextlib
import logging
import threading
from datetime import timedelta
from functools import partial

from channels.db import database_sync_to_async
from django.conf import settings
from django.db.models import Max

from marketdata.exchange.clients import Venue, build_async_client, build_socket_manager
from marketdata.exchange.gateway import BinanceGateway
from marketdata.klines import klines_repair_gaps, klines_sync
from marketdata.models import Kline, WatchedSymbol
from marketdata.stream_sink import PlatformSink
from marketdata.streams import (
    INTERVAL_SECONDS,
    StreamSupervisor,
    Subscription,
    SupervisorSettings,
)
from marketdata.venues import market_data_venue

logger = logging.getLogger(__name__)
MARKETS = ("spot", "futures")
REPAIR_WINDOW_CANDLES = 200


@database_sync_to_async
def watched_subscription(market: str) -> Subscription:
    watched = WatchedSymbol.objects.active().filter(market=market).order_by("symbol")
    return Subscription(market, tuple((w.symbol, tuple(w.interval_list())) for w in watched))


def repair_after_reconnect(market: str, subscription: Subscription, *, venue: Venue) -> None:
    """Fetch over REST, from the stream's own venue, whatever closed while it was away.

    Two steps: holes among the recent candles (a close event lost in a reconnect leaves one
    behind the newest stored candle, where a plain "since the newest" sync never looks), then
    everything since the newest stored candle.
    """
    gateway = BinanceGateway(venue)
    for symbol, intervals in subscription.symbols:
        for interval in intervals:
            series = {"symbol": symbol, "interval": interval, "market": market}
            newest = (Kline.objects.filter(**series).aggregate(newest=Max("open_time"))
                      ["newest"])
            if newest is not None:
                window = timedelta(seconds=INTERVAL_SECONDS[interval] * REPAIR_WINDOW_CANDLES)
                klines_repair_gaps(**series, start=newest - window, end=newest,
                                   gateway=gateway)
            klines_sync(**series, gateway=gateway)


def supervisor_settings() -> SupervisorSettings:
    return SupervisorSettings(silence_timeout=settings.STREAM_SILENCE_SECONDS,
                              stale_seconds=settings.STREAM_STALE_SECONDS,
                              resubscribe_every=settings.STREAM_RESUBSCRIBE_SECONDS)


def build_supervisor(market: str, *, venue: Venue | None = None,
                     sink: PlatformSink | None = None) -> StreamSupervisor:
    venue = venue or market_data_venue()
    return StreamSupervisor(
        market=market,
        subscription=lambda: watched_subscription(market),
        client_factory=lambda: build_async_client(venue),
        socket_manager_factory=lambda client: build_socket_manager(venue, client),
        sink=sink or PlatformSink(push_interval=settings.STREAM_PUSH_INTERVAL,
                                  repair=partial(repair_after_reconnect, venue=venue)),
        settings=supervisor_settings(),
    )


@database_sync_to_async
def _trading_accounts() -> dict[int, dict]:
    """Exchange accounts that active exchange-traded portfolios use, with what a stream needs."""
    from portfolios.models import ExchangeAccount

    accounts = ExchangeAccount.objects.filter(portfolios__active=True).exclude(
        portfolios__mode="paper").distinct()
    found = {}
    for account in accounts:
        api_key, api_secret = account.credentials()
        found[account.pk] = {"venue": account.venue(), "api_key": api_key,
                             "api_secret": api_secret, "market": account.market}
    return found


async def run_user_streams(stop: asyncio.Event, *, check_every: float = 10.0) -> None:
    """One user-data stream per trading account, started and stopped as accounts come and go."""
    from orders.userdata import UserStream

    running: dict[int, tuple[asyncio.Task, asyncio.Event]] = {}
    while not stop.is_set():
        wanted = await _trading_accounts()
        for account_id in set(running) - set(wanted):
            _, own_stop = running.pop(account_id)
            own_stop.set()
        for account_id in set(wanted) - set(running):
            own_stop = asyncio.Event()
            stream = UserStream(account_id=account_id, **wanted[account_id])
            running[account_id] = (asyncio.create_task(stream.run(own_stop)), own_stop)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=check_every)
    for _, own_stop in running.values():
        own_stop.set()
    await asyncio.gather(*(task for task, _ in running.values()), return_exceptions=True)


async def run_streams(stop: asyncio.Event, markets=MARKETS) -> None:
    supervisors = [build_supervisor(market) for market in markets]
    await asyncio.gather(*(supervisor.run(stop) for supervisor in supervisors),
                         run_user_streams(stop))


class StreamThread(threading.Thread):
    """The supervisors on their own event loop in a daemon thread (embedded profile)."""

    def __init__(self, markets=MARKETS):
        super().__init__(name="market-streams", daemon=True)
        self.markets = markets
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None

    def run(self):
        asyncio.set_event_loop(self.loop)
        self.stop_event = asyncio.Event()
        try:
            self.loop.run_until_complete(run_streams(self.stop_event, self.markets))
        finally:
            self.loop.close()

    def stop(self, timeout: float = 10):
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.join(timeout)
