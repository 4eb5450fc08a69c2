"""The symbol page in Chromium: history renders, then a trade on the local Binance moves the
last price on the page (stream supervisor -> channel layer -> WebSocket -> browser)."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import Client

from marketdata.exchange.gateway import BinanceGateway
from marketdata.models import Kline, WatchedSymbol
from marketdata.stream_runner import build_supervisor
from marketdata.stream_sink import PlatformSink
from tests.support.browser import screenshot, wait_for_js
from tests.support.servers import running_in_thread as running
from tests.support.servers import wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def store_history(venue, symbol="BTCUSDT", interval="1m", limit=300):
    rows = BinanceGateway(venue).call("get_klines", symbol=symbol, interval=interval,
                                      limit=limit)

    def at(ms):
        return datetime.fromtimestamp(ms / 1000, tz=UTC)

    Kline.objects.bulk_create([
        Kline(market="spot", symbol=symbol, interval=interval, open_time=at(r[0]),
              close_time=at(r[6]), open=Decimal(r[1]), high=Decimal(r[2]), low=Decimal(r[3]),
              close=Decimal(r[4]), volume=Decimal(r[5]))
        for r in rows[:-1]  # the last one is still forming
    ], ignore_conflicts=True)


def test_the_symbol_page_draws_history_and_follows_live_trades(page, asgi_live_server, trader,
                                                               local_venue, local_binance,
                                                               settings, fast_socket_exit):
    WatchedSymbol.objects.update_or_create(market="spot", symbol="BTCUSDT",
                                           defaults={"intervals": "1m", "active": True})
    store_history(local_venue)
    settings.STREAM_RESUBSCRIBE_SECONDS = 0.5
    supervisor = build_supervisor("spot", venue=local_venue,
                                  sink=PlatformSink(push_interval=0.05, repair=None))
    login = Client()
    login.force_login(trader)
    page.context.add_cookies([{"name": "sessionid", "value": login.cookies["sessionid"].value,
                               "url": asgi_live_server.url}])

    with running(supervisor):
        wait_until(lambda: supervisor.connection is not None, timeout=10,
                   what="the stream to connect")
        page.goto(asgi_live_server.url + "/market/spot/BTCUSDT/?interval=1m")
        stored = Kline.objects.filter(symbol="BTCUSDT", interval="1m").count()
        wait_for_js(page,
            f"Number(document.getElementById('chart').dataset.loaded) === {stored}")
        page.wait_for_selector("#live-status.online")
        assert page.locator("#chart canvas").count() > 0

        price = (local_binance.price("BTCUSDT") * Decimal("1.01")).quantize(Decimal("0.01"))
        page.wait_for_timeout(300)  # let the page's subscription reach the server
        local_binance.emit_trade("BTCUSDT", price, "0.5")
        wait_for_js(page,
            f"Number(document.getElementById('last-price').textContent) === {price}",
            timeout=10_000)
        screenshot(page, "symbol-page-live")
