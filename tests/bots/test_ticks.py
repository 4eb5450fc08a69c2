"""A bot's tick on one closed candle: one decision and its orders, never two, whatever the
delivery; budgets hold under concurrent ticks; entries wait for good conditions."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.cache import cache
from django.db import connections

from bots.models import Bot, BotDecision
from bots.services import BotRefused, bot_create, bot_start, bot_stop, bot_tick
from marketdata import live
from orders.models import Order, OrderStatus

pytestmark = pytest.mark.django_db(transaction=True)
OUT = BotDecision.Outcome


def sma_bot(portfolio, name="sma", amount="100", **extra):
    bot = bot_create(portfolio=portfolio, name=name, symbol="BTCUSDT", strategy="sma_cross",
                     params={"fast": 2, "slow": 3}, sizing="fixed_quote",
                     sizing_config={"amount": amount}, **extra)
    return bot_start(bot=bot)


def closing(candle):
    return candle + timedelta(minutes=1, seconds=1)  # just after the candle closed


def ticks_at_once(bots, candle) -> list:
    """Each bot's tick on the candle, all at once from threads (each with its connection)."""
    def tick(bot):
        try:
            return bot_tick(bot_id=bot.pk, candle_open_time=candle, now=closing(candle))
        finally:
            connections.close_all()

    with ThreadPoolExecutor(len(bots)) as pool:
        return list(pool.map(tick, bots))


def test_a_crossover_places_one_entry_and_logs_why(paper_portfolio, crossing_candle):
    bot = sma_bot(paper_portfolio)

    decision = bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle,
                        now=closing(crossing_candle))

    assert decision.outcome == OUT.ENTER
    assert "SMA(2) 110.5 crossed above SMA(3) 107.66667" in decision.reason
    assert decision.inputs["close"] == 120.0
    assert decision.inputs["sma_fast"] == 110.5
    order = Order.objects.get(bot=bot)
    assert (order.decision_id, order.tag, order.source) == (decision.pk, "entry", "bot")
    assert order.status == OrderStatus.FILLED
    assert order.cumulative_quote <= D("100")


def test_the_same_tick_twice_at_once_retried_and_late_decides_once(paper_portfolio,
                                                                   crossing_candle):
    bot = sma_bot(paper_portfolio)

    def tick(now):
        try:
            return bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle, now=now)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(tick, [closing(crossing_candle)] * 4))
    retried = bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle,
                       now=closing(crossing_candle))
    BotDecision.objects.all().delete()  # even with the record gone, a late tick is dropped
    late = bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle,
                    now=crossing_candle + timedelta(minutes=3))

    assert sum(result is not None for result in results) == 1
    assert retried is None
    assert late is None
    assert Order.objects.filter(bot=bot).count() == 1


def test_two_bots_cannot_together_exceed_the_portfolio_budget(paper_portfolio,
                                                              crossing_candle):
    first, second = sma_bot(paper_portfolio, "a", amount="700"), sma_bot(paper_portfolio, "b",
                                                                       amount="700")

    decisions = ticks_at_once([first, second], crossing_candle)

    spent = sum(o.cumulative_quote for o in Order.objects.filter(bot__in=[first, second]))
    assert D("999") < spent <= D("1000")  # 700 and the 300 that was left
    assert {d.outcome for d in decisions} == {OUT.ENTER}


def test_a_symbol_allocation_caps_its_bots(paper_portfolio, crossing_candle):
    paper_portfolio.allocations.create(symbol="BTCUSDT", allocated_budget=D("50"))
    bot = sma_bot(paper_portfolio, amount="100")

    bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle, now=closing(crossing_candle))

    assert Order.objects.get(bot=bot).cumulative_quote <= D("50")


def test_stale_data_pauses_entries_and_says_why(paper_portfolio, crossing_candle):
    bot = sma_bot(paper_portfolio)
    cache.delete(live.status_key("spot"))

    decision = bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle,
                        now=closing(crossing_candle))

    assert decision.outcome == OUT.REFUSED
    assert "entries paused: BTCUSDT's market data is stale" in decision.actions[0]["refused"]
    assert not Order.objects.filter(bot=bot).exists()


def test_a_candle_not_stored_yet_is_left_for_a_later_tick(paper_portfolio, crossing_candle):
    bot = sma_bot(paper_portfolio)
    future = crossing_candle + timedelta(minutes=1)

    assert bot_tick(bot_id=bot.pk, candle_open_time=future, now=closing(future)) is None
    assert not BotDecision.objects.exists()


def test_a_stopped_bot_does_not_tick_and_stop_can_close_its_position(paper_portfolio,
                                                                     crossing_candle):
    bot = sma_bot(paper_portfolio)
    bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle, now=closing(crossing_candle))

    bot = bot_stop(bot=bot, close_position=True)

    assert bot.status == Bot.Status.STOPPED
    closed = Order.objects.get(bot=bot, tag="close")
    assert closed.side == "SELL"
    assert closed.status == OrderStatus.FILLED
    assert bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle,
                    now=closing(crossing_candle)) is None


def test_invalid_parameters_are_refused_in_words(paper_portfolio):
    with pytest.raises(BotRefused) as refused:
        bot_create(portfolio=paper_portfolio, name="bad", symbol="BTCUSDT",
                   strategy="sma_cross", params={"fast": 30, "slow": 10})

    assert refused.value.errors == {"fast": "fast must be smaller than slow"}


def test_a_failing_strategy_puts_its_bot_in_error_and_says_why(paper_portfolio,
                                                              crossing_candle, monkeypatch):
    from bots.strategies.builtin.sma_cross import SmaCross

    bot = sma_bot(paper_portfolio)
    monkeypatch.setattr(SmaCross, "on_bar", lambda self, ctx: 1 / 0)

    assert bot_tick(bot_id=bot.pk, candle_open_time=crossing_candle,
                    now=closing(crossing_candle)) is None

    bot.refresh_from_db()
    assert bot.status == Bot.Status.ERROR
    assert "ZeroDivisionError" in bot.status_reason
    assert not BotDecision.objects.exists()


def test_the_beat_fallback_asks_only_for_candles_not_yet_decided(paper_portfolio, monkeypatch):
    from django.utils import timezone

    from bots import tasks, window

    decided, pending = sma_bot(paper_portfolio, "decided"), sma_bot(paper_portfolio, "pending")
    now = timezone.now()
    monkeypatch.setattr(tasks.timezone, "now", lambda: now)  # no minute may turn meanwhile
    candle = window.last_closed_open_time("1m", now)
    BotDecision.objects.create(bot=decided, candle_open_time=candle)
    asked = []
    monkeypatch.setattr(tasks.bot_tick_task, "delay", lambda *args: asked.append(args))

    assert tasks.bots_tick_due_task() == 1
    assert asked == [(pending.pk, candle.isoformat())]
