"""What every run a worker carries out (a backtest, an optimisation) shares: queued after its
creation commits, finished by one conditional UPDATE, announced to its owner's pages."""

from __future__ import annotations

import logging
import uuid

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from backtests.models import WorkerRun
from tradingsite.events import publish_to_user

logger = logging.getLogger(__name__)
S = WorkerRun.Status


def run_queue(model: type[WorkerRun], fields: dict, *, task: str) -> WorkerRun:
    """A new queued run, sent to a worker (the task named ``task``, with its id) once the
    transaction that saved it commits."""
    run = model.objects.create(**fields, celery_task_id=str(uuid.uuid4()))
    transaction.on_commit(lambda: run_enqueue(run, task))
    return run


def run_enqueue(run: WorkerRun, task: str) -> None:
    """Send ``task(run.pk)`` under the run's task id; a broker that refuses it fails the run
    in words rather than leaving it queued for ever."""
    import backtests.tasks  # noqa: F401  (registers the tasks here; it imports the services)

    try:
        current_app.tasks[task].apply_async(args=[run.pk], task_id=run.celery_task_id)
    except Exception as error:  # the broker is down (any client error)
        logger.exception("could not queue %s %s", type(run).__name__, run.pk)
        run_finish(run, S.FAILED, error=f"could not be queued for a worker: {error!r}",
                   expected=S.QUEUED)


def run_finish(run: WorkerRun, status: str, *, expected: str = S.RUNNING, **fields):
    """Move the run from ``expected`` to its final ``status`` (once: a run already moved on,
    by a cancel or a failure, stays as it is), then tell the owner's pages."""
    moved = type(run).objects.filter(pk=run.pk, status=expected).update(
        status=status, finished_at=timezone.now(), **fields)
    try:
        run.refresh_from_db()
    except type(run).DoesNotExist:  # deleted meanwhile (from the admin)
        run.status = status
    if moved:
        run_announce(run)
    return run


def run_announce(run: WorkerRun) -> None:
    publish_to_user(user_id=run.owner_id, event_type=run.EVENT, data=run.progress_event())


def run_cancel(run: WorkerRun, *, lost: Q) -> WorkerRun:
    """A queued run, or a running one matching ``lost`` (its worker is gone), is cancelled at
    once; any other running one is asked to stop (``cancel_requested``) and stops at its next
    check. A finished run is left as it is: the caller says why it cannot be cancelled."""
    rows = type(run).objects.filter(pk=run.pk)
    if rows.filter(Q(status=S.QUEUED) | (Q(status=S.RUNNING) & lost)).update(
            status=S.CANCELLED, cancel_requested=True, finished_at=timezone.now()):
        run.refresh_from_db()
        run_announce(run)
        return run
    rows.filter(status=S.RUNNING).update(cancel_requested=True)
    run.refresh_from_db()
    return run
