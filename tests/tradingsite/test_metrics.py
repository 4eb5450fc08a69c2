"""/metrics: the platform's own metrics derived at scrape time, and who may read them."""

import os
import socket
import time
import uuid
from datetime import timedelta
from decimal import Decimal as D

import pytest
import redis
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from bots.models import Bot, BotDecision
from marketdata import live
from marketdata.exchange.limits import RateLimiter
from marketdata.models import WatchedSymbol
from orders.models import Fill, Order, Position
from orders.services import _reconciled_key
from portfolios.models import ExchangeAccount, Portfolio
from tests.conftest import ON_CI
from tradingsite import metrics
from tradingsite.celery import app as celery_app
from tradingsite.tasks import HEARTBEAT_CACHE_KEY

OUTSIDE = "203.0.113.9"  # TEST-NET-3: never loopback, never in the default allow-list
WEIGHT_VENUE_URL = "http://127.0.0.1:59999"  # a venue key no other test uses


def scrape(client: Client, **extra) -> dict[str, list]:
    """GET /metrics and return every sample by name: [(labels, value), ...]."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict, name: str, **labels) -> float | None:
    found = [v for got, v in samples.get(name, []) if got == labels]
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


def account(owner, name: str, *, market="spot", mode="testnet", base_url=""):
    account = ExchangeAccount(owner=owner, name=name, mode=mode, market=market, base_url=base_url)
    account.set_credentials(api_key="k" * 64, api_secret="s" * 64)
    account.save()
    return account


def order(portfolio, status, *, type="MARKET", market="spot", source="manual", sent_ago=None,
          answered_after=None, trade_id=None):
    row = Order.objects.create(portfolio=portfolio, status=status, type=type, market=market,
                               source=source, symbol="BTCUSDT", side="BUY", quantity=D("0.01"))
    if sent_ago is not None:
        sent = timezone.now() - sent_ago
        Order.objects.filter(pk=row.pk).update(submitted_at=sent)
        if answered_after is not None:
            Order.objects.filter(pk=row.pk).update(acknowledged_at=sent + answered_after)
        if answered_after is not None and row.type == "MARKET":
            fill = Fill.objects.create(order=row, venue="testnet", market=market,
                                       symbol="BTCUSDT", trade_id=trade_id, side="BUY",
                                       price=D("100"), quantity=D("0.01"),
                                       quote_quantity=D("1"), executed_at=sent)
            Fill.objects.filter(pk=fill.pk).update(booked_at=sent + answered_after)
    return row


@pytest.fixture
def clean_cache():
    """Keys a test set, deleted after it (the stream status keys always are: conftest)."""
    keys = []
    yield keys
    cache.delete_many(keys)


@pytest.fixture
def books(trader, settings, clean_cache):
    """Orders in several statuses, sent market orders with their fills, bot decisions, a
    position differing from Binance, one portfolio reconciled and one not, a stream status
    and a used weight in the cache."""
    settings.BINANCE_MARKET_DATA_VENUE = "live"
    paper = Portfolio.objects.create(owner=trader, name="paper")
    spot = Portfolio.objects.create(owner=trader, name="spot", mode="testnet",
                                    exchange_account=account(trader, "spot", mode="local",
                                                             base_url=WEIGHT_VENUE_URL))
    futures = Portfolio.objects.create(owner=trader, name="futures", mode="testnet",
                                       exchange_account=account(trader, "futures",
                                                                market="futures"))
    # Orders: 5 FILLED spot manual, 1 NEW spot bot, 1 NEW spot manual, 1 UNKNOWN futures api.
    order(paper, "FILLED", sent_ago=timedelta(seconds=30), answered_after=timedelta(seconds=5),
          trade_id=1)  # paper: no round trip to Binance
    for n, after in enumerate((0.25, 0.5, 1.0), start=2):
        order(spot, "FILLED", sent_ago=timedelta(seconds=60),
              answered_after=timedelta(seconds=after), trade_id=n)
    order(spot, "FILLED", sent_ago=timedelta(hours=2), answered_after=timedelta(seconds=9),
          trade_id=9)  # outside the 15-minute window
    order(paper, "NEW", type="LIMIT", source="bot")
    # A resting limit order: Binance answered (NEW) after half a second, no fill yet.
    order(spot, "NEW", type="LIMIT", sent_ago=timedelta(seconds=40),
          answered_after=timedelta(seconds=0.5))
    order(futures, "UNKNOWN", type="LIMIT", market="futures", source="api",
          sent_ago=timedelta(seconds=10))

    # Decisions of a 1m bot: 100/200/300 ms, decided 2/4/6 s after their candle closed.
    bot = Bot.objects.create(portfolio=paper, name="b", symbol="BTCUSDT", interval="1m",
                             strategy="sma_cross")
    base = (timezone.now() - timedelta(minutes=10)).replace(second=0, microsecond=0)
    for n, (ms, lag) in enumerate(((100, 2), (200, 4), (300, 6))):
        opened = base + timedelta(minutes=n)
        decision = BotDecision.objects.create(bot=bot, candle_open_time=opened, duration_ms=ms)
        BotDecision.objects.filter(pk=decision.pk).update(
            decided_at=opened + timedelta(seconds=60 + lag))
    old = BotDecision.objects.create(bot=bot, candle_open_time=base - timedelta(hours=2),
                                     duration_ms=9000)
    BotDecision.objects.filter(pk=old.pk).update(decided_at=base - timedelta(hours=2))

    Position.objects.create(portfolio=futures, market="futures", symbol="BTCUSDT",
                            quantity=D("1"), exchange_quantity=D("0.5"))
    Position.objects.create(portfolio=futures, market="futures", symbol="ETHUSDT",
                            quantity=D("2"), exchange_quantity=D("2"))
    reconciled_at = timezone.now() - timedelta(seconds=20)
    cache.set(_reconciled_key(spot.pk), reconciled_at.isoformat())
    clean_cache.append(_reconciled_key(spot.pk))

    cache.set(live.status_key("spot"), {
        "updated_at": time.time() - 1, "connected": True,
        "symbols": {"BTCUSDT": {"age": 0.5, "stale": False},
                    "ETHUSDT": {"age": 200.0, "stale": True}}})
    WatchedSymbol.objects.create(market="futures", symbol="BTCUSDT")

    while time.time() % 60 > 57:  # the weight counts per minute: not across a boundary
        time.sleep(0.2)
    limiter = RateLimiter(f"local:{WEIGHT_VENUE_URL.split('//')[1]}", "spot")
    limiter.observe({"x-mbx-used-weight-1m": "123"})
    minute = int(time.time() // 60)
    clean_cache.extend(f"{limiter.prefix}:X-MBX-USED-WEIGHT-1M:{m}" for m in (minute, minute + 1))
    return {"reconciled_at": reconciled_at}


@pytest.mark.django_db
def test_it_derives_the_platform_metrics_from_the_database_and_the_cache(client, books):
    samples = scrape(client)

    assert value(samples, "trading_orders", status="FILLED", market="spot", source="manual") == 5
    assert value(samples, "trading_orders", status="NEW", market="spot", source="bot") == 1
    assert value(samples, "trading_orders", status="UNKNOWN", market="futures",
                 source="api") == 1
    assert value(samples, "trading_orders", status="NEW", market="spot", source="manual") == 1
    assert len(samples["trading_orders"]) == 4

    roundtrip = {labels["quantile"]: v for labels, v in samples["trading_order_roundtrip_seconds"]
                 if labels["market"] == "spot"}
    assert roundtrip == pytest.approx({"0.5": 0.5, "0.95": 1.0, "1": 1.0})
    assert value(samples, "trading_order_roundtrip_samples", market="spot") == 4  # + the limit
    assert value(samples, "trading_order_roundtrip_samples", market="futures") == 0

    assert value(samples, "bot_tick_duration_seconds", quantile="0.5") == pytest.approx(0.2)
    assert value(samples, "bot_tick_duration_seconds", quantile="1") == pytest.approx(0.3)
    assert value(samples, "bot_tick_lag_seconds", quantile="0.5") == pytest.approx(4)
    assert value(samples, "bot_tick_lag_seconds", quantile="0.95") == pytest.approx(6)
    assert value(samples, "bot_tick_samples") == 3

    assert value(samples, "stream_up", market="spot") == 1
    assert value(samples, "stream_up", market="futures") == 0
    assert value(samples, "stream_stale", market="spot", symbol="BTCUSDT") == 0
    assert value(samples, "stream_stale", market="spot", symbol="ETHUSDT") == 1
    assert value(samples, "stream_stale", market="futures", symbol="BTCUSDT") == 1
    assert 1.4 < value(samples, "stream_lag_seconds", market="spot", symbol="BTCUSDT") < 5
    assert value(samples, "stream_lag_seconds", market="futures", symbol="BTCUSDT") is None

    assert value(samples, "binance_used_weight", venue="local:127.0.0.1:59999",
                 market="spot") == 123
    assert value(samples, "binance_weight_limit", venue="local:127.0.0.1:59999",
                 market="spot") == 6000
    assert value(samples, "binance_used_weight", venue="live", market="futures") is not None

    assert value(samples, "reconciliation_differences", market="futures") == 1
    assert value(samples, "reconciliation_differences", market="spot") == 0
    assert value(samples, "reconciliation_overdue_portfolios", market="futures") == 1
    assert value(samples, "reconciliation_overdue_portfolios", market="spot") == 0
    assert value(samples, "reconciliation_last_success_timestamp_seconds",
                 market="spot") == pytest.approx(books["reconciled_at"].timestamp())
    assert value(samples, "reconciliation_last_success_timestamp_seconds",
                 market="futures") is None

    assert value(samples, "celery_queue_depth", queue="celery") is not None
    assert value(samples, "platform_metric_errors_total", metric="celery_queues") is not None
    assert value(samples, "platform_metrics_collect_seconds") < 5
    assert "django_http_requests_total_by_method_total" in samples  # django-prometheus


@pytest.mark.django_db
def test_an_empty_platform_gives_zeros_and_no_invented_statistics(client):
    samples = scrape(client)

    assert "trading_orders" not in samples
    assert value(samples, "trading_order_roundtrip_samples", market="spot") == 0
    assert "trading_order_roundtrip_seconds" not in samples
    assert value(samples, "bot_tick_samples") == 0
    assert "bot_tick_lag_seconds" not in samples


@pytest.mark.django_db
def test_the_heartbeat_age_says_beat_and_a_worker_are_alive(client):
    previous = cache.get(HEARTBEAT_CACHE_KEY)
    cache.set(HEARTBEAT_CACHE_KEY, (timezone.now() - timedelta(seconds=12)).isoformat())
    try:
        age = value(scrape(client), "platform_heartbeat_age_seconds")
    finally:
        if previous is None:
            cache.delete(HEARTBEAT_CACHE_KEY)
        else:
            cache.set(HEARTBEAT_CACHE_KEY, previous)
    assert 12 <= age < 20


@pytest.mark.django_db
def test_a_broker_that_is_down_is_counted_not_a_500(client, monkeypatch):
    before = value(scrape(client), "platform_metric_errors_total", metric="celery_queues")
    monkeypatch.setitem(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")

    samples = scrape(client)

    assert "celery_queue_depth" not in samples
    assert value(samples, "platform_metric_errors_total", metric="celery_queues") == before + 1
    assert value(samples, "trading_order_roundtrip_samples", market="spot") == 0  # the rest is


# --- who may read it -----------------------------------------------------------------------

@pytest.mark.django_db
def test_an_anonymous_outsider_gets_a_404(client):
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 404


@pytest.mark.django_db
def test_a_request_a_proxy_forwarded_from_loopback_gets_a_404(client):
    response = client.get("/metrics", headers={"X-Forwarded-For": OUTSIDE})

    assert response.status_code == 404


@pytest.mark.django_db
def test_the_bearer_token_lets_an_outsider_in_when_it_is_set(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"

    ok = client.get("/metrics", REMOTE_ADDR=OUTSIDE,
                    headers={"Authorization": "Bearer s3cret-metrics-token"})
    wrong = client.get("/metrics", REMOTE_ADDR=OUTSIDE, headers={"Authorization": "Bearer nope"})

    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("text/plain")
    assert wrong.status_code == 404


@pytest.mark.django_db
def test_no_token_configured_means_no_bearer_access(client, settings):
    settings.METRICS_TOKEN = ""

    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE, headers={"Authorization": "Bearer "})

    assert response.status_code == 404


@pytest.mark.django_db
def test_staff_may_read_it_from_anywhere_and_traders_may_not(client, staff, trader):
    client.force_login(trader)
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 404

    client.force_login(staff)
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 200


@pytest.mark.django_db
def test_the_allowed_networks_come_from_the_settings(client, settings):
    settings.METRICS_ALLOWED_IPS = ["203.0.113.0/24"]

    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::ffff:203.0.113.7").status_code == 200
    assert client.get("/metrics").status_code == 404  # loopback is no longer listed


# --- Celery queues -------------------------------------------------------------------------

def test_the_queues_are_the_default_and_every_routed_or_declared_one(monkeypatch):
    monkeypatch.setitem(celery_app.conf, "task_routes",
                        [{"a.task": {"queue": "slow"}, "b.*": "fast"}, "some.router"])

    assert metrics.celery_queue_names() == ["celery", "fast", "slow"]


def _redis_url() -> str | None:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    parts = redis.connection.parse_url(url)
    try:
        socket.create_connection((parts.get("host", "127.0.0.1"), parts.get("port", 6379)),
                                 timeout=0.5).close()
    except OSError:
        return None
    return url


@pytest.mark.django_db
def test_the_queue_depth_on_a_redis_broker_is_its_length(client, monkeypatch):
    url = _redis_url()
    if url is None:
        assert not ON_CI, "CI=true but no Redis at REDIS_URL or 127.0.0.1:6379"
        pytest.skip("no Redis at 127.0.0.1:6379")
    queue = f"metrics-test-{uuid.uuid4().hex}"
    monkeypatch.setitem(celery_app.conf, "broker_url", url)
    monkeypatch.setitem(celery_app.conf, "task_routes", {"tests.nothing": {"queue": queue}})
    server = redis.Redis.from_url(url)
    server.lpush(queue, "one", "two", "three")
    try:
        samples = scrape(client)
    finally:
        server.delete(queue)

    assert value(samples, "celery_queue_depth", queue=queue) == 3
    assert value(samples, "celery_queue_depth", queue="celery") is not None
