import logging

from celery import shared_task

from marketdata.exchange.errors import RetryableError
from marketdata.klines import klines_sync
from marketdata.models import WatchedSymbol
from marketdata.services import symbols_sync

logger = logging.getLogger(__name__)


@shared_task(name="marketdata.tasks.symbols_sync_task", autoretry_for=(RetryableError,),
             retry_backoff=30, max_retries=5, soft_time_limit=120, time_limit=180)
def symbols_sync_task(market: str) -> str:
    return str(symbols_sync(market=market))


@shared_task(name="marketdata.tasks.klines_sync_watched_task", soft_time_limit=240,
             time_limit=300)
def klines_sync_watched_task() -> str:
    """The REST fallback beside the streams: bring every watched series up to date."""
    fetched = 0
    for watched in WatchedSymbol.objects.active():
        for interval in watched.interval_list():
            try:
                report = klines_sync(symbol=watched.symbol, interval=interval,
                                     market=watched.market)
            except RetryableError as error:
                logger.warning("%s %s sync failed, next run retries: %s", watched.symbol,
                               interval, error)
                continue
            fetched += report.added
    return f"{fetched} candles added"
