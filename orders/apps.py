from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "orders"

    def ready(self):
        from marketdata.stream_sink import trade_listeners
        from orders.paper_matcher import PaperMatcher

        trade_listeners.append(PaperMatcher().on_trade)
