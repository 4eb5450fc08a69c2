"""The demo a new user starts from: a paper portfolio of 10,000 USDT with BTCUSDT and ETHUSDT
allocations and two stopped bots, ready to start."""

from decimal import Decimal

from django.db import transaction

from bots.models import Bot
from bots.services import bot_create
from marketdata.models import Symbol
from marketdata.services import symbols_sync
from marketdata.venues import market_data_venue
from orders.services import paper_deposit
from portfolios.models import Portfolio

NAME = "Demo (paper)"
STARTING_BALANCE = Decimal("10000")
ALLOCATIONS = {"BTCUSDT": Decimal("5000"), "ETHUSDT": Decimal("5000")}
BOTS = [
    {"name": "BTC trend (SMA 10/30)", "symbol": "BTCUSDT", "strategy": "sma_cross",
     "params": {"fast": 10, "slow": 30}},
    {"name": "ETH mean reversion (RSI 14)", "symbol": "ETHUSDT", "strategy": "rsi_reversion",
     "params": {}},
]


def ensure_symbols() -> None:
    """Bots need the symbols' rules: fetch them once if this database has none yet."""
    if not Symbol.objects.filter(market="spot", name__in=list(ALLOCATIONS)).exists():
        symbols_sync(market="spot", venue=market_data_venue())


@transaction.atomic
def demo_seed(*, owner) -> tuple[Portfolio, bool]:
    """Create the demo for `owner`, once; returns (portfolio, whether it was created now)."""
    existing = Portfolio.objects.filter(owner=owner, name=NAME).first()
    if existing is not None:
        return existing, False
    portfolio = Portfolio.objects.create(owner=owner, name=NAME, total_budget=STARTING_BALANCE)
    paper_deposit(portfolio=portfolio, asset="USDT", amount=STARTING_BALANCE)
    for symbol, amount in ALLOCATIONS.items():
        portfolio.allocations.create(symbol=symbol, allocated_budget=amount)
    for spec in BOTS:
        bot_create(portfolio=portfolio, interval="1m", sizing=Bot.Sizing.FIXED_QUOTE,
                   sizing_config={"amount": "500"}, **spec)
    return portfolio, True
