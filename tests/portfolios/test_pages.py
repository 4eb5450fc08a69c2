"""The trader's portfolio pages and the dashboard: create and edit through the forms (a paper
portfolio gets its starting balance), the figures, each for the portfolio's owner only."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from bots.services import bot_create
from marketdata.services import symbols_sync
from orders.models import Balance
from orders.services import paper_deposit
from portfolios.models import EquitySnapshot, ExchangeAccount, Portfolio, SymbolAllocation

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}



@pytest.fixture
def symbols(local_venue):
    symbols_sync(market="spot", venue=local_venue)


@pytest.fixture
def paper(trader, symbols):
    portfolio = Portfolio.objects.create(owner=trader, name="paper", total_budget=D("1000"))
    paper_deposit(portfolio=portfolio, asset="USDT", amount=D("10000"))
    return portfolio


def account(user, name="testnet key", mode="testnet"):
    key = ExchangeAccount(owner=user, name=name, mode=mode, market="spot")
    key.set_credentials(api_key="k" * 64, api_secret="s" * 64)
    key.save()
    return key


def portfolio_form(allocations=(), initial_forms=0, **extra):
    fields = {"name": "swing", "quote_asset": "usdt", "mode": "paper", "exchange_account": "",
              "starting_balance": "2500", "total_budget": "2000", "max_budget_per_symbol": "0",
              "risk_level": "medium", "maker_fee": "0.001", "taker_fee": "0.001",
              "slippage_bps": "5", "allocations-TOTAL_FORMS": str(max(len(allocations), 1)),
              "allocations-INITIAL_FORMS": str(initial_forms), "allocations-MIN_NUM_FORMS": "0",
              "allocations-MAX_NUM_FORMS": "1000"}
    for n, row in enumerate(allocations):
        fields.update({f"allocations-{n}-{key}": value for key, value in row.items()})
    return {**fields, **extra}


def field_row(html: str, name: str) -> str:
    return html.split(f'data-field-row="{name}"')[1].split('<div class="form-row"')[0]


# --- create and edit -------------------------------------------------------------------------

def test_a_paper_portfolio_is_created_with_its_starting_balance_and_allocations(owner, trader,
                                                                              symbols):
    answer = owner.post("/portfolios/new/", portfolio_form(
        allocations=[{"symbol": "btcusdt", "allocated_budget": "500"}]))

    portfolio = Portfolio.objects.get()
    assert answer.status_code == 302
    assert answer.url == f"/portfolios/{portfolio.pk}/"
    assert (portfolio.owner, portfolio.name, portfolio.quote_asset) == (trader, "swing", "USDT")
    assert (portfolio.mode, portfolio.total_budget, portfolio.slippage_bps) == (
        "paper", D("2000"), D("5"))
    assert Balance.objects.get(portfolio=portfolio, asset="USDT").free == D("2500")
    allocation = portfolio.allocations.get()
    assert (allocation.symbol, allocation.allocated_budget) == ("BTCUSDT", D("500"))


def test_the_new_form_offers_only_paper_without_an_exchange_account(owner, symbols):
    page = owner.get("/portfolios/new/").content.decode()
    answer = owner.post("/portfolios/new/", portfolio_form(mode="testnet"))

    assert '<option value="paper" selected>' in page
    assert 'value="testnet"' not in page
    assert 'name="starting_balance" value="10000"' in page
    assert "add your Binance API key first" in page
    assert answer.status_code == 400
    assert "Select a valid choice" in field_row(answer.content.decode(), "mode")
    assert not Portfolio.objects.exists()


def test_an_exchange_portfolio_trades_through_a_matching_own_account_and_gets_no_deposit(
        owner, trader, other_trader, symbols):
    own, theirs = account(trader), account(other_trader, name="theirs")

    missing = owner.post("/portfolios/new/", portfolio_form(mode="testnet"))
    foreign = owner.post("/portfolios/new/", portfolio_form(mode="testnet",
                                                            exchange_account=theirs.pk))
    mismatched = owner.post("/portfolios/new/", portfolio_form(mode="live",
                                                               exchange_account=own.pk))
    created = owner.post("/portfolios/new/", portfolio_form(mode="testnet",
                                                            exchange_account=own.pk))

    assert "choose one" in field_row(missing.content.decode(), "exchange_account")
    assert "Select a valid choice" in field_row(foreign.content.decode(), "exchange_account")
    assert ("testnet key is a Binance testnet account; a live portfolio needs a matching one."
            in field_row(mismatched.content.decode(), "exchange_account"))
    assert created.status_code == 302
    portfolio = Portfolio.objects.get()
    assert (portfolio.mode, portfolio.exchange_account) == ("testnet", own)
    assert not Balance.objects.filter(portfolio=portfolio).exists()


def test_names_and_allocation_symbols_are_checked_in_words(owner, paper):
    answer = owner.post("/portfolios/new/", portfolio_form(
        name="paper", allocations=[{"symbol": "NOPEUSDT", "allocated_budget": "10"}]))

    html = answer.content.decode()
    assert answer.status_code == 400
    assert "You already have a portfolio named paper." in field_row(html, "name")
    assert "NOPEUSDT is not a known spot symbol." in html
    assert Portfolio.objects.count() == 1


def test_editing_changes_budgets_and_allocations_but_not_where_the_money_is(owner, paper):
    kept = SymbolAllocation.objects.create(portfolio=paper, symbol="BTCUSDT",
                                           allocated_budget=D("300"))
    page = owner.get(f"/portfolios/{paper.pk}/edit/").content.decode()
    assert "starting_balance" not in page
    assert 'name="quote_asset" value="USDT" maxlength="20" required disabled' in page

    answer = owner.post(f"/portfolios/{paper.pk}/edit/", portfolio_form(
        name="paper", quote_asset="EUR", total_budget="5000", initial_forms=1,
        allocations=[{"id": str(kept.pk), "symbol": "BTCUSDT", "allocated_budget": "300",
                      "DELETE": "on"},
                     {"symbol": "ETHUSDT", "allocated_budget": "700"}]))

    assert answer.status_code == 302
    paper.refresh_from_db()
    assert (paper.total_budget, paper.quote_asset) == (D("5000"), "USDT")
    assert [(a.symbol, a.allocated_budget) for a in paper.allocations.all()] == [
        ("ETHUSDT", D("700"))]
    assert Balance.objects.get(portfolio=paper).free == D("10000")  # no second deposit


# --- the portfolio's pages -------------------------------------------------------------------

def test_the_list_shows_the_traders_portfolios_with_their_value(owner, outsider, paper):
    page = owner.get("/portfolios/").content.decode()

    assert f'href="/portfolios/{paper.pk}/"' in page
    assert "10000.00" in page
    assert 'href="/portfolios/"' in page  # the nav link
    assert f'/portfolios/{paper.pk}/' not in outsider.get("/portfolios/").content.decode()


def test_the_page_shows_value_figures_allocations_with_headroom_and_bots(owner, paper):
    SymbolAllocation.objects.create(portfolio=paper, symbol="BTCUSDT", allocated_budget=D("400"))
    bot = bot_create(portfolio=paper, name="crossing", symbol="BTCUSDT", strategy="sma_cross",
                     params={"fast": 2, "slow": 3})

    page = owner.get(f"/portfolios/{paper.pk}/").content.decode()

    assert '<span class="big num" data-field="value">10000.00' in page
    assert '<span class="muted" data-field="pnl">not enough data yet</span>' in page
    for label in ("Sharpe ratio", "Sortino ratio", "Max drawdown", "Win rate", "Profit factor"):
        assert f"<dt>{label}</dt><dd class=\"muted\">not enough data yet</dd>" in page
    row = page.split('data-allocation-symbol="BTCUSDT"')[1].split("</tr>")[0]
    assert "400.00" in row
    assert "BTCUSDT&#x27;s allocation" in row
    assert f'<tr data-bot-id="{bot.pk}"' in page
    assert f'data-partial-url="/bots/partials/table/?portfolio={paper.pk}"' in page
    assert f'data-url="/portfolios/{paper.pk}/equity/"' in page


def test_with_snapshots_it_shows_pnl_figures_and_the_equity_curve(owner, paper):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for n, equity in enumerate(["8000", "9000", "8500", "9500"]):
        EquitySnapshot.objects.create(portfolio=paper, taken_at=start + timedelta(hours=n),
                                      equity=D(equity), cash=D(equity), positions_value=0)

    page = owner.get(f"/portfolios/{paper.pk}/").content.decode()
    curve = owner.get(f"/portfolios/{paper.pk}/equity/").json()

    assert '<span class="big num ok" data-field="pnl">2000.00</span>' in page  # live 10000
    assert '<span class="big num ok" data-field="pnl_pct">25.00 %</span>' in page
    assert "<dt>Max drawdown</dt><dd>5.56 %</dd>" in page
    assert curve["points"][0] == {"time": int(start.timestamp()), "value": 8000.0}
    assert [p["value"] for p in curve["points"]] == [8000.0, 9000.0, 8500.0, 9500.0]


@pytest.mark.parametrize("name", ["summary", "figures", "allocations"])
def test_each_partial_is_only_its_fragment(owner, paper, name):
    answer = owner.get(f"/portfolios/{paper.pk}/partials/{name}/", **HTMX)

    assert answer.status_code == 200
    assert "<html" not in answer.content.decode()
    assert f'data-partial-url="/portfolios/{paper.pk}/partials/{name}/"' in answer.content.decode()
    assert owner.get(f"/portfolios/{paper.pk}/partials/secrets/").status_code == 404


# --- the dashboard ---------------------------------------------------------------------------

def test_the_dashboard_shows_the_portfolio_its_curve_bots_orders_and_alerts(owner, trader,
                                                                          paper):
    other = Portfolio.objects.create(owner=trader, name="second")
    bot = bot_create(portfolio=paper, name="crossing", symbol="BTCUSDT", strategy="sma_cross")

    page = owner.get("/dashboard/").content.decode()
    second = owner.get("/dashboard/", {"portfolio": other.pk}).content.decode()

    assert '<span class="big num" data-field="value">10000.00' in page
    assert f'data-url="/portfolios/{paper.pk}/equity/"' in page
    assert f'<tr data-bot-id="{bot.pk}" data-status="stopped">' in page
    assert f'hx-post="/bots/{bot.pk}/start/"' in page
    assert 'name="view" value="row"' in page
    for name in ("positions", "open", "fills"):
        assert f'hx-get="/orders/partials/{name}/" hx-trigger="load"' in page
    assert '<li class="muted">No alerts</li>' in page
    assert 'href="/dashboard/"' in page  # the nav link
    assert f'data-url="/portfolios/{other.pk}/equity/"' in second
    assert '<span class="big num" data-field="value">0.00' in second


def test_the_dashboard_invites_a_new_trader_to_create_a_portfolio(owner):
    page = owner.get("/dashboard/").content.decode()

    assert 'href="/portfolios/new/"' in page
    assert "equity-chart" not in page


# --- ownership -------------------------------------------------------------------------------

def test_an_outsider_gets_a_404_on_every_page_of_the_traders_portfolio(outsider, paper):
    for url in (f"/portfolios/{paper.pk}/", f"/portfolios/{paper.pk}/edit/",
                f"/portfolios/{paper.pk}/equity/", f"/portfolios/{paper.pk}/partials/summary/",
                f"/dashboard/?portfolio={paper.pk}"):
        assert outsider.get(url).status_code == 404, url
    answer = outsider.post(f"/portfolios/{paper.pk}/edit/", portfolio_form(name="taken"))

    assert answer.status_code == 404
    paper.refresh_from_db()
    assert paper.name == "paper"


def test_the_pages_need_a_logged_in_trader(client, paper):
    for url in ("/dashboard/", "/portfolios/", "/portfolios/new/", f"/portfolios/{paper.pk}/",
                f"/portfolios/{paper.pk}/equity/"):
        assert client.get(url).url.startswith("/accounts/login/"), url
    assert client.post("/portfolios/new/", portfolio_form()).url.startswith("/accounts/login/")
    assert Portfolio.objects.count() == 1


def test_the_portfolio_page_shows_exposure_by_asset(owner, paper):
    from django.core.cache import cache

    from marketdata import live

    paper_deposit(portfolio=paper, asset="BTC", amount=D("0.5"))
    cache.set(live.ticker_key("spot", "BTCUSDT"), {"symbol": "BTCUSDT", "price": "120"})
    try:
        page = owner.get(f"/portfolios/{paper.pk}/").content.decode()
    finally:
        cache.delete(live.ticker_key("spot", "BTCUSDT"))

    assert 'data-asset="BTC"' in page
    assert "60.00000000" in page  # 0.5 BTC at 120 USDT
