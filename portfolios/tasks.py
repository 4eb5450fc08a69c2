from celery import shared_task

from portfolios.services import equity_snapshots_take


@shared_task(name="portfolios.tasks.equity_snapshots_task")
def equity_snapshots_task() -> int:
    return equity_snapshots_take()
