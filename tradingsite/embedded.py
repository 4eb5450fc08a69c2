"""The embedded profile: web server, Celery worker and beat in one process.

Tasks stay real Celery tasks: they travel through the in-process `memory://` broker to a worker
running in a thread pool, exactly as they would travel through Redis to a `celery worker` process
in the served profile. Beat uses django-celery-beat's database scheduler in both profiles.
"""

import logging
import threading

from celery import Celery
from celery.beat import EmbeddedService
from celery.utils.nodenames import anon_nodename
from celery.worker import WorkController

logger = logging.getLogger(__name__)

DATABASE_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"


class ThreadWorker(WorkController):
    """A worker that runs in a thread and can tell when it consumes."""

    def __init__(self, *args, **kwargs):
        self.consuming = threading.Event()
        super().__init__(*args, **kwargs)

    def on_consumer_ready(self, consumer):
        self.consuming.set()


def start_worker(app: Celery, *, concurrency: int = 4, timeout: float = 30) -> ThreadWorker:
    """Start a thread-pool worker in a daemon thread and wait until it consumes."""
    app.finalize()
    app.set_current()
    app.set_default()
    worker = ThreadWorker(
        app=app,
        hostname=anon_nodename(hostname="embedded"),
        pool="threads",
        concurrency=concurrency,
        # One process has no peers to gossip or synchronise with.
        without_heartbeat=True,
        without_mingle=True,
        without_gossip=True,
    )
    threading.Thread(target=worker.start, name="celery-worker", daemon=True).start()
    if not worker.consuming.wait(timeout):
        raise RuntimeError(f"the embedded Celery worker did not start within {timeout} s")
    logger.info("embedded Celery worker consuming (threads x%d)", concurrency)
    return worker


def start_beat(app: Celery) -> threading.Thread:
    beat = EmbeddedService(app, thread=True, scheduler_cls=DATABASE_SCHEDULER)
    beat.start()
    logger.info("embedded beat started with the database scheduler")
    return beat


def start_streams():
    """The market-stream supervisors in a thread, so their pushes reach this process's pages."""
    from marketdata.stream_runner import StreamThread

    streams = StreamThread()
    streams.start()
    logger.info("embedded market streams started")
    return streams


def stop(worker: ThreadWorker | None, beat=None, streams=None) -> None:
    if streams is not None:
        streams.stop()
    if beat is not None:
        beat.stop()
    if worker is not None:
        worker.stop(in_sighandler=False)
