"""The backtest worker task: one run, fetched by id. A duplicate delivery finds the run
claimed already and does nothing (see `backtest_run_execute`)."""

from celery import shared_task

from backtests.services import SOFT_TIME_LIMIT, TIME_LIMIT, backtest_run_execute


# No retries: a failure is recorded on the run in words, and a rerun is one click away.
# The hard limit stays below the broker's visibility timeout (settings: the task time limit
# plus ten minutes), so a long run is never handed to a second worker while it runs.
@shared_task(name="backtests.tasks.backtest_run_task", acks_late=True,
             soft_time_limit=SOFT_TIME_LIMIT, time_limit=TIME_LIMIT)
def backtest_run_task(run_id: int) -> str:
    run = backtest_run_execute(run_id=run_id)
    return run.status if run is not None else "nothing to do"
