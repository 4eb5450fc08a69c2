from django.apps import AppConfig


class TradingsiteConfig(AppConfig):
    name = "tradingsite"
    verbose_name = "Platform"

    def ready(self):
        from tradingsite import checks  # noqa: F401  (registers the deploy checks)
