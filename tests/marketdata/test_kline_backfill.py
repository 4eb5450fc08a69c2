"""Candles over REST against the local Binance: paging, resuming, sync, gaps and their repair."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from marketdata.exchange.errors import RetryableError
from marketdata.exchange.gateway import BinanceGateway
from marketdata.klines import (
    Gap,
    kline_gaps,
    klines_backfill,
    klines_repair_gaps,
    klines_sync,
)
from marketdata.models import Kline
from tests.localbinance.data import klines_dir
from tests.localbinance.exchange import ServerConfig

pytestmark = pytest.mark.django_db

FIRST = datetime(2024, 3, 1, tzinfo=UTC)  # the first candle of the replayed file
HISTORY = 2500  # candles the exchange has before the replay moves: more than two pages
BTC = {"symbol": "BTCUSDT", "interval": "1m"}


@pytest.fixture
def local_binance_config():
    return ServerConfig(klines=[("BTCUSDT", klines_dir() / "BTCUSDT-1m-taeminlee_cp-spot.csv")],
                        start_index=HISTORY)


@pytest.fixture
def gateway(local_venue):
    return BinanceGateway(local_venue)


def minute(n: int) -> datetime:
    return FIRST + timedelta(minutes=n)


def millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def kline_requests(local_binance, path="/api/v3/klines"):
    return local_binance.requests("GET", path)


def stored_opens() -> list[datetime]:
    return list(Kline.objects.order_by("open_time").values_list("open_time", flat=True))


def test_a_backfill_pages_through_history_1000_candles_a_request(gateway, local_binance):
    report = klines_backfill(**BTC, start=FIRST, gateway=gateway)

    requests = kline_requests(local_binance)
    # Each page starts at the candle the previous one held back as possibly still forming.
    assert [r.params["startTime"] for r in requests] == [millis(minute(n))
                                                         for n in (0, 999, 1998)]
    assert {r.params["limit"] for r in requests} == {"1000"}
    assert (report.requests, report.added, report.skipped) == (3, HISTORY - 1, 0)
    assert stored_opens() == [minute(n) for n in range(HISTORY - 1)]
    assert report.newest == minute(HISTORY - 2)


def test_a_backfill_stores_the_exchanges_values_exactly(gateway):
    klines_backfill(**BTC, start=FIRST, end=minute(3), gateway=gateway)

    first = Kline.objects.get(open_time=FIRST)
    line = (klines_dir() / "BTCUSDT-1m-taeminlee_cp-spot.csv").read_text().splitlines()[1]
    _, open_, high, low, close, volume, *_ = line.split(",")
    assert [first.open, first.high, first.low, first.close, first.volume] == [
        Decimal(text) for text in (open_, high, low, close, volume)]
    assert first.close_time == FIRST + timedelta(seconds=59, milliseconds=999)
    assert Kline.objects.count() == 3


def test_the_newest_candle_is_stored_only_once_a_later_one_shows_it_closed(gateway,
                                                                          local_binance):
    klines_backfill(**BTC, start=FIRST, gateway=gateway)
    assert stored_opens()[-1] == minute(HISTORY - 2)

    local_binance.advance(1)
    assert klines_sync(**BTC, gateway=gateway).added == 1
    assert stored_opens()[-1] == minute(HISTORY - 1)

    local_binance.set_price("BTCUSDT", "70000")  # a trade opens the next, still forming candle
    assert klines_sync(**BTC, gateway=gateway).added == 1
    assert stored_opens()[-1] == minute(HISTORY)  # not the forming HISTORY + 1


def test_a_backfill_resumes_from_the_last_stored_candle(gateway, local_binance):
    klines_backfill(**BTC, start=FIRST, end=minute(1500), gateway=gateway)
    assert stored_opens()[-1] == minute(1499)
    local_binance.clear_requests()

    report = klines_backfill(**BTC, start=FIRST, gateway=gateway)

    assert kline_requests(local_binance)[0].params["startTime"] == millis(minute(1500))
    assert (report.added, report.skipped) == (HISTORY - 1 - 1500, 0)
    assert len(stored_opens()) == HISTORY - 1


def test_a_server_error_mid_backfill_stops_it_and_a_rerun_completes_without_duplicates(
        gateway, local_binance):
    def fail_the_next_request(report):
        if report.requests == 1:
            local_binance.inject("server_error", path="/api/v3/klines")

    with pytest.raises(RetryableError):
        klines_backfill(**BTC, start=FIRST, gateway=gateway, on_page=fail_the_next_request)
    assert len(stored_opens()) == 999

    report = klines_backfill(**BTC, start=FIRST, gateway=gateway)

    assert (report.added, report.skipped) == (HISTORY - 1 - 999, 0)
    assert stored_opens() == [minute(n) for n in range(HISTORY - 1)]


def test_sync_starts_with_the_latest_page_and_then_fetches_only_what_closed_since(gateway,
                                                                                 local_binance):
    first = klines_sync(**BTC, gateway=gateway)
    assert (first.added, stored_opens()[0]) == (999, minute(HISTORY - 1000))

    local_binance.advance(3)
    local_binance.clear_requests()
    again = klines_sync(**BTC, gateway=gateway)

    assert (again.added, again.requests) == (3, 1)
    assert kline_requests(local_binance)[0].params["startTime"] == millis(minute(HISTORY - 1))


@pytest.mark.django_db(transaction=True)
def test_two_syncs_at_once_store_every_candle_once(local_venue):
    klines_backfill(**BTC, start=FIRST, end=minute(10), gateway=BinanceGateway(local_venue))
    failures = []

    def sync():
        try:
            klines_sync(**BTC, gateway=BinanceGateway(local_venue))
        except Exception as exc:  # reported below: a thread's exception would be lost
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sync) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert stored_opens() == [minute(n) for n in range(HISTORY - 1)]


def test_gaps_are_found_between_stored_candles_and_at_the_edges_of_a_window(gateway):
    klines_backfill(**BTC, start=FIRST, gateway=gateway)
    Kline.objects.filter(open_time__range=(minute(10), minute(14))).delete()
    Kline.objects.filter(open_time=minute(2000)).delete()

    assert kline_gaps(**BTC) == [Gap(minute(10), minute(14), 5), Gap(minute(2000), minute(2000), 1)]
    assert kline_gaps(**BTC, start=minute(-2), end=minute(12)) == [
        Gap(minute(-2), minute(-1), 2), Gap(minute(10), minute(11), 2)]
    assert kline_gaps(**BTC, start=minute(2010), end=minute(HISTORY + 1)) == [
        Gap(minute(HISTORY - 1), minute(HISTORY), 2)]
    assert kline_gaps(**BTC, market="futures", start=FIRST, end=minute(60)) == [
        Gap(FIRST, minute(59), 60)]
    assert kline_gaps(symbol="BTCUSDT", interval="1h") == []


def test_repairing_fetches_each_gap_and_restores_the_same_candles(gateway, local_binance):
    klines_backfill(**BTC, start=FIRST, gateway=gateway)
    removed = Kline.objects.filter(open_time__range=(minute(10), minute(14)))
    originals = list(removed.values())
    removed.delete()
    Kline.objects.filter(open_time=minute(2000)).delete()
    local_binance.clear_requests()

    report = klines_repair_gaps(**BTC, gateway=gateway)

    assert (report.added, report.requests, report.unfilled) == (6, 2, [])
    assert [r.params["limit"] for r in kline_requests(local_binance)] == ["6", "2"]
    assert kline_gaps(**BTC) == []
    restored = Kline.objects.filter(open_time__range=(minute(10), minute(14)))
    assert [{**row, "id": None} for row in restored.values()] == \
        [{**row, "id": None} for row in originals]


def test_nearby_gaps_are_fetched_together_and_missing_history_is_reported(gateway,
                                                                        local_binance):
    klines_backfill(**BTC, start=FIRST, end=minute(100), gateway=gateway)
    Kline.objects.filter(open_time__in=[minute(n) for n in range(5, 95, 3)]).delete()
    local_binance.clear_requests()

    report = klines_repair_gaps(**BTC, start=minute(-5), end=minute(100), gateway=gateway)

    assert report.added == 30
    assert report.unfilled == [Gap(minute(-5), minute(-1), 5)]  # before the exchange's first
    assert len(kline_requests(local_binance)) == 1


def test_futures_candles_come_from_the_futures_api_and_are_kept_apart(gateway, local_binance):
    report = klines_backfill(**BTC, market="futures", start=FIRST, end=minute(5),
                             gateway=gateway)

    assert report.added == 5
    assert len(kline_requests(local_binance, "/fapi/v1/klines")) == 1
    assert set(Kline.objects.values_list("market", flat=True)) == {"futures"}


def test_the_backfill_command_prints_progress_and_a_summary(local_venue, settings):
    settings.BINANCE_MARKET_DATA_VENUE = local_venue.base_url
    out = StringIO()

    call_command("backfill_klines", "BTCUSDT", "1m", "--start", "2024-03-01", stdout=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == ("BTCUSDT 1m spot: 999 added, 0 already stored, 1 requests, "
                        "up to 2024-03-01 16:38")
    assert lines[-1] == ("Done: BTCUSDT 1m spot: 2499 added, 0 already stored, 3 requests, "
                         "up to 2024-03-02 17:38")


def test_the_backfill_command_says_how_to_resume_after_an_exchange_error(local_venue,
                                                                        local_binance,
                                                                        settings):
    settings.BINANCE_MARKET_DATA_VENUE = local_venue.base_url
    local_binance.inject("drop", path="/api/v3/klines")

    with pytest.raises(CommandError, match="run the same command again to resume"):
        call_command("backfill_klines", "BTCUSDT", "1m", "--start", "2024-03-01",
                     stdout=StringIO())


def test_the_backfill_command_repairs_gaps_on_request(local_venue, settings, gateway):
    settings.BINANCE_MARKET_DATA_VENUE = local_venue.base_url
    klines_backfill(**BTC, start=FIRST, end=minute(100), gateway=gateway)
    Kline.objects.filter(open_time__range=(minute(10), minute(14))).delete()
    out = StringIO()

    call_command("backfill_klines", "BTCUSDT", "1m", "--repair", stdout=out)

    assert out.getvalue().splitlines()[-1] == ("Done: BTCUSDT 1m spot: 5 added, 0 already "
                                               "stored, 1 requests, up to 2024-03-01 00:14")
    with pytest.raises(CommandError, match="--start is required"):
        call_command("backfill_klines", "BTCUSDT", "1m", stdout=StringIO())
