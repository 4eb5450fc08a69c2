"""The emergency stop against the local Binance: entries blocked first, bots paused, every open
order cancelled (retried while Binance fails, reported when it keeps failing), positions closed
once, and a step recorded for each. "Once" is counted in the fake's request log."""

import re
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal as D
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connections

from bots.models import Bot
from bots.services import bot_create, bot_start
from marketdata import live
from marketdata.exchange.gateway import reset_venue_state
from marketdata.services import symbols_sync
from orders.models import Order, OrderStatus, Position
from orders.services import (
    OrderRefused,
    order_create,
    order_place,
    order_submit,
    paper_deposit,
)
from portfolios.models import Portfolio
from risk.emergency import CLOSE_TAG, emergency_stop, emergency_stops_continue, entries_resume
from risk.models import EmergencyStop, EmergencyStopStep, EntryBlock

pytestmark = pytest.mark.django_db(transaction=True)
S = OrderStatus
Step = EmergencyStopStep
Kind, Outcome = Step.Kind, Step.Outcome
OVERLOADED = {"status": 503, "code": -1008,
              "msg": "Server is currently overloaded with other requests. Please try again."}


# --- portfolios --------------------------------------------------------------------------------

@pytest.fixture
def paper_portfolio(trader, local_venue):
    symbols_sync(market="spot", venue=local_venue)
    portfolio = Portfolio.objects.create(owner=trader, name="paper", total_budget=D("5000"))
    paper_deposit(portfolio=portfolio, asset="USDT", amount=D("10000"))
    cache.set(live.status_key("spot"), {"updated_at": time.time(), "connected": True,
                                        "symbols": {"BTCUSDT": {"stale": False}}})
    cache.set(live.ticker_key("spot", "BTCUSDT"),
              {"symbol": "BTCUSDT", "price": "30000", "bid": "30000", "ask": "30000"})
    yield portfolio
    cache.delete_many([live.status_key("spot"), live.ticker_key("spot", "BTCUSDT")])


# --- orders and bots ---------------------------------------------------------------------------

def market(portfolio, side, qty, **fields):
    return order_place(portfolio=portfolio, symbol="BTCUSDT", side=side, order_type="MARKET",
                       quantity=D(qty), **fields)


def resting_buy(portfolio, price, qty="0.01"):
    return order_place(portfolio=portfolio, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                       quantity=D(qty), price=D(price), time_in_force="GTC")


def below_market(local_binance, fraction="0.9"):
    return (local_binance.price("BTCUSDT") * D(fraction)).quantize(D("0.01"))


def running_bot(portfolio, name="sma"):
    bot = bot_create(portfolio=portfolio, name=name, symbol="BTCUSDT", strategy="sma_cross",
                     params={"fast": 2, "slow": 3})
    return bot_start(bot=bot)


def steps(stop, kind=None):
    rows = stop.steps.filter(kind=kind) if kind else stop.steps.all()
    return [(step.outcome, step.order_id) for step in rows]


def deletes(local_binance, order):
    return local_binance.requests("DELETE", "/api/v3/order",
                                  origClientOrderId=order.client_order_id)


def posts(local_binance, order, path="/api/v3/order"):
    return local_binance.requests("POST", path, newClientOrderId=order.client_order_id)


# --- the stop ----------------------------------------------------------------------------------

def test_a_paper_stop_blocks_entries_pauses_bots_and_cancels_orders_but_lets_exits_through(
        paper_portfolio, trader):
    bot = running_bot(paper_portfolio)
    bot_create(portfolio=paper_portfolio, name="idle", symbol="BTCUSDT", strategy="sma_cross",
               params={"fast": 2, "slow": 3})
    market(paper_portfolio, "BUY", "0.01")
    resting = resting_buy(paper_portfolio, "29000")
    unsent = order_create(portfolio=paper_portfolio, symbol="BTCUSDT", side="BUY",
                          order_type="LIMIT", quantity=D("0.01"), price=D("28000"))

    stop = emergency_stop(portfolios=[paper_portfolio], requested_by=trader, via="dashboard")

    assert stop.status == EmergencyStop.Status.DONE
    assert stop.finished_at is not None
    assert stop.portfolio == paper_portfolio
    assert {b.name: b.status for b in Bot.objects.all()} == {"sma": "paused", "idle": "stopped"}
    assert Bot.objects.get(pk=bot.pk).status_reason == (
        f"emergency stop #{stop.pk} by trader via dashboard")
    assert Order.objects.get(pk=resting.pk).status == S.CANCELED
    assert Order.objects.get(pk=unsent.pk).status == S.CANCELED
    assert order_submit(order=Order.objects.get(pk=unsent.pk)).status == S.CANCELED
    block = EntryBlock.objects.active().get(portfolio=paper_portfolio)
    assert block.reason == f"emergency stop #{stop.pk} by trader via dashboard"
    with pytest.raises(OrderRefused, match="entries are blocked"):
        market(paper_portfolio, "BUY", "0.01")
    assert market(paper_portfolio, "SELL", "0.005").status == S.FILLED
    assert steps(stop) == [(Outcome.DONE, None), (Outcome.DONE, None),
                           (Outcome.ALREADY, None), (Outcome.DONE, resting.pk),
                           (Outcome.DONE, unsent.pk)]
    assert "stopped" in stop.steps.get(kind=Kind.PAUSE_BOT, target__startswith="bot idle").detail
    assert stop.summary == ("nothing left open: entries blocked on 1 portfolio(s), 1 bot(s) "
                            "paused, 2 order(s) cancelled or settled, 0 position(s) closed")


def test_running_it_twice_sends_nothing_twice_and_says_already(portfolio, local_binance, trader):
    bot = running_bot(portfolio)
    order = resting_buy(portfolio, below_market(local_binance))

    first = emergency_stop(portfolios=[portfolio], requested_by=trader, via="api")
    second = emergency_stop(portfolios=[portfolio], requested_by=None, via="command")

    assert first.status == second.status == EmergencyStop.Status.DONE
    assert len(deletes(local_binance, order)) == 1
    assert Order.objects.get(pk=order.pk).status == S.CANCELED
    assert steps(second) == [(Outcome.ALREADY, None), (Outcome.ALREADY, None)]
    assert f"emergency stop #{first.pk} by trader via api" in second.steps.first().detail
    assert EntryBlock.objects.active().filter(portfolio=portfolio).count() == 1
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.PAUSED


def test_an_order_saved_but_never_sent_is_cancelled_before_it_can_be_sent(portfolio,
                                                                         local_binance):
    unsent = order_create(portfolio=portfolio, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                          quantity=D("0.01"), price=below_market(local_binance))

    emergency_stop(portfolios=[portfolio], via="admin")
    order_submit(order=Order.objects.get(pk=unsent.pk))  # a bot's send arriving late

    assert Order.objects.get(pk=unsent.pk).status == S.CANCELED
    assert posts(local_binance, unsent) == []
    assert deletes(local_binance, unsent) == []


# --- Binance failing ---------------------------------------------------------------------------

def test_cancels_failing_for_a_while_are_retried_until_they_go_through(portfolio,
                                                                       local_binance):
    orders = [resting_buy(portfolio, below_market(local_binance, f)) for f in ("0.9", "0.8")]
    local_binance.inject("error", method="DELETE", path="/api/v3/order", count=3, **OVERLOADED)

    stop = emergency_stop(portfolios=[portfolio], via="dashboard", deadline_seconds=10)

    assert stop.status == EmergencyStop.Status.DONE
    assert all(Order.objects.get(pk=o.pk).status == S.CANCELED for o in orders)
    assert len(local_binance.requests("DELETE", "/api/v3/order")) == 5
    assert all(len(posts(local_binance, o)) == 1 for o in orders)
    cancels = steps(stop, Kind.CANCEL_ORDER)
    assert cancels.count((Outcome.RETRYING, orders[0].pk)) == 1  # one warning, not one a try
    assert cancels[-2:] == [(Outcome.DONE, orders[1].pk), (Outcome.DONE, orders[0].pk)]
    retrying = stop.steps.filter(outcome=Outcome.RETRYING).first()
    assert "Binance error -1008: Server is currently overloaded" in retrying.detail


def test_cancels_failing_past_the_deadline_are_reported_and_continued_later(
        portfolio, local_binance, local_venue):
    order = resting_buy(portfolio, below_market(local_binance))
    local_binance.inject("error", method="DELETE", path="/api/v3/order", duration=60,
                         **OVERLOADED)

    started = time.monotonic()
    stop = emergency_stop(portfolios=[portfolio], via="dashboard", deadline_seconds=1)
    took = time.monotonic() - started

    assert stop.status == EmergencyStop.Status.INCOMPLETE
    assert took < 3
    assert stop.summary.startswith(
        f"1 order still open: BTCUSDT BUY LIMIT 0.01 @ {order.price.normalize():f} "
        f"({order.client_order_id}): ")
    assert "Server is currently overloaded" in stop.summary
    assert steps(stop, Kind.CANCEL_ORDER) == [(Outcome.RETRYING, order.pk),
                                              (Outcome.STILL_OPEN, order.pk)]
    assert emergency_stops_continue(deadline_seconds=0.5) == 0  # still failing
    recorded = stop.steps.count()
    assert emergency_stops_continue(deadline_seconds=0.5) == 0  # failing the same way
    assert stop.steps.count() == recorded  # one step per change, not one a minute

    local_binance.clear_faults()
    reset_venue_state(local_venue)  # the circuit breaker's 30 s pause, passed
    assert emergency_stops_continue(deadline_seconds=5) == 1
    assert emergency_stops_continue() == 0  # nothing left to do

    stop.refresh_from_db()
    assert stop.status == EmergencyStop.Status.DONE
    assert stop.summary.startswith("nothing left open")
    assert Order.objects.get(pk=order.pk).status == S.CANCELED
    assert steps(stop, Kind.CANCEL_ORDER)[-1] == (Outcome.DONE, order.pk)
    assert len(posts(local_binance, order)) == 1


def test_a_timed_out_cancel_is_settled_by_a_query(portfolio, local_binance):
    order = resting_buy(portfolio, below_market(local_binance))
    # -1007: Binance cancelled it but the answer was lost.
    local_binance.inject("timeout", method="DELETE", path="/api/v3/order")

    stop = emergency_stop(portfolios=[portfolio], via="dashboard", deadline_seconds=10)

    assert stop.status == EmergencyStop.Status.DONE
    assert Order.objects.get(pk=order.pk).status == S.CANCELED
    assert local_binance.requests("GET", "/api/v3/order", origClientOrderId=order.client_order_id)
    assert steps(stop, Kind.CANCEL_ORDER) == [(Outcome.RETRYING, order.pk),
                                              (Outcome.DONE, order.pk)]
    assert "-1007" in stop.steps.get(outcome=Outcome.RETRYING).detail


def test_an_order_whose_placement_is_in_doubt_is_asked_about_never_sent_again(portfolio,
                                                                            local_binance):
    local_binance.inject("timeout", method="POST", path="/api/v3/order")
    order = resting_buy(portfolio, below_market(local_binance))
    assert order.status == S.UNKNOWN

    stop = emergency_stop(portfolios=[portfolio], via="dashboard", deadline_seconds=10)

    assert stop.status == EmergencyStop.Status.DONE
    assert Order.objects.get(pk=order.pk).status == S.CANCELED
    assert len(posts(local_binance, order)) == 1
    assert len(deletes(local_binance, order)) == 1


def test_under_mixed_failures_every_order_ends_cancelled_or_reported_and_none_is_sent_twice(
        portfolio, local_binance, trader):
    bot = running_bot(portfolio)
    bought = market(portfolio, "BUY", "0.01")
    resting = [resting_buy(portfolio, below_market(local_binance, f)) for f in ("0.9", "0.8")]
    local_binance.inject("timeout", method="POST", path="/api/v3/order")
    in_doubt = resting_buy(portfolio, below_market(local_binance, "0.7"))
    unsent = order_create(portfolio=portfolio, symbol="BTCUSDT", side="BUY", order_type="LIMIT",
                          quantity=D("0.01"), price=below_market(local_binance, "0.6"))
    for kind in ("server_error", "rate_limit", "timeout"):
        local_binance.inject(kind, method="DELETE", path="/api/v3/order", retry_after=1)
    local_binance.inject("timeout", method="POST", path="/api/v3/order")  # the close's answer

    stop = emergency_stop(portfolios=[portfolio], requested_by=trader, via="dashboard",
                          close_positions=True, deadline_seconds=15)

    assert stop.status == EmergencyStop.Status.DONE
    everything = Order.objects.all()
    assert {o.status for o in everything if o.tag != CLOSE_TAG} == {S.FILLED, S.CANCELED}
    close = Order.objects.get(tag=CLOSE_TAG)
    assert close.status == S.FILLED
    assert all(len(posts(local_binance, o)) == 1 for o in everything if o.pk != unsent.pk)
    assert posts(local_binance, unsent) == []
    assert Position.objects.get(portfolio=portfolio).quantity == 0
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.PAUSED
    finals = {order_id: outcome for outcome, order_id in steps(stop) if order_id}
    assert finals == {o.pk: Outcome.DONE for o in [*resting, in_doubt, unsent, close]}
    assert bought.pk not in finals
    assert stop.steps.filter(outcome=Outcome.RETRYING).exists()


# --- closing positions -------------------------------------------------------------------------

def test_stops_at_once_close_a_spot_position_with_one_order(portfolio, local_binance):
    bought = market(portfolio, "BUY", "0.01")
    held = Position.objects.get(portfolio=portfolio).quantity

    def stop(_):
        try:
            return emergency_stop(portfolios=[Portfolio.objects.get(pk=portfolio.pk)],
                                  via="dashboard", close_positions=True, deadline_seconds=10)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(3) as pool:
        stops = list(pool.map(stop, range(3)))
    again = emergency_stop(portfolios=[portfolio], via="dashboard", close_positions=True)

    close = Order.objects.get(tag=CLOSE_TAG)
    assert (close.side, close.type, close.status, close.quantity) == ("SELL", "MARKET",
                                                                      S.FILLED, held)
    assert local_binance.requests("POST", "/api/v3/order", side="SELL") == posts(local_binance,
                                                                                 close)
    assert len(posts(local_binance, close)) == 1
    assert len(posts(local_binance, bought)) == 1
    assert Position.objects.get(portfolio=portfolio).quantity == 0
    assert {s.status for s in [*stops, again]} == {EmergencyStop.Status.DONE}
    outcomes = [o for s in stops for o, _ in steps(s, Kind.CLOSE_POSITION)]
    assert outcomes.count(Outcome.DONE) == 1
    assert set(outcomes) <= {Outcome.DONE, Outcome.ALREADY}  # "already open" or "already flat"
    assert steps(again, Kind.CLOSE_POSITION) == []
    done = Step.objects.get(kind=Kind.CLOSE_POSITION, outcome=Outcome.DONE)
    assert done.order == close
    assert done.detail.startswith(f"sold {held.normalize():f} at market, average price ")


def test_a_paper_position_is_sold_at_market(paper_portfolio):
    market(paper_portfolio, "BUY", "0.01")
    held = Position.objects.get(portfolio=paper_portfolio).quantity

    stop = emergency_stop(portfolios=[paper_portfolio], via="monitor", close_positions=True)

    close = Order.objects.get(tag=CLOSE_TAG)
    assert stop.status == EmergencyStop.Status.DONE
    assert (close.side, close.quantity, close.status) == ("SELL", held, S.FILLED)
    assert Position.objects.get(portfolio=paper_portfolio).quantity == 0
    assert steps(stop, Kind.CLOSE_POSITION) == [(Outcome.DONE, close.pk)]


def test_a_close_another_stop_has_claimed_is_not_doubled(portfolio, local_binance):
    market(portfolio, "BUY", "0.01")
    claimed = order_create(portfolio=portfolio, symbol="BTCUSDT", side="SELL",
                           order_type="MARKET", quantity=D("0.009"), tag=CLOSE_TAG)

    stop = emergency_stop(portfolios=[portfolio], via="dashboard", close_positions=True)

    assert Order.objects.filter(tag=CLOSE_TAG).count() == 1
    assert Order.objects.get(pk=claimed.pk).status == S.CREATED  # its stop sends it, not us
    assert steps(stop, Kind.CLOSE_POSITION) == [(Outcome.ALREADY, None)]
    assert claimed.client_order_id in stop.steps.get(kind=Kind.CLOSE_POSITION).detail


def test_dust_below_the_minimum_notional_is_reported_not_sent(portfolio, local_binance):
    market(portfolio, "BUY", "0.01")
    held = Position.objects.get(portfolio=portfolio).quantity
    market(portfolio, "SELL", str(held - D("0.00001")))  # leaves one step: cents' worth

    stop = emergency_stop(portfolios=[portfolio], via="dashboard", close_positions=True)

    assert stop.status == EmergencyStop.Status.DONE
    assert not Order.objects.filter(tag=CLOSE_TAG).exists()
    step = stop.steps.get(kind=Kind.CLOSE_POSITION)
    assert step.outcome == Outcome.ALREADY
    assert step.detail.startswith("dust, not sent: 0.00001 BTCUSDT is worth about")


def test_a_futures_position_is_closed_reduce_only(futures_portfolio, local_binance):
    order_place(portfolio=futures_portfolio, market="futures", symbol="BTCUSDT", side="SELL",
                order_type="MARKET", quantity=D("0.01"))

    stop = emergency_stop(portfolios=[futures_portfolio], via="dashboard", close_positions=True)

    close = Order.objects.get(tag=CLOSE_TAG)
    assert stop.status == EmergencyStop.Status.DONE
    assert (close.side, close.reduce_only, close.quantity, close.status) == (
        "BUY", True, D("0.01"), S.FILLED)
    assert len(local_binance.requests("POST", "/fapi/v1/order", reduceOnly="true",
                                      newClientOrderId=close.client_order_id)) == 1
    assert Position.objects.get(portfolio=futures_portfolio).quantity == 0


# --- resuming ----------------------------------------------------------------------------------

def test_resuming_entries_lifts_the_block_but_leaves_the_bots_paused(paper_portfolio, trader):
    bot = running_bot(paper_portfolio)
    emergency_stop(portfolios=[paper_portfolio], requested_by=trader, via="dashboard")

    assert entries_resume(portfolio=paper_portfolio, by=trader) == 1
    assert entries_resume(portfolio=paper_portfolio, by=trader) == 0

    assert market(paper_portfolio, "BUY", "0.01").status == S.FILLED
    assert Bot.objects.get(pk=bot.pk).status == Bot.Status.PAUSED
    assert EntryBlock.objects.get(portfolio=paper_portfolio).cleared_by == trader


# --- the command -------------------------------------------------------------------------------

def run_command(*args):
    out = StringIO()
    call_command("emergency_stop", *args, stdout=out)
    return out.getvalue()


def test_the_command_stops_the_portfolios_named_and_prints_each_step(portfolio, paper_portfolio,
                                                                     local_binance, trader):
    order = resting_buy(portfolio, below_market(local_binance))

    out = run_command("--portfolio", str(portfolio.pk), "--by", "trader")

    stop = EmergencyStop.objects.get()
    assert (stop.requested_by, stop.requested_via, stop.portfolio) == (trader, "command",
                                                                      portfolio)
    assert f"blocked entries: portfolio main (#{portfolio.pk}): done" in out
    assert f"cancelled an order: BTCUSDT BUY LIMIT 0.01 @ {order.price.normalize():f}" in out
    assert f"emergency stop #{stop.pk} of portfolio main (#{portfolio.pk}): done" in out
    assert not EntryBlock.objects.filter(portfolio=paper_portfolio).exists()


def test_the_command_with_all_stops_every_active_portfolio(portfolio, paper_portfolio):
    Portfolio.objects.create(owner=portfolio.owner, name="retired", active=False)

    out = run_command("--all")

    stop = EmergencyStop.objects.get()
    assert stop.portfolio is None
    assert stop.scope == "every active portfolio (2)"
    assert set(EntryBlock.objects.values_list("portfolio__name", flat=True)) == {"main", "paper"}
    assert "nothing left open" in out


@pytest.mark.parametrize(("args", "message"), [
    ((), "give --portfolio ID (repeatable) or --all"),
    (("--all", "--portfolio", "1"), "not both"),
    (("--portfolio", "999999"), "no portfolio with id 999999"),
])
def test_the_command_refuses_unclear_arguments_and_stops_nothing(args, message, db):
    with pytest.raises(CommandError, match=re.escape(message)) as refused:
        run_command(*args)

    assert refused.value.returncode == 1
    assert not EmergencyStop.objects.exists()


def test_the_command_exits_non_zero_while_orders_are_still_open(portfolio, local_binance):
    resting_buy(portfolio, below_market(local_binance))
    local_binance.inject("error", method="DELETE", path="/api/v3/order", duration=60,
                         **OVERLOADED)

    with pytest.raises(CommandError, match="1 order still open") as incomplete:
        run_command("--portfolio", str(portfolio.pk), "--deadline", "0.5")

    assert incomplete.value.returncode == 2
    assert EmergencyStop.objects.get().status == EmergencyStop.Status.INCOMPLETE
