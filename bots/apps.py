from django.apps import AppConfig


class BotsConfig(AppConfig):
    name = "bots"

    def ready(self):
        from channels.db import database_sync_to_async

        from marketdata.stream_sink import candle_closed_listeners

        @database_sync_to_async
        def on_candle_closed(market, symbol, interval, kline) -> None:
            from bots.tasks import request_ticks

            request_ticks(market=market, symbol=symbol, interval=interval,
                          open_time=kline.open_time)

        candle_closed_listeners.append(on_candle_closed)
