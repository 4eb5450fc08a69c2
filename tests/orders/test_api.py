"""The orders API: placing, listing, cancelling, fills, positions, balances, portfolios, and
that nobody ever sees or touches another trader's books."""

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from marketdata import live
from orders.models import Balance, Fill, Order, OrderStatus, Position
from portfolios.models import Portfolio
from tests.orders.ordering import limit_buy_below, market_buy

pytestmark = pytest.mark.django_db
S = OrderStatus



@pytest.fixture
def outsiders_portfolio(other_trader):
    return Portfolio.objects.create(owner=other_trader, name="theirs", mode="paper")


def limit_below(local_binance, portfolio, **extra):
    price = (local_binance.price("BTCUSDT") * Decimal("0.98")).quantize(Decimal("0.01"))
    return {"portfolio": portfolio.pk, "symbol": "btcusdt", "side": "BUY", "type": "LIMIT",
            "quantity": "0.01", "price": str(price), "time_in_force": "GTC", **extra}


def test_a_trader_places_a_limit_order_and_gets_it_back_with_decimals_as_strings(
        owner, portfolio, local_binance):
    answer = owner.post("/api/orders/", limit_below(local_binance, portfolio), format="json")

    assert answer.status_code == 201, answer.json()
    body = answer.json()
    order = Order.objects.get(pk=body["id"])
    assert body["status"] == S.NEW == order.status
    assert body["symbol"] == "BTCUSDT"
    assert body["source"] == Order.Source.API
    assert body["quantity"] == "0.01"
    assert body["price"] == f"{order.price.normalize():f}"
    assert body["executed_qty"] == "0"
    assert isinstance(body["price"], str)


def test_a_market_order_by_quote_amount_fills_and_books_a_fill(owner, portfolio, local_binance):
    answer = owner.post("/api/orders/", {"portfolio": portfolio.pk, "symbol": "BTCUSDT",
                                         "side": "BUY", "type": "MARKET",
                                         "quote_quantity": "100"}, format="json")

    assert answer.status_code == 201, answer.json()
    assert answer.json()["status"] == S.FILLED
    assert Decimal(answer.json()["cumulative_quote"]) > 0
    assert Fill.objects.filter(order_id=answer.json()["id"]).exists()


def test_a_filter_breach_is_a_400_with_the_reason_in_words(owner, portfolio, local_binance):
    answer = owner.post("/api/orders/",
                        limit_below(local_binance, portfolio, quantity="0.000001"),
                        format="json")

    assert answer.status_code == 400
    assert "is below the minimum 0.00001 BTC" in answer.json()["detail"]
    assert not Order.objects.exists()


def test_an_unknown_symbol_is_refused_in_words(owner, portfolio, local_binance):
    answer = owner.post("/api/orders/", limit_below(local_binance, portfolio, symbol="NOPEUSDT"),
                        format="json")

    assert answer.status_code == 400
    assert answer.json()["detail"] == "NOPEUSDT is not a known spot symbol: sync symbols first"


def test_binance_refusing_the_order_is_kept_as_rejected_with_its_answer(owner, portfolio,
                                                                       local_binance):
    answer = owner.post("/api/orders/", limit_below(local_binance, portfolio, quantity="100"),
                        format="json")

    assert answer.status_code == 201
    assert answer.json()["status"] == S.REJECTED
    assert "insufficient balance" in answer.json()["reason"]


@pytest.mark.parametrize("amounts", [{}, {"quantity": "0.01", "quote_quantity": "100"}])
def test_an_order_needs_exactly_one_amount(owner, portfolio, local_binance, amounts):
    fields = limit_below(local_binance, portfolio)
    del fields["quantity"]
    answer = owner.post("/api/orders/", {**fields, **amounts}, format="json")

    assert answer.status_code == 400
    assert "either a quantity or a quote_quantity" in str(answer.json())


def test_a_negative_quantity_is_refused_before_the_service(owner, portfolio, local_binance):
    answer = owner.post("/api/orders/", limit_below(local_binance, portfolio, quantity="-1"),
                        format="json")

    assert answer.status_code == 400
    assert "quantity" in answer.json()


def test_listing_shows_own_orders_filtered_by_status_symbol_and_portfolio(
        owner, portfolio, local_binance):
    resting = limit_buy_below(portfolio, local_binance)
    filled = market_buy(portfolio)

    def ids(query):
        answer = owner.get("/api/orders/" + query)
        assert answer.status_code == 200, answer.json()
        return {row["id"] for row in answer.json()["results"]}

    assert ids("") == {resting.pk, filled.pk}
    assert ids("?status=open") == {resting.pk}
    assert ids("?status=filled") == {filled.pk}
    assert ids("?symbol=ethusdt") == set()
    assert ids(f"?symbol=BTCUSDT&portfolio={portfolio.pk}") == {resting.pk, filled.pk}
    assert ids(f"?portfolio={portfolio.pk + 1000}") == set()


def test_an_unknown_status_filter_is_a_400_that_names_the_choices(owner, portfolio):
    answer = owner.get("/api/orders/?status=nearly")

    assert answer.status_code == 400
    assert "open or one of" in str(answer.json())


def test_a_trader_reads_and_cancels_an_own_open_order(owner, portfolio, local_binance):
    order = limit_buy_below(portfolio, local_binance)

    assert owner.get(f"/api/orders/{order.pk}/").json()["client_order_id"] == \
        order.client_order_id
    answer = owner.post(f"/api/orders/{order.pk}/cancel/")

    assert answer.status_code == 200
    assert answer.json()["status"] == S.CANCELED
    order.refresh_from_db()
    assert order.status == S.CANCELED


def test_cancelling_a_filled_order_is_a_conflict_in_words(owner, portfolio, local_binance):
    order = market_buy(portfolio)

    answer = owner.post(f"/api/orders/{order.pk}/cancel/")

    assert answer.status_code == 409
    assert answer.json()["detail"] == "the order is already filled"


def test_fills_and_positions_carry_decimal_strings_and_unrealised_pnl(owner, portfolio,
                                                                     local_binance,
                                                                     monkeypatch):
    order = market_buy(portfolio)
    position = Position.objects.get(portfolio=portfolio, symbol="BTCUSDT")

    fills = owner.get("/api/fills/?symbol=BTCUSDT").json()["results"]
    assert {f["order"] for f in fills} == {order.pk}
    assert all(isinstance(f["price"], str) for f in fills)

    # The stream process's cache is shared (Redis on CI): answer for it here.
    tickers = {}
    monkeypatch.setattr(live, "ticker", lambda market, symbol: tickers.get((market, symbol)))
    row = owner.get("/api/positions/").json()["results"][0]
    assert row["last_price"] is None
    assert row["unrealised_pnl"] is None
    tickers["spot", "BTCUSDT"] = {"symbol": "BTCUSDT", "price": "70000.5"}
    row = owner.get(f"/api/positions/{position.pk}/").json()
    assert row["last_price"] == "70000.5"
    expected = position.quantity * Decimal("70000.5") - position.cost
    assert Decimal(row["unrealised_pnl"]) == expected.quantize(Decimal("0.00000001"))
    assert Decimal(row["average_entry"]) == position.average_entry.quantize(
        Decimal("0.00000001"))
    assert row["realised_pnl"] == "0"


def test_balances_and_portfolios_list_only_the_traders_own(owner, portfolio,
                                                           outsiders_portfolio):
    Balance.objects.filter(portfolio=portfolio).delete()  # the reconciliation copied Binance's
    Balance.objects.create(portfolio=portfolio, asset="USDT", free=Decimal("9000.5"),
                           locked=Decimal("100"))
    Balance.objects.create(portfolio=outsiders_portfolio, asset="USDT", free=Decimal("1"))

    balances = owner.get("/api/balances/").json()["results"]
    portfolios = owner.get("/api/portfolios/").json()["results"]

    assert [(b["asset"], b["free"], b["total"]) for b in balances] == [
        ("USDT", "9000.5", "9100.5")]
    assert [p["name"] for p in portfolios] == ["main"]
    assert owner.post("/api/portfolios/", {"name": "x"}).status_code == 405


# --- ownership -------------------------------------------------------------------------------

def test_an_outsider_gets_404_for_the_traders_order_fill_position_and_portfolio(
        outsider, portfolio, local_binance):
    order = market_buy(portfolio)
    fill = order.fills.first()
    position = Position.objects.get(portfolio=portfolio)

    for url in (f"/api/orders/{order.pk}/", f"/api/fills/{fill.pk}/",
                f"/api/positions/{position.pk}/", f"/api/portfolios/{portfolio.pk}/"):
        assert outsider.get(url).status_code == 404, url
    for url in ("/api/orders/", "/api/fills/", "/api/positions/", "/api/balances/",
                "/api/portfolios/"):
        assert outsider.get(url).json()["results"] == [], url


def test_an_outsider_cannot_cancel_the_traders_order(outsider, portfolio, local_binance):
    order = limit_buy_below(portfolio, local_binance)

    answer = outsider.post(f"/api/orders/{order.pk}/cancel/")

    assert answer.status_code == 404
    order.refresh_from_db()
    assert order.status == S.NEW
    assert local_binance.requests("DELETE", "/api/v3/order") == []


def test_an_outsider_cannot_place_into_the_traders_portfolio(outsider, portfolio, local_binance):
    answer = outsider.post("/api/orders/", limit_below(local_binance, portfolio), format="json")

    assert answer.status_code == 400
    assert answer.json()["portfolio"] == ["not one of your portfolios"]
    assert not Order.objects.exists()
    assert local_binance.requests("POST", "/api/v3/order") == []


def test_the_api_needs_a_logged_in_trader(portfolio):
    assert APIClient().get("/api/orders/").status_code == 401  # not signed in: 401, Bearer
    assert APIClient().post("/api/orders/", {}).status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_futures_stop_is_placed_through_the_api_and_a_spot_type_is_refused_in_words(
        owner, futures_portfolio, local_binance):
    stop = str((local_binance.price("BTCUSDT") * Decimal("0.9")).quantize(Decimal("0.1")))
    base = {"portfolio": futures_portfolio.pk, "market": "futures", "symbol": "BTCUSDT",
            "side": "SELL", "quantity": "0.01"}

    placed = owner.post("/api/orders/", {**base, "type": "STOP_MARKET", "stop_price": stop},
                        format="json")
    refused = owner.post("/api/orders/", {**base, "type": "STOP_LOSS_LIMIT",
                                          "stop_price": stop, "price": stop}, format="json")

    assert placed.status_code == 201, placed.json()
    assert placed.json()["status"] == S.NEW
    assert placed.json()["market"] == "futures"
    assert local_binance.requests("POST", "/fapi/v1/algoOrder",
                                  clientAlgoId=placed.json()["client_order_id"])
    assert refused.status_code == 400
    assert "futures orders are MARKET, LIMIT, STOP_MARKET" in str(refused.json()["type"])


@pytest.mark.django_db(transaction=True)
def test_an_oco_is_placed_through_the_api_as_two_linked_legs(owner, portfolio, local_binance):
    market_buy(portfolio, qty="0.02")
    last = local_binance.price("BTCUSDT")

    answer = owner.post("/api/orders/oco/", {
        "portfolio": portfolio.pk, "symbol": "btcusdt", "side": "SELL", "quantity": "0.01",
        "price": str((last * Decimal("1.05")).quantize(Decimal("0.01"))),
        "stop_price": str((last * Decimal("0.95")).quantize(Decimal("0.01"))),
        "stop_limit_price": str((last * Decimal("0.94")).quantize(Decimal("0.01")))},
        format="json")

    assert answer.status_code == 201, answer.json()
    limit, stop = answer.json()
    assert (limit["type"], stop["type"]) == ("LIMIT_MAKER", "STOP_LOSS_LIMIT")
    assert limit["list_client_order_id"] == stop["list_client_order_id"] != ""
    assert (limit["status"], stop["status"]) == (S.NEW, S.NEW)
