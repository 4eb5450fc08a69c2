"""Risk alerts beyond the pages: email and a webhook, as each owner's AlertChannel asks.

Runs in a task after the alert committed (risk.tasks.risk_alert_notify_task). A mail server or
webhook that is down loses that one notification, logged; it never raises into the monitor.
"""

import json
import logging
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.core.mail import send_mail

from risk.models import AlertChannel, RiskAlert

logger = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_SECONDS = 5
SEVERITY_RANK = {RiskAlert.Severity.INFO: 0, RiskAlert.Severity.WARNING: 1,
                 RiskAlert.Severity.CRITICAL: 2}


def alert_notify(*, alert: RiskAlert) -> list[str]:
    """Send the alert to the owner's email and webhook when its severity reaches the channel's
    minimum; returns the channels that took it ("email", "webhook")."""
    channel = AlertChannel.objects.select_related("owner").filter(owner_id=alert.owner_id).first()
    if channel is None or SEVERITY_RANK[alert.severity] < SEVERITY_RANK[channel.min_severity]:
        return []
    sent = []
    if channel.email and channel.owner.email and alert_email(alert=alert, to=channel.owner.email):
        sent.append("email")
    if channel.webhook_url and alert_webhook(alert=alert, url=channel.webhook_url):
        sent.append("webhook")
    return sent


def alert_email(*, alert: RiskAlert, to: str) -> bool:
    where = f"portfolio {alert.portfolio.name}" if alert.portfolio_id else "your account"
    subject = f"[{alert.severity}] risk alert on {where}: {alert.rule}"
    body = (f"{alert.message}.\n\nAction taken: {alert.get_action_taken_display()}.\n"
            f"Raised at {alert.created_at:%Y-%m-%d %H:%M} UTC.\n")
    try:
        send_mail(subject, body, None, [to])
    except Exception:  # any backend's failure: the alert stands, only this mail is lost
        logger.exception("could not email risk alert %s to its owner", alert.pk)
        return False
    return True


def alert_webhook(*, alert: RiskAlert, url: str) -> bool:
    """POST the alert's event as JSON; True on a 2xx answer within the timeout."""
    if urlsplit(url).scheme not in ("http", "https"):  # urllib would also open file: URLs
        logger.warning("risk alert %s: webhook URL is not http(s), not sent", alert.pk)
        return False
    request = urllib.request.Request(
        url, data=json.dumps(alert.as_event()).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "tradingsite-risk-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError) as error:  # HTTPError is a URLError
        logger.warning("risk alert %s: webhook failed: %s", alert.pk, error)
        return False
