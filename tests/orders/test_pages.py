"""The trader's order pages: the ticket, the tables and their partials, each showing only the
trader's own books."""

from decimal import Decimal

import pytest

from orders.models import Order, OrderStatus
from portfolios.models import Portfolio
from tests.orders.ordering import limit_buy_below, market_buy

pytestmark = pytest.mark.django_db
S = OrderStatus
HTMX = {"HTTP_HX_REQUEST": "true"}



def ticket(local_binance, portfolio, **extra):
    price = (local_binance.price("BTCUSDT") * Decimal("0.98")).quantize(Decimal("0.01"))
    return {"portfolio": portfolio.pk, "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT",
            "quantity": "0.01", "price": str(price), "time_in_force": "GTC", **extra}


def test_the_page_shows_the_ticket_with_only_the_traders_portfolios(owner, portfolio,
                                                                    other_trader):
    Portfolio.objects.create(owner=other_trader, name="not-yours", mode="paper")

    page = owner.get("/orders/").content.decode()

    assert 'id="order-ticket"' in page
    assert f'<option value="{portfolio.pk}">main (Binance testnet)</option>' in page
    assert "not-yours" not in page
    for table in ('id="open-orders"', 'id="positions"', 'id="fills"', 'id="order-history"'):
        assert table in page
    assert 'href="/orders/"' in page  # the nav link


def test_the_page_lists_open_orders_history_fills_and_positions(owner, portfolio,
                                                                local_binance):
    resting = limit_buy_below(portfolio, local_binance)
    filled = market_buy(portfolio)
    fill = filled.fills.first()

    page = owner.get("/orders/").content.decode()

    assert f'data-order-id="{resting.pk}"' in page
    assert f'/orders/{resting.pk}/cancel/' in page
    assert f'data-order-id="{filled.pk}"' in page
    assert f'data-trade-id="{fill.trade_id}"' in page
    assert 'data-position-symbol="BTCUSDT"' in page


def test_placing_through_the_ticket_rerenders_the_ticket_and_the_open_orders(
        owner, portfolio, local_binance):
    answer = owner.post("/orders/place/", ticket(local_binance, portfolio), **HTMX)

    html = answer.content.decode()
    order = Order.objects.get()
    assert answer.status_code == 200
    assert order.status == S.NEW
    assert order.source == Order.Source.MANUAL
    assert "Order placed." in html
    assert 'id="open-orders" data-partial-url="/orders/partials/open/" hx-swap-oob="true"' in html
    assert f'data-order-id="{order.pk}"' in html
    assert "<html" not in html


def test_a_refused_order_shows_the_reason_in_words_on_the_ticket(owner, portfolio,
                                                                 local_binance):
    answer = owner.post("/orders/place/", ticket(local_binance, portfolio, quantity="0.000001"),
                        **HTMX)

    assert "is below the minimum 0.00001 BTC" in answer.content.decode()
    assert not Order.objects.exists()


def test_binances_refusal_is_shown_on_the_ticket(owner, portfolio, local_binance):
    answer = owner.post("/orders/place/", ticket(local_binance, portfolio, quantity="100"),
                        **HTMX)

    html = answer.content.decode()
    assert "Binance rejected the order:" in html
    assert "insufficient balance" in html
    assert Order.objects.get().status == S.REJECTED


def test_the_ticket_drops_fields_the_order_type_does_not_take(owner, portfolio, local_binance):
    fields = ticket(local_binance, portfolio, type="MARKET", quantity="", quote_quantity="50")

    owner.post("/orders/place/", fields, **HTMX)

    order = Order.objects.get()
    assert (order.type, order.price, order.time_in_force) == ("MARKET", None, "")
    assert order.quote_quantity == Decimal("50")
    assert order.status == S.FILLED


def test_without_htmx_a_placement_redirects_and_an_invalid_ticket_renders_the_page(
        owner, portfolio, local_binance):
    placed = owner.post("/orders/place/", ticket(local_binance, portfolio))
    refused = owner.post("/orders/place/", ticket(local_binance, portfolio, quantity=""))

    assert placed.status_code == 302
    assert placed.url == "/orders/"
    assert refused.status_code == 400
    assert "Give a quantity" in refused.content.decode()


def test_the_cancel_button_cancels_and_rerenders_the_open_orders(owner, portfolio,
                                                                 local_binance):
    order = limit_buy_below(portfolio, local_binance)

    answer = owner.post(f"/orders/{order.pk}/cancel/", **HTMX)

    order.refresh_from_db()
    assert order.status == S.CANCELED
    html = answer.content.decode()
    assert 'id="open-orders"' in html
    assert f'data-order-id="{order.pk}"' not in html
    assert "No open orders." in html


@pytest.mark.parametrize("name", ["open", "history", "fills", "positions"])
def test_each_partial_is_only_its_fragment(owner, portfolio, name):
    answer = owner.get(f"/orders/partials/{name}/", **HTMX)

    assert answer.status_code == 200
    assert "<html" not in answer.content.decode()
    assert f'data-partial-url="/orders/partials/{name}/"' in answer.content.decode()


def test_an_unknown_partial_is_a_404(owner):
    assert owner.get("/orders/partials/secrets/").status_code == 404


def test_the_order_page_shows_the_order_and_its_fills_to_its_owner(owner, portfolio,
                                                                   local_binance):
    order = market_buy(portfolio)

    page = owner.get(f"/orders/{order.pk}/").content.decode()

    assert order.client_order_id in page
    assert f'data-trade-id="{order.fills.first().trade_id}"' in page


# --- ownership -------------------------------------------------------------------------------

def test_an_outsider_sees_none_of_the_traders_books(outsider, portfolio, local_binance):
    resting = limit_buy_below(portfolio, local_binance)
    filled = market_buy(portfolio)

    page = outsider.get("/orders/").content.decode()

    assert "main" not in page.split('id="order-ticket"')[1].split("</form>")[0]
    for marker in (f'data-order-id="{resting.pk}"', f'data-order-id="{filled.pk}"',
                   'data-position-symbol', 'data-trade-id'):
        assert marker not in page
    for name in ("open", "history", "fills", "positions"):
        assert "data-order-id" not in outsider.get(f"/orders/partials/{name}/").content.decode()
    assert outsider.get(f"/orders/{filled.pk}/").status_code == 404


def test_an_outsider_cannot_cancel_the_traders_order(outsider, portfolio, local_binance):
    order = limit_buy_below(portfolio, local_binance)

    assert outsider.post(f"/orders/{order.pk}/cancel/", **HTMX).status_code == 404
    order.refresh_from_db()
    assert order.status == S.NEW


def test_an_outsider_cannot_place_into_the_traders_portfolio(outsider, portfolio,
                                                             local_binance):
    answer = outsider.post("/orders/place/", ticket(local_binance, portfolio), **HTMX)

    assert "Select a valid choice" in answer.content.decode()
    assert not Order.objects.exists()


def test_the_pages_need_a_logged_in_trader(client):
    for url in ("/orders/", "/orders/partials/open/"):
        assert client.get(url).url.startswith("/accounts/login/")
    assert client.post("/orders/place/", {}).url.startswith("/accounts/login/")
