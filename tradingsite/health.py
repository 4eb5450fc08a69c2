"""Liveness and readiness probes, JSON for load balancers and operators."""

import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.utils import timezone

from marketdata import live
from tradingsite.celery import app as celery_app
from tradingsite.tasks import last_heartbeat


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"ok": True, "vendor": connection.vendor}


def check_channel_layer() -> dict:
    layer = get_channel_layer()

    async def round_trip():
        channel = await layer.new_channel("readyz.")
        await layer.send(channel, {"type": "readyz.ping", "id": uuid.uuid4().hex})
        return await layer.receive(channel)

    async_to_sync(round_trip)()
    return {"ok": True, "backend": type(layer).__name__}


def check_broker() -> dict:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        transport = conn.transport_cls
    return {"ok": True, "transport": transport}


PROCESS_STARTED_AT = timezone.now()


def heartbeat_status() -> dict:
    """Informational: when beat last had a worker run its heartbeat task.

    Right after a start no heartbeat can exist yet; that is `waiting`, not a failure.
    """
    allowed_age = 3 * settings.PLATFORM_HEARTBEAT_SECONDS + 5
    last = last_heartbeat()
    if last is None:
        uptime = (timezone.now() - PROCESS_STARTED_AT).total_seconds()
        return {"ok": uptime < allowed_age, "last": None, "waiting": uptime < allowed_age}
    raw, age = last
    return {"ok": age < allowed_age, "last": raw, "age_seconds": round(age, 1)}


READINESS_CHECKS = {
    "database": check_database,
    "channel_layer": check_channel_layer,
    "broker": check_broker,
}


def streams_status() -> dict:
    """Informational: whether the market-stream supervisors report and are connected."""
    markets = {market: live.stream_status(market) for market in ("spot", "futures")}
    summary = {market: (None if status is None else
                        {"alive": status["alive"], "connected": status.get("connected"),
                         "stale": sorted(s for s, e in status.get("symbols", {}).items()
                                         if e["stale"])})
               for market, status in markets.items()}
    spot = markets["spot"]
    return {"ok": bool(spot and spot["alive"] and spot.get("connected")), **summary}


def readiness() -> tuple[bool, dict]:
    results = {}
    for name, check in READINESS_CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # noqa: BLE001 - a probe reports every failure, whatever it is
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    ready = all(result["ok"] for result in results.values())
    results["heartbeat"] = heartbeat_status()
    if settings.MARKET_STREAMS_ENABLED:
        results["streams"] = streams_status()
    return ready, results
