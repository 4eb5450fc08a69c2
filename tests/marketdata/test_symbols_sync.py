import pytest
from django.core.management import call_command

from marketdata.exchange.filters import FilterError, SymbolNotTrading, normalise_order
from marketdata.models import Symbol, SymbolStatusChange
from marketdata.services import symbols_sync

pytestmark = pytest.mark.django_db


def test_spot_symbols_arrive_with_their_filters(local_venue):
    report = symbols_sync(market="spot", venue=local_venue)

    btc = Symbol.objects.get(market="spot", name="BTCUSDT")
    assert report.created == Symbol.objects.filter(market="spot").count() > 0
    assert (btc.base_asset, btc.quote_asset, btc.status) == ("BTC", "USDT", "TRADING")
    assert btc.tick_size > 0
    assert btc.step_size > 0
    order = normalise_order(btc.rules(), side="BUY", order_type="LIMIT",
                            quantity="0.0123456789", price="30000.123456")
    assert order.quantity % btc.step_size == 0
    with pytest.raises(FilterError, match="LOT_SIZE"):
        normalise_order(btc.rules(), side="BUY", order_type="LIMIT", quantity="0.0000001",
                        price="30000")


def test_futures_symbols_are_kept_apart_from_spot(local_venue):
    symbols_sync(market="spot", venue=local_venue)
    symbols_sync(market="futures", venue=local_venue)

    futures = Symbol.objects.filter(market="futures")
    assert futures.exists()
    assert futures.first().rules().is_futures


def test_syncing_again_changes_nothing_but_a_status_change_is_recorded(local_venue,
                                                                      local_binance):
    symbols_sync(market="spot", venue=local_venue)
    again = symbols_sync(market="spot", venue=local_venue)
    assert again.created == 0
    assert again.status_changes == []

    local_binance.set_symbol_status("BTCUSDT", "BREAK")
    report = symbols_sync(market="spot", venue=local_venue)

    btc = Symbol.objects.get(market="spot", name="BTCUSDT")
    assert not btc.is_trading
    assert report.status_changes == ["BTCUSDT: TRADING → BREAK"]
    assert SymbolStatusChange.objects.get().new_status == "BREAK"
    assert not Symbol.objects.trading().filter(name="BTCUSDT").exists()
    with pytest.raises(SymbolNotTrading):  # new orders stop on a symbol that is not trading
        normalise_order(btc.rules(), side="BUY", order_type="LIMIT", quantity="0.01",
                        price="30000")


def test_the_admin_syncs_symbols_on_request(admin_client, local_venue, settings):
    settings.BINANCE_MARKET_DATA_VENUE = local_venue.base_url

    response = admin_client.post("/admin/marketdata/symbol/sync/spot/", follow=True)

    assert "Synced spot:" in response.content.decode()
    assert Symbol.objects.filter(market="spot").exists()
    page = admin_client.get("/admin/marketdata/symbol/?q=BTCUSDT").content.decode()
    assert "BTCUSDT" in page


def test_the_admin_reports_an_unreachable_exchange_in_words(admin_client, settings):
    settings.BINANCE_MARKET_DATA_VENUE = "http://127.0.0.1:9"  # nothing listens there

    response = admin_client.post("/admin/marketdata/symbol/sync/spot/", follow=True)

    assert "Could not sync spot symbols: ConnectionError" in response.content.decode()
    assert not Symbol.objects.exists()


def test_the_beat_task_is_scheduled(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "marketdata.tasks.symbols_sync_task" in tasks
    call_command("check")
