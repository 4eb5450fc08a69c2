"""Real-time events about bots, pushed to their owner's pages after each commit.

- bot.update: {id, name, status, status_reason, portfolio_id}
- bot.decision: {bot_id, candle_open_time, outcome, reason}
"""

from django.db import transaction

from tradingsite.events import publish_to_user


def _after_commit(owner_id: int, event_type: str, data: dict) -> None:
    transaction.on_commit(lambda: publish_to_user(user_id=owner_id, event_type=event_type,
                                                  data=data))


def bot_changed(bot) -> None:
    _after_commit(bot.portfolio.owner_id, "bot.update", {
        "id": bot.pk, "name": bot.name, "status": bot.status,
        "status_reason": bot.status_reason, "portfolio_id": bot.portfolio_id})


def decision_made(decision) -> None:
    _after_commit(decision.bot.portfolio.owner_id, "bot.decision", {
        "bot_id": decision.bot_id, "candle_open_time": decision.candle_open_time.isoformat(),
        "outcome": decision.outcome, "reason": decision.reason})
