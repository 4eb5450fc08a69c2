"""Real-time events about bots, pushed to their owner's pages after each commit.

- bot.status: {id, name, status, status_reason, portfolio_id}
- bot.decision: {bot_id, candle_open_time, outcome, reason}
"""

from tradingsite.events import publish_to_user_on_commit


def bot_changed(bot) -> None:
    data = {"id": bot.pk, "name": bot.name, "status": bot.status,
            "status_reason": bot.status_reason, "portfolio_id": bot.portfolio_id}
    publish_to_user_on_commit(user_id=bot.portfolio.owner_id, event_type="bot.status",
                              data=data)


def decision_made(decision) -> None:
    data = {"bot_id": decision.bot_id, "candle_open_time": decision.candle_open_time.isoformat(),
            "outcome": decision.outcome, "reason": decision.reason}
    publish_to_user_on_commit(user_id=decision.bot.portfolio.owner_id,
                              event_type="bot.decision", data=data)
