"""Risk monitor tasks: the beat's sweep of every watched portfolio, one portfolio soon after a
fill, and an alert's email and webhook after it committed."""

from celery import shared_task

from portfolios.models import Portfolio
from risk.emergency import emergency_stops_continue
from risk.models import RiskAlert
from risk.monitor import portfolio_evaluate, portfolios_evaluate
from risk.notify import alert_notify


# Beat fires it every 60 s: a run that overlaps the next is harmless (alerts are race-safe,
# and a still-open order's cancel is idempotent). The equity snapshot task evaluates too; this
# one also keeps cancelling what incomplete emergency stops left open.
@shared_task(name="risk.tasks.risk_monitor_task", soft_time_limit=110, time_limit=120)
def risk_monitor_task() -> int:
    evaluated = portfolios_evaluate()
    emergency_stops_continue(deadline_seconds=30.0)
    return evaluated


@shared_task(name="risk.tasks.portfolio_evaluate_task", soft_time_limit=50, time_limit=60)
def portfolio_evaluate_task(portfolio_id: int) -> int:
    portfolio = Portfolio.objects.filter(pk=portfolio_id, active=True).first()
    if portfolio is None:
        return 0
    return len(portfolio_evaluate(portfolio=portfolio))


# The webhook's timeout is 5 s and SMTP has its own; 30 s covers both with room to spare.
@shared_task(name="risk.tasks.risk_alert_notify_task", soft_time_limit=25, time_limit=30)
def risk_alert_notify_task(alert_id: int) -> list[str]:
    alert = RiskAlert.objects.select_related("portfolio").filter(pk=alert_id).first()
    return alert_notify(alert=alert) if alert is not None else []
