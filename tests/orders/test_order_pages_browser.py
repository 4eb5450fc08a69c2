"""The orders page in Chromium: place a limit order through the ticket, watch the fake fill it
and the page follow the pushed events (order.update, fill.new, position.update, price.update),
then place another one and cancel it with its button."""

from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from marketdata.stream_sink import symbol_group
from orders.models import Order, OrderStatus
from orders.services import orders_reconcile
from tests.support.browser import log_in, off_the_test_thread, screenshot, wait_for_js

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def push_price(symbol: str, price: str) -> None:
    message = {"type": "event.forward",
               "event": {"type": "price.update", "data": {"symbol": symbol, "price": price}}}
    async_to_sync(get_channel_layer().group_send)(symbol_group(symbol), message)


def place_limit_buy(page, quantity: str, price: Decimal):
    page.select_option("#id_type", "LIMIT")
    page.fill("#id_quantity", quantity)
    page.fill("#id_price", str(price))
    page.click("#ticket-submit")


def test_a_trader_places_sees_fills_and_cancels_orders_live(page, asgi_live_server, trader,
                                                            portfolio, local_binance):
    log_in(page, asgi_live_server, trader)
    page.goto(asgi_live_server.url + "/orders/")
    page.wait_for_selector("#live-status.online", timeout=10_000)
    assert page.is_hidden("[data-field-row=quote_quantity]")  # LIMIT takes no quote amount

    place_limit_buy(page, "0.000001", Decimal("1000"))
    page.wait_for_selector(".ticket-error:has-text('is below the minimum 0.00001 BTC')")
    screenshot(page, "orders-ticket-refused")

    price = (local_binance.price("BTCUSDT") * Decimal("0.98")).quantize(Decimal("0.01"))
    place_limit_buy(page, "0.01", price)
    page.wait_for_selector("#order-ticket .ticket-notice:has-text('Order placed.')")
    first = Order.objects.get(status=OrderStatus.NEW)
    row = f"#open-orders tr[data-order-id='{first.pk}']"
    page.wait_for_selector(row)
    assert "open" in page.inner_text(row)
    screenshot(page, "orders-open")

    local_binance.emit_trade("BTCUSDT", price, "1")
    off_the_test_thread(orders_reconcile, portfolio=portfolio)
    page.wait_for_selector(row, state="detached", timeout=10_000)
    page.wait_for_selector(f"#order-history tr[data-order-id='{first.pk}']:has-text('filled')")
    page.wait_for_selector("#fills tr[data-trade-id]")
    position = "#positions tr[data-position-symbol='BTCUSDT']"
    page.wait_for_selector(position)

    page.wait_for_timeout(300)  # let the page's subscription to BTCUSDT reach the server
    off_the_test_thread(push_price, symbol="BTCUSDT", price=str(price + 1000))
    wait_for_js(page,
        f"document.querySelector(\"{position} [data-field='last-price']\").textContent"
        f" === '{price + 1000}'", timeout=10_000)
    quantity, cost = (Decimal(page.get_attribute(position, name))
                      for name in ("data-quantity", "data-cost"))
    expected = (quantity * (price + 1000) - cost).quantize(Decimal("0.01"))
    shown = Decimal(page.inner_text(f"{position} [data-field='unrealised']"))
    assert abs(shown - expected) <= Decimal("0.01")
    assert "ok" in page.get_attribute(f"{position} [data-field='unrealised']", "class")
    screenshot(page, "orders-filled")

    # The trade moved the fake's last price down to `price`: rest the second one below it.
    place_limit_buy(page, "0.02", (price * Decimal("0.97")).quantize(Decimal("0.01")))
    second_id = page.wait_for_selector("#open-orders tr[data-order-id]").get_attribute(
        "data-order-id")
    # The row is re-rendered as its order.update events arrive: click it by locator.
    page.locator(f"#open-orders tr[data-order-id='{second_id}'] button.btn-cancel").click()
    page.wait_for_selector(f"#open-orders tr[data-order-id='{second_id}']", state="detached")
    page.wait_for_selector(
        f"#order-history tr[data-order-id='{second_id}']:has-text('cancelled')",
        timeout=10_000)
    assert Order.objects.get(pk=second_id).status == OrderStatus.CANCELED
    screenshot(page, "orders-cancelled")
