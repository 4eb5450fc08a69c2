from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def check_allowed_hosts_not_wildcard(app_configs, **kwargs):
    # The WebSocket origin check trusts ALLOWED_HOSTS: a wildcard would let any site's page open
    # an authenticated socket with the trader's cookies.
    if "*" in settings.ALLOWED_HOSTS:
        return [
            Error(
                "ALLOWED_HOSTS contains '*'.",
                hint="List the platform's host names; the WebSocket origin check relies on them.",
                id="tradingsite.E001",
            )
        ]
    return []
