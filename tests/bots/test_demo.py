"""seed_demo: a new user's paper portfolio and two stopped bots, once."""

from decimal import Decimal as D

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from bots.models import Bot
from orders.models import Balance
from portfolios.models import Portfolio

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(local_binance, settings):
    settings.BINANCE_MARKET_DATA_VENUE = local_binance.rest_url
    return get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-12345678")


def test_seed_demo_creates_a_funded_paper_portfolio_with_two_stopped_bots(admin_user):
    call_command("seed_demo")

    portfolio = Portfolio.objects.get(owner=admin_user)
    assert (portfolio.mode, portfolio.total_budget) == ("paper", D("10000"))
    assert Balance.objects.get(portfolio=portfolio, asset="USDT").free == D("10000")
    assert {a.symbol: a.allocated_budget for a in portfolio.allocations.all()} == {
        "BTCUSDT": D("5000"), "ETHUSDT": D("5000")}
    bots = Bot.objects.filter(portfolio=portfolio)
    assert sorted(b.strategy for b in bots) == ["rsi_reversion", "sma_cross"]
    assert {b.status for b in bots} == {Bot.Status.STOPPED}


def test_seed_demo_twice_changes_nothing_and_first_start_skips_a_used_platform(admin_user):
    call_command("seed_demo")
    call_command("seed_demo")
    call_command("seed_demo", "--first-start")

    assert Portfolio.objects.count() == 1
    assert Bot.objects.count() == 2
    assert Balance.objects.get(asset="USDT").free == D("10000")
