"""Prometheus metrics at /metrics.

django-prometheus counts requests and database calls in each process. The platform's own
metrics are not counted as things happen: it runs as several processes (daphne, Celery workers,
the stream process), and a counter kept in one of them is invisible to another's /metrics. So
`PlatformCollector` derives them at scrape time from what every process shares (the database,
the cache, the broker), and any process answers the same. A part that fails (a broker that is
down) is left out of that scrape and counted in `platform_metric_errors`; it never fails the
scrape.

Statistics "over the last 15 minutes" read at most the newest `RECENT_ROWS` rows, found through
the primary key's index: the timestamps they filter on have no index of their own.
"""

import hmac
import ipaddress
import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Max
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily

from bots.models import BotDecision
from marketdata import live
from marketdata.exchange.clients import Venue
from marketdata.exchange.limits import RateLimiter
from marketdata.klines.intervals import EPOCH, STEP_US, Interval
from marketdata.models import WatchedSymbol
from marketdata.venues import market_data_venue
from orders.models import Order, Position
from orders.services import _reconciled_key as reconciled_key  # the reconciler's own record
from portfolios.models import ExchangeAccount, Portfolio
from tradingsite.celery import app as celery_app
from tradingsite.tasks import last_heartbeat

logger = logging.getLogger(__name__)

MARKETS = ("spot", "futures")
WINDOW = timedelta(minutes=15)
RECENT_ROWS = 5000
QUANTILES = (("0.5", 0.5), ("0.95", 0.95), ("1", 1.0))  # "1" is the maximum
BROKER_TIMEOUT_SECONDS = 2

# Yielded by the collector after the parts (not registered on its own), so a scrape reports
# its own failures.
METRIC_ERRORS = Counter("platform_metric_errors", "Scrapes of this process in which a platform "
                        "metric could not be read (it is then absent from that scrape).",
                        ["metric"], registry=None)


def _gauge(name: str, documentation: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=list(labels))


def _nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def _add_quantiles(family: GaugeMetricFamily, labels: list[str], values: list[float]) -> None:
    ordered = sorted(values)
    if ordered:
        for label, q in QUANTILES:
            family.add_metric([*labels, label], _nearest_rank(ordered, q))


def _recent(model, field: str):
    """Rows of the last WINDOW by `field`, among the newest RECENT_ROWS (a primary-key range:
    cheap however long the table grows)."""
    newest = model.objects.aggregate(top=Max("pk"))["top"]
    if newest is None:
        return model.objects.none()
    return model.objects.order_by().filter(pk__gt=newest - RECENT_ROWS,
                                           **{f"{field}__gte": timezone.now() - WINDOW})


# --- orders --------------------------------------------------------------------------------

def order_metrics() -> Iterator[GaugeMetricFamily]:
    family = _gauge("trading_orders", "Orders per status, market and source (all of them).",
                    ["status", "market", "source"])
    rows = (Order.objects.order_by().values_list("status", "market", "source")
            .annotate(n=Count("pk")))
    for status, market, source, n in rows:
        family.add_metric([status, market, source], n)
    yield family


def order_roundtrip_metrics() -> Iterator[GaugeMetricFamily]:
    """From our send to Binance's answer, for orders of every type sent to Binance in the last
    15 minutes (paper orders never leave the process)."""
    seconds = _gauge("trading_order_roundtrip_seconds", "Orders sent to Binance in the last "
                     "15 min: seconds from send to Binance's answer (quantile 1 = max).",
                     ["market", "quantile"])
    samples = _gauge("trading_order_roundtrip_samples", "How many orders "
                     "trading_order_roundtrip_seconds is computed from.", ["market"])
    rows = (_recent(Order, "submitted_at").filter(acknowledged_at__isnull=False)
            .exclude(portfolio__mode=Portfolio.Mode.PAPER)
            .values_list("market", "submitted_at", "acknowledged_at"))
    by_market = defaultdict(list)
    for market, sent, answered in rows:
        by_market[market].append(max((answered - sent).total_seconds(), 0.0))
    for market in MARKETS:
        _add_quantiles(seconds, [market], by_market[market])
        samples.add_metric([market], len(by_market[market]))
    yield from (seconds, samples)


def reconciliation_metrics() -> Iterator[GaugeMetricFamily]:
    differences = _gauge("reconciliation_differences", "Futures positions whose quantity on "
                         "Binance differs from what our fills add up to.", ["market"])
    last = _gauge("reconciliation_last_success_timestamp_seconds", "The oldest of the latest "
                  "successful reconciliations of the active exchange portfolios.", ["market"])
    overdue = _gauge("reconciliation_overdue_portfolios", "Active exchange portfolios without "
                     "a successful reconciliation in the last 10 min (closed for new orders).",
                     ["market"])
    differing = dict(Position.objects.order_by().filter(exchange_quantity__isnull=False)
                     .exclude(exchange_quantity=F("quantity"))
                     .values_list("market").annotate(n=Count("pk")))
    portfolios = list(Portfolio.objects.order_by().filter(active=True)
                      .exclude(mode=Portfolio.Mode.PAPER)
                      .values_list("pk", "exchange_account__market"))
    seen = cache.get_many([reconciled_key(pk) for pk, _ in portfolios])
    times, missing = defaultdict(list), defaultdict(int)
    for pk, market in portfolios:
        if reconciled_key(pk) in seen:
            times[market].append(datetime.fromisoformat(seen[reconciled_key(pk)]).timestamp())
        else:
            missing[market] += 1
    for market in MARKETS:
        differences.add_metric([market], differing.get(market, 0))
        overdue.add_metric([market], missing[market])
        if times[market]:
            last.add_metric([market], min(times[market]))
    yield from (differences, last, overdue)


# --- Binance and the streams ---------------------------------------------------------------

def _venues() -> list[Venue]:
    venues = {market_data_venue()}
    for mode, base_url in ExchangeAccount.objects.order_by().values_list("mode", "base_url"
                                                                          ).distinct():
        try:
            venues.add(Venue(mode=mode, base_url=base_url))
        except ValueError:  # a local account without a URL cannot call anything
            continue
    return sorted(venues, key=lambda venue: venue.key)


def used_weight_metrics() -> Iterator[GaugeMetricFamily]:
    """The shared per-minute weight budget: our own count of this minute's requests, raised to
    Binance's X-MBX-USED-WEIGHT-1M whenever a response reports more (limits.RateLimiter)."""
    used = _gauge("binance_used_weight", "Request weight used in the current minute (our count, "
                  "corrected by Binance's X-MBX-USED-WEIGHT-1M).", ["venue", "market"])
    limit = _gauge("binance_weight_limit", "Binance's request-weight limit per minute.",
                   ["venue", "market"])
    for venue in _venues():
        for market in MARKETS:
            limiter = RateLimiter(venue.key, market)
            window = next((w for w in limiter.windows
                           if w.kind == "REQUEST_WEIGHT" and w.seconds == 60), None)
            if window is not None:
                used.add_metric([venue.key, market], limiter.used(window.header))
                limit.add_metric([venue.key, market], window.limit)
    yield from (used, limit)


def stream_metrics() -> Iterator[GaugeMetricFamily]:
    up = _gauge("stream_up", "1 when the market's stream process reports and is connected.",
                ["market"])
    lag = _gauge("stream_lag_seconds", "Seconds since the stream process last received data "
                 "for the symbol.", ["market", "symbol"])
    stale = _gauge("stream_stale", "1 when the symbol has no fresh data (or its stream process "
                   "is silent or disconnected): bots do not enter.", ["market", "symbol"])
    watched = defaultdict(set)
    for market, symbol in WatchedSymbol.objects.active().values_list("market", "symbol"):
        watched[market].add(symbol.upper())
    for market in MARKETS:
        status = live.stream_status(market)
        alive = bool(status and status["alive"] and status.get("connected"))
        up.add_metric([market], float(alive))
        entries = (status or {}).get("symbols", {})
        for symbol in sorted(set(entries) | watched[market]):
            entry = entries.get(symbol)
            stale.add_metric([market, symbol], float(not alive or not entry or entry["stale"]))
            if entry and "age" in entry:
                reported_ago = max(time.time() - status.get("updated_at", 0), 0.0)
                lag.add_metric([market, symbol], entry["age"] + reported_ago)
    yield from (up, lag, stale)


# --- bots ----------------------------------------------------------------------------------

def _candle_close(open_time: datetime, interval: str) -> datetime:
    if interval in STEP_US and interval != "1M":
        return open_time + timedelta(microseconds=STEP_US[interval])
    step = Interval(interval)
    opened = (open_time - EPOCH) // timedelta(microseconds=1)
    return EPOCH + timedelta(microseconds=step.next_open(opened))


def bot_tick_metrics() -> Iterator[GaugeMetricFamily]:
    duration = _gauge("bot_tick_duration_seconds", "Bot decisions of the last 15 min: seconds "
                      "from deciding to having acted (quantile 1 = max).", ["quantile"])
    lag = _gauge("bot_tick_lag_seconds", "Bot decisions of the last 15 min: seconds from the "
                 "candle's close to the decision (quantile 1 = max).", ["quantile"])
    samples = _gauge("bot_tick_samples", "How many decisions the bot_tick_* quantiles are "
                     "computed from.")
    rows = list(_recent(BotDecision, "decided_at")
                .values_list("duration_ms", "decided_at", "candle_open_time", "bot__interval"))
    _add_quantiles(duration, [], [ms / 1000 for ms, *_ in rows])
    _add_quantiles(lag, [], [(decided - _candle_close(opened, interval)).total_seconds()
                             for _, decided, opened, interval in rows])
    samples.add_metric([], len(rows))
    yield from (duration, lag, samples)


# --- Celery --------------------------------------------------------------------------------

def celery_queue_names() -> list[str]:
    """The default queue and every queue the app routes to or declares."""
    conf = celery_app.conf
    names = {conf.task_default_queue}
    routes = conf.task_routes or ()
    for route in routes if isinstance(routes, list | tuple) else [routes]:
        if isinstance(route, Mapping):  # a router given as a function or path cannot be read
            names |= {r if isinstance(r, str) else r.get("queue") for r in route.values()}
    names |= {queue.name for queue in conf.task_queues or ()}
    return sorted(name for name in names if name)


def _queue_depth(connection, name: str) -> int:
    channel = connection.channel()
    try:
        return channel.queue_declare(queue=name, passive=True).message_count
    except connection.channel_errors as error:
        # Redis keeps no key for an empty queue; RabbitMQ has none before a worker declares it.
        if str(getattr(error, "reply_code", "")) == "404":
            return 0
        raise
    finally:
        channel.close()


def celery_queue_metrics() -> Iterator[GaugeMetricFamily]:
    """Messages waiting in each queue: LLEN on Redis, a passive queue_declare on RabbitMQ. The
    embedded profile's memory:// broker lives in one process; its count is true in the process
    that runs the worker (runplatform), and 0 anywhere else."""
    depth = _gauge("celery_queue_depth", "Messages waiting in the Celery queue.", ["queue"])
    with celery_app.connection_for_read(connect_timeout=BROKER_TIMEOUT_SECONDS) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0,
                                     timeout=BROKER_TIMEOUT_SECONDS)
        for name in celery_queue_names():
            depth.add_metric([name], _queue_depth(connection, name))
    yield depth


def heartbeat_metrics() -> Iterator[GaugeMetricFamily]:
    """Beat schedules the heartbeat task and a worker runs it: its age says both are alive
    (absent until the first heartbeat after a start)."""
    last = last_heartbeat()
    if last is not None:
        _, age = last
        yield GaugeMetricFamily("platform_heartbeat_age_seconds", "Seconds since a worker last "
                                "ran the heartbeat task that beat schedules.", value=age)


# --- the collector and the view ------------------------------------------------------------

PARTS = {
    "orders": order_metrics,
    "order_roundtrip": order_roundtrip_metrics,
    "reconciliation": reconciliation_metrics,
    "used_weight": used_weight_metrics,
    "streams": stream_metrics,
    "bot_ticks": bot_tick_metrics,
    "celery_queues": celery_queue_metrics,
    "heartbeat": heartbeat_metrics,
}
for _part in PARTS:
    METRIC_ERRORS.labels(_part)  # every series exists from the first scrape, at 0


class PlatformCollector:
    def describe(self):
        return []  # nothing to read at registration time (no database yet)

    def collect(self):
        started = time.perf_counter()
        for name, part in PARTS.items():
            try:
                families = list(part())
            except Exception as error:  # noqa: BLE001 - a scrape reports what it can
                logger.warning("metric %s left out of this scrape: %s: %s", name,
                               type(error).__name__, error)
                METRIC_ERRORS.labels(name).inc()
                continue
            yield from families
        yield from METRIC_ERRORS.collect()
        yield GaugeMetricFamily("platform_metrics_collect_seconds", "How long this scrape took "
                                "to derive the platform's metrics.",
                                value=time.perf_counter() - started)


COLLECTOR = PlatformCollector()
REGISTRY.register(COLLECTOR)


@lru_cache(maxsize=8)
def allowed_networks(cidrs: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _from_allowed_network(request) -> bool:
    # Behind a reverse proxy on the same host every request arrives from loopback: a request
    # a proxy forwarded (and said so) is never let in by its address alone.
    if any(header in request.headers for header in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network
               for network in allowed_networks(tuple(settings.METRICS_ALLOWED_IPS)))


def _has_token(request) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode())


def metrics_allowed(request) -> bool:
    user = getattr(request, "user", None)
    staff = user is not None and user.is_active and user.is_staff
    return staff or _has_token(request) or _from_allowed_network(request)


@never_cache
def metrics_view(request):
    """Staff, a bearer token or an allowed network; to anyone else /metrics does not exist."""
    if not metrics_allowed(request):
        raise Http404
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
