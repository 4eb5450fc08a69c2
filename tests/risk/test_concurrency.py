"""Many bots deciding at once cannot push a portfolio past a limit: the pre-trade check reads
the books and admits the order under the portfolio's row lock."""

from decimal import Decimal as D

import pytest

from bots.models import BotDecision
from orders.models import Order
from risk.models import RiskLimit
from risk.services import exposure_by_symbol
from tests.bots.test_ticks import sma_bot, ticks_at_once

pytestmark = pytest.mark.django_db(transaction=True)
BOTS = 8


@pytest.mark.parametrize(("limit", "cap"), [
    ({"max_position_notional": D("350")}, D("350")),
    ({"max_total_exposure": D("250")}, D("250")),
])
def test_bots_ticking_at_once_stay_within_the_limit(paper_portfolio, crossing_candle, limit,
                                                     cap):
    RiskLimit.objects.create(portfolio=paper_portfolio, **limit)
    bots = [sma_bot(paper_portfolio, f"bot-{n}", amount="100") for n in range(BOTS)]

    decisions = ticks_at_once(bots, crossing_candle)

    exposure = exposure_by_symbol(paper_portfolio)["BTCUSDT"]  # held, at 120 (nothing open)
    assert cap - D("1") < exposure <= cap  # filled up to the limit, never past it
    assert not Order.objects.filter(portfolio=paper_portfolio).open().exists()
    entered = [d for d in decisions if d.outcome == BotDecision.Outcome.ENTER]
    refused = [a["refused"] for d in decisions for a in d.actions if "refused" in a]
    assert len(entered) + len(refused) == BOTS
    assert refused
    assert all("risk: max" in words for words in refused)
