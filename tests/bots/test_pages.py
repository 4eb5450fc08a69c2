"""The trader's bot pages: the form with each strategy's parameters checked in words, the
controls, the bot's page with its decisions and fills, each for the bot's owner only."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.cache import cache

from bots.models import Bot
from bots.services import bot_create, bot_start, bot_tick
from marketdata import live
from orders.models import Order
from portfolios.models import Portfolio

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}



@pytest.fixture
def bot(paper_portfolio):
    return bot_create(portfolio=paper_portfolio, name="crossing", symbol="BTCUSDT",
                      strategy="sma_cross", params={"fast": 2, "slow": 3},
                      sizing_config={"amount": "100"})


def bot_form(portfolio, **extra):
    return {"portfolio": portfolio.pk, "name": "sma fast", "symbol": "btcusdt", "interval": "1m",
            "strategy": "sma_cross", "param_fast": "2", "param_slow": "3",
            "param_stop_loss_pct": "", "param_take_profit_pct": "", "param_trailing_stop_pct": "",
            "sizing": "fixed_quote", "sizing_amount": "50", "sizing_fraction": "",
            "sizing_risk_fraction": "", **extra}


def field_row(html: str, name: str) -> str:
    """The form row of one field, where its error is shown."""
    return html.split(f'data-field-row="{name}"')[1].split('<div class="form-row"')[0]


def closing(candle):
    return candle + timedelta(minutes=1, seconds=1)


# --- the form --------------------------------------------------------------------------------

def test_the_form_offers_own_portfolios_the_strategies_and_the_chosen_ones_parameters(
        owner, paper_portfolio, other_trader):
    Portfolio.objects.create(owner=other_trader, name="not-yours")

    page = owner.get("/bots/new/").content.decode()

    assert f'<option value="{paper_portfolio.pk}">paper bots' in page
    assert "not-yours" not in page
    assert '<option value="ema_cross">EMA crossover</option>' in page
    assert '<option value="sma_cross" selected>SMA crossover</option>' in page
    fast = field_row(page, "param_fast")
    assert 'type="number" name="param_fast" value="10" step="1"' in fast
    assert 'min="2" max="100"' in fast
    assert "Bars in the slow moving average; must be more than fast." in page
    assert 'hx-get="/bots/parameters/"' in page
    for setting in ("sizing_amount", "sizing_fraction", "sizing_risk_fraction"):
        assert f'data-field-row="{setting}"' in page


def test_choosing_another_strategy_renders_its_parameter_fields(owner, paper_portfolio):
    answer = owner.get("/bots/parameters/", {"strategy": "grid"}, **HTMX)

    html = answer.content.decode()
    assert answer.status_code == 200
    assert "<html" not in html
    assert 'id="strategy-parameters"' in html
    for name in ("lower_price", "upper_price", "levels", "order_quantity"):
        assert f'name="param_{name}"' in html
    assert "param_fast" not in html
    assert owner.get("/bots/parameters/", {"strategy": "nope"}).status_code == 404


def test_a_trader_creates_a_bot_through_the_form(owner, paper_portfolio):
    answer = owner.post("/bots/new/", bot_form(paper_portfolio))

    bot = Bot.objects.get()
    assert answer.status_code == 302
    assert answer.url == f"/bots/{bot.pk}/"
    assert (bot.portfolio, bot.name, bot.symbol, bot.strategy) == (
        paper_portfolio, "sma fast", "BTCUSDT", "sma_cross")
    assert bot.params == {"fast": 2, "slow": 3, "stop_loss_pct": "0", "take_profit_pct": "0",
                          "trailing_stop_pct": "0"}
    assert (bot.sizing, bot.sizing_config) == ("fixed_quote", {"amount": "50"})
    assert bot.status == Bot.Status.STOPPED


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"param_fast": "30", "param_slow": "10"}, "param_fast", "fast must be smaller than slow"),
    ({"param_fast": "1"}, "param_fast", "fast must be at least 2"),
    ({"param_slow": "ten"}, "param_slow", "slow must be a whole number"),
    ({"param_stop_loss_pct": "120"}, "param_stop_loss_pct", "stop_loss_pct must be at most 99"),
    ({"strategy": "grid", "param_levels": "5"}, "param_lower_price", "lower_price is required"),
    ({"symbol": "NOPEUSDT"}, "symbol", "NOPEUSDT is not a known spot symbol."),
    ({"sizing": "allocation_fraction", "sizing_fraction": "2"}, "sizing_fraction",
     "fraction must be above 0 and at most 1, got 2"),
    ({"sizing": "risk_per_trade", "sizing_risk_fraction": "0.01"}, "param_stop_loss_pct",
     "Sizing by risk per trade needs a stop loss"),
    ({"sizing_amount": ""}, "sizing_amount", "Give this setting for the chosen sizing method."),
])
def test_invalid_settings_are_refused_in_words_next_to_their_field(owner, paper_portfolio,
                                                                   fields, field, words):
    answer = owner.post("/bots/new/", bot_form(paper_portfolio, **fields))

    assert answer.status_code == 400
    assert words in field_row(answer.content.decode(), field)
    assert not Bot.objects.exists()


def test_a_bots_name_is_unique_in_its_portfolio(owner, paper_portfolio, bot):
    answer = owner.post("/bots/new/", bot_form(paper_portfolio, name="crossing"))

    assert answer.status_code == 400
    assert "paper bots already has a bot named crossing." in answer.content.decode()


def test_a_bot_cannot_be_created_in_someone_elses_portfolio(outsider, paper_portfolio):
    answer = outsider.post("/bots/new/", bot_form(paper_portfolio))

    assert answer.status_code == 400
    assert "Select a valid choice" in answer.content.decode()
    assert not Bot.objects.exists()


# --- controls --------------------------------------------------------------------------------

def control(client, bot, action, **fields):
    return client.post(f"/bots/{bot.pk}/{action}/", fields, **HTMX)


def test_the_controls_start_pause_resume_and_stop_the_bot(owner, bot):
    started = control(owner, bot, "start").content.decode()
    assert Bot.objects.get().status == Bot.Status.RUNNING
    assert 'id="bot-status-card"' in started
    assert "<html" not in started
    assert 'data-control="pause"' in started
    assert 'data-control="start"' not in started

    paused = control(owner, bot, "pause").content.decode()
    assert Bot.objects.get().status == Bot.Status.PAUSED
    assert "paused by its owner" in paused

    control(owner, bot, "resume")
    assert Bot.objects.get().status == Bot.Status.RUNNING

    stopped = control(owner, bot, "stop").content.decode()
    assert Bot.objects.get().status == Bot.Status.STOPPED
    assert 'data-control="start"' in stopped
    assert 'id="bot-edit-link"' in stopped


def test_a_control_that_does_not_apply_says_why(owner, bot):
    answer = control(owner, bot, "resume")

    assert "A stopped bot cannot be told to resume." in answer.content.decode()
    assert Bot.objects.get().status == Bot.Status.STOPPED


def test_a_control_from_a_table_answers_with_the_bots_row(owner, bot):
    answer = control(owner, bot, "start", view="row")

    html = answer.content.decode()
    assert html.lstrip().startswith(f'<tr data-bot-id="{bot.pk}" data-status="running">')
    assert 'hx-target="closest tr"' in html


def test_without_htmx_a_control_redirects_back(owner, bot):
    answer = owner.post(f"/bots/{bot.pk}/start/", {"next": "/dashboard/"})
    refused = owner.post(f"/bots/{bot.pk}/start/", {"next": "https://evil.example/"})

    assert answer.status_code == 302
    assert answer.url == "/dashboard/"
    assert refused.url == f"/bots/{bot.pk}/"
    assert "A running bot cannot be told to start." in owner.get(refused.url).content.decode()


def test_controls_take_only_posts(owner, bot):
    for action in ("start", "pause", "resume", "stop"):
        assert owner.get(f"/bots/{bot.pk}/{action}/").status_code == 405
    assert Bot.objects.get().status == Bot.Status.STOPPED


def test_stopping_with_close_asks_first_then_sells_what_the_bot_holds(owner, bot,
                                                                     crossing_candle):
    bot_start(bot=bot)
    bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle, now=closing(crossing_candle))

    page = owner.get(f"/bots/{bot.pk}/").content.decode()
    confirm = owner.get(f"/bots/{bot.pk}/close/").content.decode()
    answer = control(owner, bot, "stop", close_position="1")

    assert "hx-confirm=" in page
    assert 'data-control="stop-close"' in page
    assert 'name="close_position" value="1"' in confirm
    assert "sold at market" in confirm
    assert Bot.objects.get().status == Bot.Status.STOPPED
    bought, sold = Order.objects.get(bot=bot, tag="entry"), Order.objects.get(bot=bot, tag="close")
    assert (sold.side, sold.status) == ("SELL", "FILLED")
    assert D("0") < bought.executed_qty - sold.executed_qty < D("0.001")  # the fee, and dust
    assert 'data-status="stopped"' in answer.content.decode()


# --- the bot's page --------------------------------------------------------------------------

def test_the_bot_page_shows_status_parameters_chart_and_decisions(owner, bot, crossing_candle):
    bot_start(bot=bot)
    decision = bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle,
                        now=closing(crossing_candle))
    order = Order.objects.get(bot=bot)

    page = owner.get(f"/bots/{bot.pk}/").content.decode()

    assert 'id="bot-status" class="badge status bot-status-running"' in page
    assert '<dt title="Bars in the fast moving average.">fast</dt><dd class="mono">2</dd>' in page
    assert f'data-url="/bots/{bot.pk}/chart-data/"' in page
    assert f'data-decision-id="{decision.pk}" data-outcome="enter"' in page
    assert "SMA(2) 110.5 crossed above SMA(3) 107.66667" in page
    assert f'href="/orders/{order.pk}/"' in page
    assert "order filled" in page


def test_the_chart_data_has_the_candles_and_an_arrow_per_fill(owner, bot, crossing_candle):
    bot_start(bot=bot)
    bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle, now=closing(crossing_candle))
    control(owner, bot, "stop", close_position="1")
    buy, sell = (Order.objects.get(bot=bot, side=side) for side in ("BUY", "SELL"))

    data = owner.get(f"/bots/{bot.pk}/chart-data/").json()

    assert len(data["candles"]) == 11
    assert data["candles"][-1]["time"] == int(crossing_candle.timestamp())
    arrows = {m["side"]: m for m in data["markers"]}
    assert (arrows["BUY"]["position"], arrows["BUY"]["shape"]) == ("belowBar", "arrowUp")
    assert (arrows["SELL"]["position"], arrows["SELL"]["shape"]) == ("aboveBar", "arrowDown")
    fill_time = buy.fills.first().executed_at.replace(second=0, microsecond=0)
    assert arrows["BUY"]["time"] == int(fill_time.timestamp())
    assert arrows["BUY"]["id"] == str(buy.pk)
    assert arrows["SELL"]["id"] == str(sell.pk)
    assert D(arrows["BUY"]["quantity"]) == buy.executed_qty
    assert arrows["BUY"]["text"].startswith("entry ")


def test_a_refused_entry_is_logged_with_the_reason_in_words(owner, bot, crossing_candle):
    bot_start(bot=bot)
    cache.delete(live.status_key("spot"))
    bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle, now=closing(crossing_candle))

    html = owner.get(f"/bots/{bot.pk}/partials/decisions/", **HTMX).content.decode()

    assert "<html" not in html
    assert 'data-outcome="refused"' in html
    assert "refused: entries paused: BTCUSDT&#x27;s market data is stale" in html


def test_the_decision_log_shows_the_newest_fifty_per_page(owner, bot):
    base = bot.created_at.replace(second=0, microsecond=0)
    for n in range(55):
        bot.decisions.create(candle_open_time=base + timedelta(minutes=n), reason=f"tick {n}")

    first = owner.get(f"/bots/{bot.pk}/").content.decode()
    second = owner.get(f"/bots/{bot.pk}/partials/decisions/", {"page": 2}).content.decode()

    assert first.count("data-decision-id") == 50
    assert first.index("tick 54") < first.index("tick 53")
    assert "tick 4<" not in first
    assert second.count("data-decision-id") == 5
    assert "tick 4<" in second


# --- edit ------------------------------------------------------------------------------------

def test_a_stopped_bot_is_edited_through_the_form(owner, bot, paper_portfolio):
    page = owner.get(f"/bots/{bot.pk}/edit/").content.decode()
    assert 'name="param_fast" value="2"' in page

    answer = owner.post(f"/bots/{bot.pk}/edit/", bot_form(
        paper_portfolio, name="crossing", strategy="ema_cross", param_fast="5",
        param_slow="20"))

    bot.refresh_from_db()
    assert answer.status_code == 302
    assert (bot.strategy, bot.params["fast"], bot.params["slow"]) == ("ema_cross", 5, 20)
    assert bot.sizing_config == {"amount": "50"}


def test_an_edit_is_checked_in_words_too(owner, bot, paper_portfolio):
    answer = owner.post(f"/bots/{bot.pk}/edit/", bot_form(
        paper_portfolio, name="crossing", param_fast="9", param_slow="4"))

    assert answer.status_code == 400
    assert "fast must be smaller than slow" in field_row(answer.content.decode(), "param_fast")
    bot.refresh_from_db()
    assert bot.params["fast"] == 2


def test_a_running_bot_cannot_be_edited(owner, bot, paper_portfolio):
    bot_start(bot=bot)

    page = owner.get(f"/bots/{bot.pk}/edit/").content.decode()
    answer = owner.post(f"/bots/{bot.pk}/edit/", bot_form(paper_portfolio, param_fast="5"))

    assert "crossing is running: stop it to edit its settings." in page
    assert 'id="bot-form"' not in page
    assert answer.status_code == 409
    bot.refresh_from_db()
    assert bot.params["fast"] == 2


# --- lists and ownership ---------------------------------------------------------------------

def test_the_bots_list_and_table_show_the_traders_bots_with_controls(owner, outsider, bot):
    page = owner.get("/bots/").content.decode()
    table = owner.get("/bots/partials/table/", {"portfolio": bot.portfolio_id},
                      **HTMX).content.decode()

    for html in (page, table):
        assert f'<tr data-bot-id="{bot.pk}" data-status="stopped">' in html
        assert f'hx-post="/bots/{bot.pk}/start/"' in html
    assert f'data-partial-url="/bots/partials/table/?portfolio={bot.portfolio_id}"' in table
    assert 'href="/bots/"' in page  # the nav link
    assert "crossing" not in outsider.get("/bots/").content.decode()


def test_an_outsider_gets_a_404_on_every_page_and_control_of_the_traders_bot(outsider, bot):
    pages = [f"/bots/{bot.pk}/", f"/bots/{bot.pk}/edit/", f"/bots/{bot.pk}/chart-data/",
             f"/bots/{bot.pk}/partials/status/", f"/bots/{bot.pk}/partials/decisions/",
             f"/bots/{bot.pk}/close/",
             f"/bots/parameters/?strategy=sma_cross&bot={bot.pk}",
             f"/bots/partials/table/?portfolio={bot.portfolio_id}"]
    for url in pages:
        assert outsider.get(url).status_code == 404, url
    for action in ("start", "pause", "resume", "stop"):
        assert outsider.post(f"/bots/{bot.pk}/{action}/", **HTMX).status_code == 404, action
    assert outsider.post(f"/bots/{bot.pk}/edit/", bot_form(bot.portfolio)).status_code == 404
    bot.refresh_from_db()
    assert (bot.status, bot.params["fast"]) == (Bot.Status.STOPPED, 2)


def test_the_pages_need_a_logged_in_trader(client, bot):
    for url in ("/bots/", "/bots/new/", f"/bots/{bot.pk}/", f"/bots/{bot.pk}/chart-data/",
                "/bots/parameters/?strategy=sma_cross", "/bots/partials/table/"):
        assert client.get(url).url.startswith("/accounts/login/"), url
    assert client.post(f"/bots/{bot.pk}/start/").url.startswith("/accounts/login/")
    assert Bot.objects.get().status == Bot.Status.STOPPED
