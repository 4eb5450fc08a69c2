"""Real servers and workers for tests: daphne in a thread, Celery processes, the run command.

Nothing here fakes a part: the ASGI server is daphne, workers are `celery worker` / `celery beat`
processes or the embedded thread worker, and they reach the test database and Redis for real.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parents[2]

# Variables that select the served profile; the embedded profile is what remains without them.
PROFILE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""  # not listening (yet)


def wait_until(condition, *, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def database_url_for_processes() -> str:
    """The URL of the database the tests use, for processes started by a test."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def served_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url_for_processes(),
            "REDIS_URL": settings.REDIS_URL, **extra}


def embedded_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in PROFILE_VARIABLES}
    return {**env, "VAR_DIR": str(var_dir), **extra}


def stop_process(process: subprocess.Popen, timeout: float = 15) -> str:
    """Stop warmly (SIGTERM), then hard; return what it printed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.stdout.read() if process.stdout else ""


def start_process(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args], cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


@contextmanager
def running_in_thread(runner):
    """`runner.run(stop)` (a stream supervisor, a user stream) on its own event loop in a
    thread, as the embedded platform runs them; stopped and joined on exit."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def run():
        try:
            loop.run_until_complete(runner.run(stop))
        finally:
            loop.close()  # here: channels-redis cleans up on close, on the closing thread

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)


@dataclass
class LiveServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"


@pytest.fixture(scope="session")
def asgi_live_server(django_db_setup, django_db_blocker):
    """daphne serving the platform's ASGI application from a thread of the test process.

    In the test process, so a test's `group_send` reaches its consumers through whichever channel
    layer the profile configures (the in-memory one is process-local). Tests that use it need
    `django_db(transaction=True)` so the server's connection sees their data.
    """
    from twisted.internet import reactor

    from tradingsite.asgi import application
    from tradingsite.asgiserver import build_server

    port = free_port()
    ready = threading.Event()
    server = build_server(application, host="127.0.0.1", port=port, signal_handlers=False,
                          ready_callable=ready.set)
    thread = threading.Thread(target=server.run, name="daphne", daemon=True)
    thread.start()
    ready.wait(10)
    live = LiveServer("127.0.0.1", port)
    with django_db_blocker.unblock():
        wait_until(lambda: http_get(live.url + "/healthz")[0] == 200, timeout=10,
                   what="daphne to answer")
    yield live
    reactor.callFromThread(reactor.stop)
    thread.join(10)
    with django_db_blocker.unblock():
        _close_other_sessions()


def _close_other_sessions() -> None:
    """The server's request threads keep their connections; PostgreSQL refuses to drop the
    test database while any is open, so end them once the server has stopped."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture(scope="session")
def served_worker(django_db_setup, django_db_blocker):
    """A `celery worker` process on the served profile's broker, using the test database."""
    if settings.PLATFORM_PROFILE != "served":
        pytest.skip("needs the served profile (REDIS_URL)")
    from tradingsite.celery import app

    app.control.purge()  # tasks left over by earlier runs belong to databases that are gone
    name = f"test-{uuid.uuid4().hex[:8]}@%h"
    with django_db_blocker.unblock():
        env = served_env()
    process = start_process(
        ["-m", "celery", "-A", "tradingsite", "worker", "--pool", "threads", "--concurrency", "2",
         "--without-gossip", "--without-mingle", "--loglevel", "WARNING", "-n", name],
        env,
    )
    try:
        assert app.send_task("tradingsite.tasks.ping", args=["up"]).get(timeout=30) == "up"
    except Exception:
        print(stop_process(process))
        raise
    yield process
    output = stop_process(process)
    if process.returncode not in (0, -signal.SIGTERM):
        print(output)
