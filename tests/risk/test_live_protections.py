"""Protections in the live path: closed trades (from the books' fills) lock a symbol or the
whole portfolio, and the pre-trade check refuses entries while a lock holds, in words."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from orders.services import OrderRefused, order_place
from portfolios.models import EquitySnapshot, Portfolio
from risk.models import RiskProtection
from risk.services import closed_trades
from tests.bots.conftest import market_is_live
from tests.risk.conftest import buy

pytestmark = pytest.mark.django_db


def stopped_out(portfolio, tag="stop_loss"):
    """Buy BTCUSDT at 120, then sell it at 100 tagged as the bot's stop would."""
    order_place(portfolio=portfolio, symbol="BTCUSDT", side="BUY", order_type="MARKET",
                quote_quantity=D("120"))
    market_is_live("BTCUSDT", "100")
    held = portfolio.balances.get(asset="BTC").free
    order_place(portfolio=portfolio, symbol="BTCUSDT", side="SELL", order_type="MARKET",
                quantity=held, tag=tag)


CASES = [
    ("StoplossGuard", {"trade_limit": 1, "lookback_minutes": 60, "stop_duration_minutes": 30},
     "stop_loss", {"BTCUSDT": "1 stop-loss across all symbols", "ETHUSDT": "every symbol"}),
    ("StoplossGuard", {"trade_limit": 1, "only_per_symbol": True, "stop_duration_minutes": 30},
     "trailing_stop", {"BTCUSDT": "1 stop-loss on BTCUSDT", "ETHUSDT": None}),
    ("StoplossGuard", {"trade_limit": 2}, "stop_loss", {"BTCUSDT": None, "ETHUSDT": None}),
    ("StoplossGuard", {"trade_limit": 1}, "exit", {"BTCUSDT": None, "ETHUSDT": None}),
    ("CooldownPeriod", {"stop_duration_minutes": 30}, "exit",
     {"BTCUSDT": "cooldown 30 min", "ETHUSDT": None}),
    ("LowProfitPairs", {"trade_limit": 1, "required_profit_pct": "0"}, "take_profit",
     {"BTCUSDT": "BTCUSDT made -16.", "ETHUSDT": None}),
    ("LowProfitPairs", {"trade_limit": 1, "required_profit_pct": "-20"}, "exit",
     {"BTCUSDT": None, "ETHUSDT": None}),
]


@pytest.mark.parametrize(("kind", "params", "exit_tag", "expected"), CASES)
def test_each_protection_locks_what_it_should(book, trader, kind, params, exit_tag, expected):
    stopped_out(book, exit_tag)
    RiskProtection.objects.create(owner=trader, portfolio=book, kind=kind, params=params)
    market_is_live("ETHUSDT", "60")
    market_is_live("BTCUSDT", "100")

    for symbol, words in expected.items():
        if words is None:
            assert buy(book, symbol).risk_check == "approve"
            continue
        with pytest.raises(OrderRefused) as refused:
            buy(book, symbol)
        assert f"risk: {kind}: " in str(refused.value)
        assert words in str(refused.value)


def test_max_drawdown_locks_the_portfolio_from_the_equity_curve(book, trader):
    now = timezone.now()
    EquitySnapshot.objects.create(portfolio=book, taken_at=now - timedelta(minutes=10),
                                  equity=D("11000"), cash=D("11000"), positions_value=D(0))
    EquitySnapshot.objects.create(portfolio=book, taken_at=now - timedelta(minutes=1),
                                  equity=D("10000"), cash=D("10000"), positions_value=D(0))
    RiskProtection.objects.create(owner=trader, portfolio=book, kind="MaxDrawdown",
                                  params={"max_drawdown_pct": "5", "lookback_minutes": 60,
                                          "stop_duration_minutes": 60})

    with pytest.raises(OrderRefused, match=r"MaxDrawdown: equity fell 9\.09% \(from 11000 to "
                                           r"10000\)"):
        buy(book)


def test_a_protection_for_all_portfolios_applies_and_anothers_does_not(book, trader,
                                                                       other_trader):
    stopped_out(book)
    theirs = Portfolio.objects.create(owner=other_trader, name="theirs")
    RiskProtection.objects.create(owner=other_trader, portfolio=theirs, kind="CooldownPeriod")
    market_is_live("BTCUSDT", "100")
    assert buy(book).risk_check == "approve"

    RiskProtection.objects.create(owner=trader, kind="CooldownPeriod")
    with pytest.raises(OrderRefused, match="CooldownPeriod"):
        buy(book)


def test_a_disabled_protection_locks_nothing(book, trader):
    stopped_out(book)
    RiskProtection.objects.create(owner=trader, portfolio=book, kind="CooldownPeriod",
                                  enabled=False)
    market_is_live("BTCUSDT", "100")

    assert buy(book).risk_check == "approve"


def test_closed_trades_come_from_the_fills_with_profit_and_exit_reason(book):
    stopped_out(book)

    [trade] = closed_trades(book)

    assert (trade.symbol, trade.exit_reason) == ("BTCUSDT", "stop_loss")
    # Bought 120 of BTC at 120 (fee 0.1 % in BTC), sold at 100 (fee 0.1 % in USDT).
    assert D("-17") < trade.profit_pct < D("-16.6")
