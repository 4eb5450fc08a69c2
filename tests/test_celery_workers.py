"""Tasks really run through a worker, and beat really fires, in both profiles."""

import json
import time

import pytest
from django.core.cache import cache
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from tests.support.servers import (
    embedded_env,
    free_port,
    http_get,
    served_env,
    start_process,
    stop_process,
    wait_until,
)
from tradingsite.celery import app
from tradingsite.tasks import HEARTBEAT_CACHE_KEY


def readyz(url: str) -> dict:
    status, body = http_get(url + "/readyz")
    return json.loads(body) if status in (200, 503) else {}


@pytest.mark.slow
def test_the_embedded_platform_runs_tasks_in_process_and_beat_fires(tmp_path):
    """`runplatform` with no env vars: SQLite, memory broker, in-process worker and beat."""
    env = embedded_env(tmp_path, PLATFORM_HEARTBEAT_SECONDS="1")
    migrate = start_process(["manage.py", "migrate", "--noinput"], env)
    assert migrate.wait(120) == 0, migrate.stdout.read()
    port = free_port()
    platform = start_process(["manage.py", "runplatform", "--port", str(port)], env)
    url = f"http://127.0.0.1:{port}"
    try:
        body = wait_until(lambda: readyz(url).get("checks", {}).get("heartbeat", {}).get("last")
                          and readyz(url), timeout=60, what="the heartbeat task to run")
        assert body["checks"]["heartbeat"]["ok"]
        assert body["status"] == "ok"
        assert body["profile"] == "embedded"
        assert body["checks"]["database"]["vendor"] == "sqlite"
        assert body["checks"]["broker"]["transport"] == "memory"
        assert http_get(url + "/admin/login/")[0] == 200
        assert http_get(url + "/accounts/login/")[0] == 200
    finally:
        output = stop_process(platform)
    assert "embedded Celery worker consuming" in output
    assert (tmp_path / "db.sqlite3").exists()


@pytest.mark.served
@pytest.mark.slow
def test_a_task_runs_through_a_celery_worker_process_on_redis(served_worker):
    result = app.send_task("tradingsite.tasks.ping", args=["through redis"])

    assert result.get(timeout=20) == "through redis"
    assert app.conf.broker_url.startswith("redis://")


@pytest.mark.served
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_schedule_edited_in_the_database_fires_through_celery_beat(served_worker):
    every_second, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="test heartbeat", interval=every_second,
                                task="tradingsite.tasks.heartbeat")
    cache.delete(HEARTBEAT_CACHE_KEY)
    started = time.time()

    beat = start_process(["-m", "celery", "-A", "tradingsite", "beat", "--max-interval", "1",
                          "--loglevel", "INFO"], served_env())
    try:
        wait_until(lambda: cache.get(HEARTBEAT_CACHE_KEY), timeout=30,
                   what="beat to send the heartbeat and the worker to run it")
    finally:
        output = stop_process(beat)
    assert "DatabaseScheduler" in output
    assert time.time() - started < 30
