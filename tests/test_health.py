from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from tradingsite import health
from tradingsite.tasks import HEARTBEAT_CACHE_KEY, heartbeat


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_database_channel_layer_and_broker(client, settings):
    response = client.get("/readyz")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["profile"] == settings.PLATFORM_PROFILE
    assert {"database", "channel_layer", "broker"} <= body["checks"].keys()
    assert all(body["checks"][name]["ok"] for name in ("database", "channel_layer", "broker"))


@pytest.mark.django_db
def test_readyz_is_503_and_names_the_failing_part(client, monkeypatch):
    def broken_broker():
        raise ConnectionRefusedError("broker down")

    monkeypatch.setitem(health.READINESS_CHECKS, "broker", broken_broker)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {
        "ok": False, "error": "ConnectionRefusedError: broker down"}


@pytest.mark.django_db
def test_health_page_shows_every_check(client):
    response = client.get("/health/")

    assert response.status_code == 200
    for name in ("database", "channel_layer", "broker", "heartbeat"):
        assert name in response.content.decode()


def test_the_heartbeat_is_waiting_after_a_start_then_fresh_then_stale(settings, monkeypatch):
    settings.PLATFORM_HEARTBEAT_SECONDS = 10
    cache.delete(HEARTBEAT_CACHE_KEY)
    monkeypatch.setattr(health, "PROCESS_STARTED_AT", timezone.now())
    assert health.heartbeat_status() == {"ok": True, "last": None, "waiting": True}

    heartbeat()
    assert health.heartbeat_status()["ok"]

    long_ago = (timezone.now() - timedelta(minutes=5)).isoformat()
    cache.set(HEARTBEAT_CACHE_KEY, long_ago)
    monkeypatch.setattr(health, "PROCESS_STARTED_AT", timezone.now() - timedelta(hours=1))
    assert health.heartbeat_status()["ok"] is False
