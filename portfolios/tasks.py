from celery import shared_task

from portfolios.services import equity_snapshots_take
from risk.monitor import portfolios_evaluate


@shared_task(name="portfolios.tasks.equity_snapshots_task")
def equity_snapshots_task() -> int:
    taken = equity_snapshots_take()
    portfolios_evaluate()  # each snapshot is a fresh look at equity: judge it at once
    return taken
