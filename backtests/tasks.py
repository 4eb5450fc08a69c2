"""The backtest worker tasks: a run, and an optimisation's start, chunks and finish, each
fetched by id. A duplicate delivery finds the run claimed already and does nothing (see
`backtest_run_execute`, `optimisation_start`)."""

from celery import shared_task

from backtests.optimisation import (
    optimisation_chunk,
    optimisation_chunk_failed,
    optimisation_finish,
    optimisation_start,
)
from backtests.services import SOFT_TIME_LIMIT, TIME_LIMIT, backtest_run_execute


# No retries: a failure is recorded on the run in words, and a rerun is one click away.
# The hard limit stays below the broker's visibility timeout (settings: the task time limit
# plus ten minutes), so a long run is never handed to a second worker while it runs.
@shared_task(name="backtests.tasks.backtest_run_task", acks_late=True,
             soft_time_limit=SOFT_TIME_LIMIT, time_limit=TIME_LIMIT)
def backtest_run_task(run_id: int) -> str:
    run = backtest_run_execute(run_id=run_id)
    return run.status if run is not None else "nothing to do"


# --- optimisation: start (plans and sends the chord), chunks, finish, error callback --------
# Each fetches the run by id and calls one service of backtests.optimisation; none retries: a
# failure is recorded on the run in words (the error callback), and a rerun is one click away.

@shared_task(name="backtests.tasks.optimisation_start_task", acks_late=True,
             soft_time_limit=SOFT_TIME_LIMIT, time_limit=TIME_LIMIT)
def optimisation_start_task(run_id: int) -> str:
    run = optimisation_start(run_id=run_id)
    return run.status if run is not None else "nothing to do"


@shared_task(name="backtests.tasks.optimisation_chunk_task", acks_late=True,
             soft_time_limit=SOFT_TIME_LIMIT, time_limit=TIME_LIMIT)
def optimisation_chunk_task(run_id: int, index: int, params: list[dict],
                            span: dict | None = None) -> dict:
    return optimisation_chunk(run_id=run_id, index=index, params=params, span=span)


@shared_task(name="backtests.tasks.optimisation_finish_task", acks_late=True,
             soft_time_limit=SOFT_TIME_LIMIT, time_limit=TIME_LIMIT)
def optimisation_finish_task(parts: list[dict], run_id: int,
                             chunk_ids: list[str] | None = None) -> str:
    run = optimisation_finish(run_id=run_id, parts=parts)
    for task_id in chunk_ids or ():  # their scores are in the run now: free the backend
        optimisation_finish_task.AsyncResult(task_id).forget()
    return run.status if run is not None else "nothing to do"


@shared_task(name="backtests.tasks.optimisation_chunk_failed_task", ignore_result=True)
def optimisation_chunk_failed_task(request, exc, traceback, run_id: int) -> None:
    """Linked as the error callback of every chunk and of the finish task: Celery calls it
    in the failing worker with the failed task's request and exception."""
    optimisation_chunk_failed(run_id=run_id, error=exc)
