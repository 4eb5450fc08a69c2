from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "bots"

    def ready(self):
        self._load_user_strategies()
        self._tick_on_candle_close()

    def _load_user_strategies(self):
        import logging

        from django.conf import settings

        from bots.strategies import load_user_strategies

        for problem in load_user_strategies(settings.USER_STRATEGIES_DIR):
            logging.getLogger(__name__).error("user strategy not loaded: %s", problem)

    def _tick_on_candle_close(self):
        from channels.db import database_sync_to_async

        from marketdata.stream_sink import candle_closed_listeners

        @database_sync_to_async
        def on_candle_closed(market, symbol, interval, kline) -> None:
            from bots.tasks import request_ticks

            request_ticks(market=market, symbol=symbol, interval=interval,
                          open_time=kline.open_time)

        candle_closed_listeners.append(on_candle_closed)
