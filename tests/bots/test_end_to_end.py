"""The trading loop end to end: the stream process stores each closed candle and asks for a
tick, a real Celery worker ticks the bot, the bot's paper orders fill on the streamed prices,
and the trader's dashboard in Chromium follows it all without a reload, then stops the bot.
Embedded profile: one `runplatform` process (pages, in-process worker and streams) on the
test's SQLite file; served profile (CI): a `celery worker` process and a `run_streams`
process on PostgreSQL and Redis, pages from the test's own daphne on the Redis layer."""

from decimal import Decimal as D

import pytest
from django.conf import settings
from django.test import Client

from bots.models import Bot, BotDecision
from bots.services import bot_create, bot_start
from marketdata.klines.fetching import klines_sync
from marketdata.models import Kline, WatchedSymbol
from marketdata.services import symbols_sync
from orders.models import Fill, Order, Position
from orders.services import paper_deposit
from portfolios.models import Portfolio
from tests.localbinance.exchange import ServerConfig
from tests.support.browser import screenshot, wait_for_js
from tests.support.servers import (
    database_url_for_processes,
    embedded_env,
    free_port,
    http_get,
    served_env,
    start_process,
    stop_process,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def local_binance_config():
    return ServerConfig(realtime=True)  # candles in the present: ticks are not "late"


@pytest.fixture
def platform(request, local_binance, tmp_path):
    """The processes that run the loop, pointed at the local Binance and the test database;
    yields the URL the pages are served at."""
    venue = {"BINANCE_MARKET_DATA_VENUE": local_binance.rest_url, "LOG_LEVEL": "INFO"}
    if settings.PLATFORM_PROFILE == "served":
        request.getfixturevalue("served_worker")
        url = request.getfixturevalue("asgi_live_server").url
        process = start_process(["manage.py", "run_streams", "--market", "spot"],
                                served_env(**venue))
    else:
        # The same secret key: the browser's session (made here) must be valid there.
        env = embedded_env(tmp_path, DATABASE_URL=database_url_for_processes(),
                           SECRET_KEY=settings.SECRET_KEY, **venue)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start_process(["manage.py", "runplatform", "--port", str(port),
                                 "--no-beat"], env)
        wait_until(lambda: http_get(url + "/healthz")[0] == 200, timeout=60,
                   what="the platform to serve pages")
    yield url
    print(stop_process(process)[-4000:])  # shown by pytest only when the test failed


def watch_dashboard(page, url, trader, portfolio):
    login = Client()
    login.force_login(trader)
    page.context.add_cookies([{"name": "sessionid", "value": login.cookies["sessionid"].value,
                               "url": url}])
    page.goto(f"{url}/dashboard/?portfolio={portfolio.pk}")
    page.wait_for_selector("#live-status.online", timeout=15_000)


def stored_candles() -> int:
    return Kline.objects.filter(symbol="BTCUSDT", interval="1m").count()


def close_one_candle(local_binance) -> None:
    before = stored_candles()
    local_binance.advance(1)
    wait_until(lambda: stored_candles() > before, timeout=20,
               what="the stream process to store the closed candle")


def test_a_bot_trades_on_replayed_candles_then_stops(trader, local_venue, local_binance,
                                                     platform, page):
    symbols_sync(market="spot", venue=local_venue)
    # (A transactional test before this one may have flushed the migration's defaults.)
    WatchedSymbol.objects.update_or_create(market="spot", symbol="BTCUSDT",
                                           defaults={"intervals": "1m", "active": True})
    WatchedSymbol.objects.exclude(symbol="BTCUSDT").update(active=False)
    from marketdata.exchange.gateway import BinanceGateway

    klines_sync(symbol="BTCUSDT", interval="1m", gateway=BinanceGateway(local_venue))
    portfolio = Portfolio.objects.create(owner=trader, name="e2e", total_budget=D("5000"))
    paper_deposit(portfolio=portfolio, asset="USDT", amount=D("5000"))
    bot = bot_start(bot=bot_create(portfolio=portfolio, name="fast sma", symbol="BTCUSDT",
                                   strategy="sma_cross", params={"fast": 2, "slow": 5},
                                   sizing_config={"amount": "500"}))

    def replay_until(condition, what, limit=80):
        for _ in range(limit):
            close_one_candle(local_binance)
            if condition():
                return
        raise AssertionError(f"{what} did not happen in {limit} candles")

    watch_dashboard(page, platform, trader, portfolio)
    row = f"#bots-table tr[data-bot-id='{bot.pk}']"
    page.wait_for_selector(f"{row}[data-status=running]")
    page.evaluate("window.stillTheSamePage = true")

    replay_until(lambda: Fill.objects.filter(order__bot=bot, side="SELL").exists(),
                 "a round trip (entry and exit filled)")
    wait_until(lambda: BotDecision.objects.filter(bot=bot).count() >= 2, timeout=20,
               what="decisions")

    entry = Order.objects.filter(bot=bot, side="BUY").first()
    assert entry.status == "FILLED"
    assert entry.decision.outcome == BotDecision.Outcome.ENTER
    assert "crossed above" in entry.decision.reason
    assert Position.objects.get(portfolio=portfolio, symbol="BTCUSDT").realised_pnl != 0
    # One decision per candle, read in one query: the bot keeps deciding meanwhile.
    candles = list(BotDecision.objects.filter(bot=bot).values_list("candle_open_time",
                                                                    flat=True))
    assert len(candles) == len(set(candles))

    # The dashboard followed it all by itself: the fills, the position, the bot's decisions.
    trades = Fill.objects.filter(order__bot=bot).count()
    wait_for_js(page,
        f"document.querySelectorAll('#fills tr[data-trade-id]').length >= {trades}",
        timeout=15_000)
    page.wait_for_selector("#positions tr[data-position-symbol='BTCUSDT']", timeout=15_000)
    page.wait_for_selector(f"{row} [data-field=last-decision] .outcome", timeout=15_000)
    screenshot(page, "end-to-end-dashboard")

    page.click(f"{row} [data-control=stop]")
    page.wait_for_selector(f"{row}[data-status=stopped]", timeout=15_000)
    assert page.evaluate("window.stillTheSamePage") is True
    decided = BotDecision.objects.filter(bot=bot).count()
    for _ in range(3):
        close_one_candle(local_binance)
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.STOPPED
    assert BotDecision.objects.filter(bot=bot).count() == decided  # stopped: no more ticks
