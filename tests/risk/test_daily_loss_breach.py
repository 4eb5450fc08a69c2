"""Issue 7, done when: a portfolio on the local Binance driven through a daily-loss breach: the
alert raised and pushed over the WebSocket, bots paused, entries blocked, exits still allowed."""

import asyncio
import time
from datetime import UTC, timedelta
from decimal import Decimal as D

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.db import connections
from django.utils import timezone

from bots.models import Bot
from bots.services import bot_create, bot_start
from marketdata import live
from orders.models import OrderStatus
from orders.services import OrderRefused, order_create, order_submit
from portfolios.services import equity_snapshots_take, portfolio_valuation
from risk.models import BreachAction, EntryBlock, RiskAlert, RiskLimit
from risk.tasks import risk_monitor_task
from tests.test_websocket import session_cookie
from tradingsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
SYMBOLS = ("BTCUSDT", "ETHUSDT")


@pytest.fixture
def market_stream(local_binance):
    """What the market stream does for the platform, by hand: the local Binance's last prices
    in the cache, fresh. Call it after every price move."""
    def publish():
        cache.set(live.status_key("spot"), {
            "connected": True, "updated_at": time.time(),
            "symbols": {s: {"stale": False, "age": 0} for s in SYMBOLS}})
        for symbol in SYMBOLS:
            cache.set(live.ticker_key("spot", symbol),
                      {"symbol": symbol, "price": str(local_binance.price(symbol))})

    publish()
    yield publish
    cache.delete_many([live.status_key("spot")] + [live.ticker_key("spot", s) for s in SYMBOLS])


def socket_for(headers) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, "/ws/events/", headers=headers)


async def next_event(socket, event_type):
    while True:  # the bot's pause is announced too
        event = await socket.receive_json_from(timeout=5)
        if event["type"] == event_type:
            return event["data"]


def posted_orders(local_binance):
    return local_binance.requests("POST", "/api/v3/order")


def test_a_daily_loss_breach_alerts_live_pauses_bots_blocks_entries_and_lets_exits_out(
        portfolio, local_binance, market_stream, trader, staff):
    midnight = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    equity_snapshots_take(at=midnight - timedelta(minutes=1))  # yesterday's last look
    day_start = portfolio.snapshots.get().equity
    RiskLimit.objects.create(portfolio=portfolio, max_daily_loss=D("1000"),
                             on_breach=BreachAction.PAUSE_BOTS)
    bot = bot_start(bot=bot_create(portfolio=portfolio, name="sma", symbol="BTCUSDT",
                                   strategy="sma_cross", params={"fast": 2, "slow": 3}))
    assert risk_monitor_task() == 1
    assert not RiskAlert.objects.exists()  # within the limit so far

    headers = [[(b"cookie", session_cookie(user).encode()), (b"origin", b"http://127.0.0.1")]
               for user in (trader, staff)]

    def crash_and_monitor():
        try:
            price = local_binance.price("BTCUSDT")
            local_binance.set_price("BTCUSDT", price - D("3000"))  # 0.5 BTC held: 1500 lost
            market_stream()
            return risk_monitor_task()  # the beat's sweep
        finally:
            connections.close_all()

    async def scenario():
        mine, boss = (socket_for(h) for h in headers)
        assert (await mine.connect())[0]
        assert (await boss.connect())[0]
        assert await asyncio.to_thread(crash_and_monitor) == 1
        pushed = await next_event(mine, "risk.alert")
        assert await next_event(boss, "risk.alert") == pushed
        await mine.disconnect()
        await boss.disconnect()
        return pushed

    pushed = asyncio.run(scenario())

    # The alert, raised once and pushed to the trader's pages and staff's.
    alert = RiskAlert.objects.active().get()
    equity = portfolio_valuation(portfolio=portfolio).equity
    assert pushed == alert.as_event()
    assert (alert.rule, alert.severity, alert.action_taken) == (
        "max_daily_loss", "critical", BreachAction.PAUSE_BOTS)
    assert D(alert.values["lost"]) == day_start - equity > D("1000")
    assert alert.message.startswith("max daily loss is 1000 USDT; ")

    # The bots are paused, saying why.
    bot.refresh_from_db()
    assert bot.status == Bot.Status.PAUSED
    assert bot.status_reason.startswith("risk: max daily loss is 1000 USDT")

    # Entries are blocked: refused here, never sent to Binance.
    assert EntryBlock.objects.active().get(portfolio=portfolio).source == "breach"
    local_binance.clear_requests()
    with pytest.raises(OrderRefused, match=r"entries are blocked \(risk limit breached\)"):
        order_create(portfolio=portfolio, symbol="ETHUSDT", side="BUY", order_type="MARKET",
                     quote_quantity=D("50"))
    assert posted_orders(local_binance) == []

    # Exits still go out, and fill.
    exit_order = order_submit(order=order_create(portfolio=portfolio, symbol="BTCUSDT",
                                                 side="SELL", order_type="MARKET",
                                                 quantity=D("0.01")))
    assert exit_order.status == OrderStatus.FILLED
    assert exit_order.risk_check == "exit"
    assert len(posted_orders(local_binance)) == 1

    assert risk_monitor_task() == 1
    assert RiskAlert.objects.count() == 1  # still one alert for the one breach
