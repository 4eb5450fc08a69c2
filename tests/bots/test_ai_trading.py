"""A bot trading ai_combined on paper against the local Binance: sentiment items injected, the
analysis asked of a local server speaking Ollama's API, the decision log showing what it read;
its confidence sizing the entry; and entries waiting in the approval queue until approved
(then executed), rejected, expired, withdrawn."""

import json
from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from bots import ai
from bots.analysis.advisor import AdvisorSettings
from bots.approvals import ApprovalRefused, approval_approve, approval_reject, approvals_expire
from bots.models import AISymbolAnalysis, Bot, BotDecision, SentimentItem, TradeApproval
from bots.services import (
    BotRefused,
    bot_approval_rules,
    bot_create,
    bot_pause,
    bot_start,
    bot_stop,
    bot_tick,
)
from orders.models import Order, OrderStatus
from tests.bots.conftest import market_is_live, store_candles

pytestmark = pytest.mark.django_db(transaction=True)
OUT = BotDecision.Outcome
A = TradeApproval.Status
# A steady climb to 120 (the ticker's price): the trend is up, strongly.
RISING = [100 + n * 0.25 for n in range(81)]
HEADLINES = ["Bitcoin surges to record high as ETF inflows soar",
             "Bitcoin rally extends; analysts bullish on BTC adoption",
             "BTC gains as institutional demand grows"]


def closing(candle):
    return candle + timedelta(minutes=1, seconds=1)


@pytest.fixture
def last_candle(paper_portfolio):
    return store_candles(RISING)


@pytest.fixture
def analysed(last_candle, fake_ollama):
    return inject_and_analyse(last_candle, fake_ollama)


def inject_and_analyse(last_candle, fake_ollama) -> AISymbolAnalysis:
    """Headlines about BTC stored before the candle closed, then the symbol's analysis with
    the advisor (the local Ollama) answering buy."""
    for n, text in enumerate(HEADLINES):
        SentimentItem.objects.create(source="news", symbol="BTCUSDT", score=0.6, text=text,
                                     guid=f"headline-{n}", published_at=last_candle
                                     - timedelta(minutes=10 - n))
    fake_ollama.answer(json.dumps({"action": "buy", "confidence": 0.9, "stop_loss": 114,
                                   "take_profit": 130,
                                   "reasoning": "a clean uptrend and upbeat news"}))
    settings = AdvisorSettings(host=fake_ollama.url, model="llama3.2", timeout=5,
                               enabled=True)
    return ai.symbol_analyse(symbol="BTCUSDT", interval="1m", now=closing(last_candle),
                             advisor_settings=settings)


def ai_bot(portfolio, **rules) -> Bot:
    bot = bot_create(portfolio=portfolio, name="ai", symbol="BTCUSDT", strategy="ai_combined",
                     params={"trend_window": 20}, sizing_config={"amount": "100"})
    if rules:
        bot = bot_approval_rules(bot=bot, above_quote=rules.get("above"),
                                 below_confidence=rules.get("below"),
                                 minutes=rules.get("minutes", 15))
    return bot_start(bot=bot)


def waiting_now() -> TradeApproval:
    """The one waiting entry, its expiry moved from the candles' fixed day to the present
    (the API and the pages approve at the wall clock's time)."""
    TradeApproval.objects.update(expires_at=timezone.now() + timedelta(minutes=15))
    return TradeApproval.objects.get()


def tick(bot, candle):
    return bot_tick(bot_id=bot.pk, candle_open_time=candle, now=closing(candle))


# --- trading on the analysis -------------------------------------------------------------------

def test_the_bot_trades_on_the_analysis_and_logs_what_it_read(paper_portfolio, analysed,
                                                             last_candle, trader):
    bot = ai_bot(paper_portfolio)

    decision = tick(bot, last_candle)

    assert analysed.advisor.outcome == "answered"
    assert analysed.sentiment_score > 0.3  # the headlines (and the climb's market item)
    assert decision.outcome == OUT.ENTER
    read = decision.inputs
    assert read["ai_analysis_id"] == analysed.pk
    assert read["ai_sentiment"] == pytest.approx(analysed.sentiment_score)
    assert (read["ai_advisor_action"], read["ai_advisor_confidence"]) == ("buy", 0.9)
    assert read["technical_score"] > 0.5
    assert read["ai_score"] == pytest.approx(
        min(1.0, 0.4 * read["ai_sentiment"] + 0.6 * read["technical_score"]), abs=1e-6)
    assert "the advisor said buy" in decision.reason
    order = Order.objects.get(bot=bot)
    assert (order.status, order.decision_id) == (OrderStatus.FILLED, decision.pk)

    client = Client()
    client.force_login(trader)
    page = client.get(reverse("bots:detail", args=[bot.pk])).content.decode()
    assert "technical" in page
    assert "sentiment" in page
    assert "combined" in page
    assert "buy (0.90)" in page  # the LLM's answer
    assert reverse("ai:call", args=[analysed.advisor.pk]) in page  # its conversation
    assert "a clean uptrend and upbeat news" in page


def test_confidence_sizes_the_entry_within_the_sizing_rule(paper_portfolio, analysed,
                                                           last_candle):
    bot = ai_bot(paper_portfolio)

    decision = tick(bot, last_candle)

    confidence = D(str(decision.inputs["ai_confidence"]))
    assert D("0.1") <= confidence < 1
    spent = Order.objects.get(bot=bot).quote_quantity
    assert spent == pytest.approx(D("100") * confidence, abs=D("0.01"))


def test_without_an_analysis_the_bot_trades_on_the_technical_score_alone(paper_portfolio,
                                                                        last_candle):
    bot = ai_bot(paper_portfolio)

    decision = tick(bot, last_candle)

    assert decision.inputs["ai_sentiment"] is None
    assert "no stored analysis: technical only" in decision.reason
    assert decision.outcome == OUT.ENTER


# --- the approval queue ------------------------------------------------------------------------

def test_a_large_entry_waits_for_approval_and_executes_when_approved(paper_portfolio, analysed,
                                                                    last_candle, trader):
    bot = ai_bot(paper_portfolio, above=D("20"))

    decision = tick(bot, last_candle)

    assert decision.outcome == OUT.QUEUED
    assert not Order.objects.filter(bot=bot).exists()
    approval = TradeApproval.objects.get(bot=bot)
    assert approval.status == A.PENDING
    assert approval.analysis_id == analysed.pk
    assert "above the bot's approval threshold 20.00" in approval.waits_because
    assert decision.actions[0]["approval"] == approval.pk
    assert approval.expires_at == closing(last_candle) + timedelta(minutes=15)

    approval = approval_approve(approval=approval, user=trader, now=closing(last_candle))

    assert approval.status == A.APPROVED
    order = Order.objects.get(bot=bot)
    assert (order.status, order.decision_id, order.tag) == (OrderStatus.FILLED, decision.pk,
                                                            "entry")
    assert approval.order == order
    assert approval.decided_by == trader
    with pytest.raises(ApprovalRefused, match="already approved"):
        approval_approve(approval=approval, user=trader)


def test_an_unsure_entry_waits_and_a_rejected_one_never_trades(paper_portfolio, analysed,
                                                              last_candle, trader):
    bot = ai_bot(paper_portfolio, below=1.0)

    tick(bot, last_candle)
    approval = TradeApproval.objects.get(bot=bot)
    assert "its confidence" in approval.waits_because
    approval = approval_reject(approval=approval, user=trader)

    assert approval.status == A.REJECTED
    assert not Order.objects.filter(bot=bot).exists()


def test_a_waiting_entry_expires_and_cannot_be_approved_after(paper_portfolio, analysed,
                                                             last_candle, trader):
    bot = ai_bot(paper_portfolio, above=D("20"), minutes=5)
    tick(bot, last_candle)
    approval = TradeApproval.objects.get(bot=bot)

    assert approvals_expire(now=approval.expires_at - timedelta(seconds=1)) == 0
    assert approvals_expire(now=approval.expires_at) == 1

    with pytest.raises(ApprovalRefused, match="expired"):
        approval_approve(approval=approval, user=trader)
    assert not Order.objects.filter(bot=bot).exists()


def test_a_waiting_entry_blocks_the_next_and_stopping_withdraws_it(paper_portfolio, analysed,
                                                                  last_candle):
    bot = ai_bot(paper_portfolio, above=D("20"))
    tick(bot, last_candle)
    following = store_candles([120.25], start=last_candle + timedelta(minutes=1))
    market_is_live()

    second = tick(bot, following)

    assert second.outcome == OUT.REFUSED
    assert "still waits for approval" in second.actions[0]["refused"]
    assert TradeApproval.objects.count() == 1
    bot_stop(bot=bot)
    assert TradeApproval.objects.get().status == A.WITHDRAWN


def test_a_paused_bot_keeps_its_entry_waiting(paper_portfolio, analysed, last_candle, trader):
    bot = ai_bot(paper_portfolio, above=D("20"))
    tick(bot, last_candle)
    bot_pause(bot=bot)
    approval = TradeApproval.objects.get()

    with pytest.raises(ApprovalRefused, match="resume it"):
        approval_approve(approval=approval, user=trader, now=closing(last_candle))

    assert TradeApproval.objects.get().status == A.PENDING


def test_the_rules_are_checked_in_words(paper_portfolio):
    bot = bot_create(portfolio=paper_portfolio, name="ai", symbol="BTCUSDT",
                     strategy="ai_combined")
    with pytest.raises(BotRefused) as refused:
        bot_approval_rules(bot=bot, above_quote=D("-1"), below_confidence=2.0, minutes=0)
    assert set(refused.value.errors) == {"approval_above_quote", "approval_below_confidence",
                                         "approval_minutes"}


# --- the API and the pages ---------------------------------------------------------------------

def test_the_api_lists_and_approves_own_entries_only(paper_portfolio, analysed, last_candle,
                                                     trader, other_trader):
    bot = ai_bot(paper_portfolio, above=D("20"))
    tick(bot, last_candle)
    approval = waiting_now()
    outsider, owner = APIClient(), APIClient()
    outsider.force_authenticate(other_trader)
    owner.force_authenticate(trader)

    assert outsider.get("/api/approvals/").json()["results"] == []
    assert outsider.post(f"/api/approvals/{approval.pk}/approve/").status_code == 404
    listed = owner.get("/api/approvals/?status=pending").json()["results"]
    assert [row["id"] for row in listed] == [approval.pk]
    assert listed[0]["waits_because"]
    assert listed[0]["reason"]

    market_is_live()
    approved = owner.post(f"/api/approvals/{approval.pk}/approve/")
    again = owner.post(f"/api/approvals/{approval.pk}/approve/")

    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"
    assert approved.json()["order"]
    assert again.status_code == 400
    assert "already" in again.json()["detail"]


def test_the_api_sets_a_running_bots_rules(paper_portfolio, trader):
    bot = ai_bot(paper_portfolio)
    client = APIClient()
    client.force_authenticate(trader)

    changed = client.post(f"/api/bots/{bot.pk}/approval-rules/",
                          {"approval_above_quote": "250", "approval_minutes": 30},
                          format="json")
    wrong = client.post(f"/api/bots/{bot.pk}/approval-rules/",
                        {"approval_below_confidence": 3}, format="json")

    assert changed.status_code == 200, changed.content
    assert changed.json()["approval_above_quote"] == "250.0000000000"
    assert changed.json()["status"] == "running"
    assert wrong.status_code == 400
    assert "approval_below_confidence" in wrong.json()


def test_the_approvals_page_shows_the_reasoning_and_approves(paper_portfolio, analysed,
                                                            last_candle, trader,
                                                            other_trader):
    bot = ai_bot(paper_portfolio, above=D("20"))
    tick(bot, last_candle)
    approval = waiting_now()
    client, stranger = Client(), Client()
    client.force_login(trader)
    stranger.force_login(other_trader)

    page = client.get(reverse("bots:approvals")).content.decode()
    assert "Waits because" in page
    assert approval.reason[:40] in page
    assert analysed.reasoning[:40] in page
    assert stranger.post(reverse("bots:approval-approve", args=[approval.pk])).status_code == 404

    market_is_live()
    done = client.post(reverse("bots:approval-approve", args=[approval.pk]),
                       HTTP_HX_REQUEST="true")

    assert "approved" in done.content.decode()
    assert TradeApproval.objects.get().status == A.APPROVED
    assert AISymbolAnalysis.objects.count() == 1


def test_the_bot_page_saves_the_rules(paper_portfolio, trader):
    bot = ai_bot(paper_portfolio)
    client = Client()
    client.force_login(trader)

    client.post(reverse("bots:approval-rules", args=[bot.pk]),
                {"approval_above_quote": "75", "approval_below_confidence": "",
                 "approval_minutes": "10"})

    bot.refresh_from_db()
    assert (bot.approval_above_quote, bot.approval_below_confidence,
            bot.approval_minutes) == (D("75"), None, 10)
