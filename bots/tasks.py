"""Celery tasks that tick bots. The stream process asks for a tick the moment a candle closes
(bots.apps); beat's `bots-tick-due` is the fallback that asks for every running bot's latest
closed candle. Asking twice is harmless: a tick decides a candle at most once."""

import logging
from datetime import UTC, datetime

from celery import shared_task
from django.utils import timezone

from bots.ai import analyse_watched, news_poll_all
from bots.approvals import approvals_expire
from bots.models import Bot, BotDecision
from bots.services import bot_tick
from bots.window import last_closed_open_time

logger = logging.getLogger(__name__)


@shared_task(name="bots.tasks.bot_tick_task", acks_late=True, soft_time_limit=50,
             time_limit=60)
def bot_tick_task(bot_id: int, candle_open_time: str) -> str:
    decision = bot_tick(bot_id=bot_id, candle_open_time=datetime.fromisoformat(candle_open_time))
    return decision.outcome if decision else "nothing to do"


@shared_task(name="bots.tasks.bots_tick_due_task")
def bots_tick_due_task() -> int:
    """Ask for the latest closed candle of every running bot that has not decided it."""
    now = timezone.now()
    due = {bot.pk: last_closed_open_time(bot.interval, now) for bot in Bot.objects.running()}
    decided = set(BotDecision.objects.filter(bot_id__in=due, candle_open_time__in=set(
        due.values())).values_list("bot_id", "candle_open_time"))  # one query, not one a bot
    asked = 0
    for bot_id, candle in due.items():
        if (bot_id, candle) not in decided:
            bot_tick_task.delay(bot_id, candle.astimezone(UTC).isoformat())
            asked += 1
    return asked


def request_ticks(*, market: str, symbol: str, interval: str, open_time: datetime) -> int:
    """A candle closed: ask for a tick of every running bot that trades it."""
    bots = Bot.objects.running().filter(market=market, symbol=symbol, interval=interval)
    ids = list(bots.values_list("pk", flat=True))
    for bot_id in ids:
        bot_tick_task.delay(bot_id, open_time.astimezone(UTC).isoformat())
    return len(ids)


# --- AI-assisted analysis (bots.ai) ------------------------------------------------------------

@shared_task(name="bots.tasks.ai_analyse_watched_task", soft_time_limit=540, time_limit=570)
def ai_analyse_watched_task() -> int:
    return analyse_watched()


@shared_task(name="bots.tasks.news_poll_task", soft_time_limit=240, time_limit=270)
def news_poll_task() -> int:
    return sum(report.new_items for report in news_poll_all())


@shared_task(name="bots.tasks.approvals_expire_task")
def approvals_expire_task() -> int:
    return approvals_expire()
