"""Every limit in the live path: an order through `order_create` is approved, reduced to the
largest size that fits, or refused with the rule and the numbers, and the verdict is stored
with the order. Exits are never blocked by entry limits."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from django.core.cache import cache
from django.utils import timezone

from marketdata import live
from marketdata.models import Kline
from orders.models import Order
from orders.services import OrderRefused, order_create, order_place
from portfolios.models import EquitySnapshot, Portfolio
from risk.models import EntryBlock, RiskLimit
from tests.risk.conftest import buy

pytestmark = pytest.mark.django_db


def hold(portfolio, symbol="BTCUSDT", quote="120"):
    """Fill a paper buy before any limit exists: 0.999 BTC (the fee is 0.1 %), 119.88 USDT."""
    return order_place(portfolio=portfolio, symbol=symbol, side="BUY", order_type="MARKET",
                       quote_quantity=D(quote))


def snapshot(portfolio, equity, at):
    EquitySnapshot.objects.create(portfolio=portfolio, taken_at=at, equity=D(equity),
                                  cash=D(equity), positions_value=D(0))


def yesterday():
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=1)


def correlated_history(*symbols):
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for symbol in symbols:
        for n in range(30):
            close = D(100 + (n % 5) * 3 + n)  # the same wiggle: correlation 1
            opened = start + timedelta(hours=n)
            Kline.objects.create(market="spot", symbol=symbol, interval="1h", open_time=opened,
                                 close_time=opened + timedelta(minutes=59), open=close,
                                 high=close, low=close, close=close, volume=D(1))


def set_up(portfolio, what):
    if "held" in what:
        hold(portfolio)
    if "lost_200_today" in what:
        snapshot(portfolio, "10200", yesterday())
    if "peak_11000" in what:
        snapshot(portfolio, "11000", yesterday() - timedelta(days=3))
    if "correlated" in what:
        correlated_history("BTCUSDT", "ETHUSDT")
    if "two_orders" in what:
        for _ in range(2):
            order_create(portfolio=portfolio, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                         quantity=D("0.2"), price=D("100"))


# (limit, set-up, the order, action, what is left of it, words in the verdict)
CASES = [
    ({"max_order_notional": "50"}, "", {}, "reduce", ("quote", "50"),
     "max order notional is 50 USDT, so this buy was reduced from 100 to 50"),
    ({"max_order_notional": "50"}, "", {"limit": ("1", "100")}, "reduce", ("qty", "0.5"),
     "reduced from 100 to 50"),
    ({"max_order_notional": "500"}, "", {}, "approve", ("quote", "100"),
     "within every limit"),
    ({"max_position_notional": "150"}, "held", {}, "reduce", ("quote", "30.12"),
     "max position notional for BTCUSDT is 150 USDT; 119.88 is held, so this buy was reduced "
     "from 100 to 30.12"),
    ({"max_position_notional": "100"}, "held", {}, "reject", None,
     "max position notional for BTCUSDT is 100 USDT; 119.88 is held, so this buy of 100 was "
     "rejected"),
    ({"max_open_positions": 1}, "held", {"symbol": "ETHUSDT"}, "reject", None,
     "max open positions is 1; 1 are open (BTCUSDT) and ETHUSDT is not one of them"),
    ({"max_open_positions": 1}, "held", {}, "approve", ("quote", "100"), "within every limit"),
    ({"max_total_exposure": "200"}, "held", {"symbol": "ETHUSDT"}, "reduce", ("quote", "80.12"),
     "max total exposure is 200 USDT; 119.88 is open across all symbols"),
    ({"max_orders_per_minute": 2}, "two_orders", {}, "reject", None,
     "max orders per minute is 2; 2 were sent in the last minute"),
    ({"max_daily_loss": "100"}, "lost_200_today", {}, "reject", None,
     "max daily loss is 100 USDT; 200 has been lost today (10200 at the day's start, 10000 "
     "now)"),
    ({"max_daily_loss": "300"}, "lost_200_today", {}, "approve", ("quote", "100"),
     "within every limit"),
    ({"max_daily_loss_pct": "1"}, "lost_200_today", {}, "reject", None,
     "1.96% (200) has been lost today"),
    ({"max_drawdown_pct": "5"}, "peak_11000", {}, "reject", None,
     "max drawdown is 5% from the equity peak of 11000 USDT; equity is 10000, 9.09% below it"),
    ({"max_correlated_exposure": "150"}, "held correlated", {"symbol": "ETHUSDT"}, "reduce",
     ("quote", "30.12"),
     "119.88 is held in ETHUSDT and BTCUSDT (returns correlated at 0.8 or more)"),
    ({"max_correlated_exposure": "150", "correlation_threshold": "0.8"}, "held",
     {"symbol": "ETHUSDT"}, "approve", ("quote", "100"), "within every limit"),
    ({"min_free_balance": "9950"}, "", {}, "reduce", ("quote", "50"),
     "min free balance is 9950 USDT; 10000 is free"),
    ({"min_free_balance": "10000"}, "", {}, "reject", None,
     "min free balance is 10000 USDT; 10000 is free, so this buy of 100 was rejected"),
]


@pytest.mark.parametrize(("limit", "setup", "order", "action", "left", "words"), CASES)
def test_each_limit_approves_reduces_or_rejects_an_entry(book, trader, limit, setup, order,
                                                         action, left, words):
    set_up(book, setup)
    RiskLimit.objects.create(portfolio=book, **limit)
    symbol = order.get("symbol", "BTCUSDT")

    if action == "reject":
        with pytest.raises(OrderRefused) as refused:
            _entry(book, symbol, order)
        assert str(refused.value).startswith("risk: ")
        assert words in str(refused.value)
        return
    placed = _entry(book, symbol, order)
    assert placed.risk_check == action
    assert words in placed.risk_note
    kind, amount = left
    assert (placed.quote_quantity if kind == "quote" else placed.quantity) == D(amount)


def _entry(portfolio, symbol, order):
    if "limit" in order:
        quantity, price = order["limit"]
        return order_create(portfolio=portfolio, symbol=symbol, side="BUY", order_type="LIMIT",
                            quantity=D(quantity), price=D(price))
    return buy(portfolio, symbol)


def test_exits_pass_every_entry_limit_and_block(book):
    hold(book)
    snapshot(book, "20000", yesterday())  # a daily loss of half the account
    RiskLimit.objects.create(portfolio=book, max_order_notional=D("1"), max_daily_loss=D("1"),
                             max_orders_per_minute=0, min_free_balance=D("1000000"))
    EntryBlock.objects.create(portfolio=book, source=EntryBlock.Source.BREACH, reason="test")

    with pytest.raises(OrderRefused, match="entries are blocked"):
        buy(book)
    held = book.balances.get(asset="BTC").free
    exit_order = order_create(portfolio=book, symbol="BTCUSDT", side="SELL",
                              order_type="MARKET", quantity=held)

    assert exit_order.risk_check == "exit"
    assert "reduces a position" in exit_order.risk_note


def test_an_entry_without_a_price_is_refused_only_when_limits_apply(book):
    cache.delete(live.ticker_key("spot", "BTCUSDT"))
    unpriced = {"portfolio": book, "symbol": "BTCUSDT", "side": "BUY", "order_type": "MARKET",
                "quantity": D("0.1")}

    assert order_create(**unpriced).risk_check == "approve"
    RiskLimit.objects.create(portfolio=book, max_order_notional=D("50"))
    with pytest.raises(OrderRefused, match="no price to value this order at"):
        order_create(**unpriced)


def test_a_reduction_below_the_exchanges_minimum_is_refused_in_words(book):
    RiskLimit.objects.create(portfolio=book, max_order_notional=D("0.5"))

    with pytest.raises(OrderRefused, match="what is left is too small to trade"):
        buy(book)


SCOPES = [
    ("global", {}, True),
    ("this user", {"owner": "trader"}, True),
    ("another user", {"owner": "other"}, False),
    ("this portfolio", {"portfolio": "book"}, True),
    ("this symbol", {"symbol": "BTCUSDT"}, True),
    ("another symbol", {"symbol": "ETHUSDT"}, False),
    ("this symbol in another portfolio", {"symbol": "BTCUSDT", "portfolio": "other"}, False),
]


@pytest.mark.parametrize(("name", "scope", "applies"), SCOPES)
def test_a_limit_applies_within_its_scope(book, trader, other_trader, name, scope, applies):
    other_portfolio = Portfolio.objects.create(owner=other_trader, name="theirs")
    objects = {"trader": trader, "other": other_trader, "book": book,
               "other_portfolio": other_portfolio}
    fields = {key: objects.get(value, value) if key != "portfolio"
              else (book if value == "book" else other_portfolio)
              for key, value in scope.items()}
    RiskLimit.objects.create(max_order_notional=D("50"), **fields)

    assert buy(book).risk_check == ("reduce" if applies else "approve")


def test_the_tightest_of_several_scopes_wins(book, trader):
    RiskLimit.objects.create(max_order_notional=D("80"))
    RiskLimit.objects.create(owner=trader, max_order_notional=D("60"))
    RiskLimit.objects.create(portfolio=book, symbol="BTCUSDT", max_order_notional=D("70"))

    assert buy(book).quote_quantity == D("60")


def test_a_bot_limit_binds_the_bots_orders_only(book):
    from bots.services import bot_create

    bot = bot_create(portfolio=book, name="b", symbol="BTCUSDT", strategy="sma_cross",
                     params={"fast": 2, "slow": 3})
    RiskLimit.objects.create(bot=bot, max_order_notional=D("40"))

    assert buy(book).quote_quantity == D("100")
    assert buy(book, bot=bot, source=Order.Source.BOT).quote_quantity == D("40")



@pytest.mark.parametrize(("leverage", "refused"), [(3, False), (5, False), (10, True)])
def test_max_leverage_refuses_a_futures_entry_at_a_higher_setting(book, leverage, refused):
    from orders.models import FuturesSetting
    from risk.services import RiskRefused, pretrade_check

    FuturesSetting.objects.create(portfolio=book, symbol="BTCUSDT", leverage=leverage)
    RiskLimit.objects.create(portfolio=book, max_leverage=D("5"))
    check = {"portfolio": book, "symbol": "BTCUSDT", "side": "BUY", "market": "futures",
             "notional": D("100"), "reduces_position": False,
             "leverage": D(leverage)}

    if refused:
        with pytest.raises(RiskRefused, match="max leverage is 5x; this buy asks for 10x"):
            pretrade_check(**check)
    else:
        assert pretrade_check(**check).action == "approve"
