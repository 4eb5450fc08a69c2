"""The AI analysis pages: every analysed symbol, one symbol's latest analysis (scores,
reasoning, technical figures, the sentiment read) with a notes form, and the advisor's
conversation. Shared market data for every logged-in trader; a note's author only for
staff and the author."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from django.test import Client
from django.utils import timezone

from bots.analysis import advisor, technical
from bots.analysis.technical import TechnicalAnalysis
from bots.models import (
    AdvisorCall,
    AISymbolAnalysis,
    NewsFeed,
    SentimentItem,
    TechnicalAnalysisRecord,
)
from bots.strategies.wording import number
from tests.support.api import known_symbols

pytestmark = pytest.mark.django_db



@pytest.fixture(autouse=True)
def _notes_name_known_symbols(db):
    known_symbols("BTCUSDT", "ETHUSDT")  # a note must be about a symbol the platform knows

HTMX = {"HTTP_HX_REQUEST": "true"}
START = datetime(2026, 1, 1, tzinfo=UTC)


# --- rows as bots.ai stores them --------------------------------------------------------------

def rising_candles(count: int = 120) -> pd.DataFrame:
    """Hourly candles climbing with a wiggle: a bullish trend with levels to find."""
    steps = np.arange(count)
    close = 100 + steps * 0.5 + 3 * np.sin(steps / 4)
    return pd.DataFrame({
        "open_time": pd.date_range(START, periods=count, freq="1h", tz="UTC"),
        "open": close - 0.2, "high": close + 1.0, "low": close - 1.0, "close": close,
        "volume": 10 + (steps % 7).astype(float)})


def technical_record(symbol: str = "BTCUSDT") -> tuple[TechnicalAnalysis, TechnicalAnalysisRecord]:
    found = technical.analyse(rising_candles(), symbol=symbol, interval="1h",
                              step=timedelta(hours=1))
    record = TechnicalAnalysisRecord.objects.create(
        symbol=symbol, interval="1h", as_of=found.as_of, close=found.close, trend=found.trend,
        strength=found.strength, score=found.score, data=found.as_dict())
    return found, record


def advisor_call(symbol: str = "BTCUSDT", outcome: str = "answered", **fields) -> AdvisorCall:
    messages = advisor.build_messages(symbol=symbol, technical={"close": "160.5", "rsi": "61.2"},
                                      sentiment={"score": 0.4, "confidence": 0.5},
                                      headlines=[{"title": "Bitcoin ETF inflows soar"}])
    answered = outcome == "answered"
    raw = json.dumps({"action": "buy", "confidence": 0.72, "stop_loss": 151.5,
                      "take_profit": 171.25, "reasoning": "The trend and the news agree."})
    values = {"symbol": symbol, "outcome": outcome, "prompt_version": advisor.PROMPT_VERSION,
              "messages": messages, "model": "llama3.2:3b", "model_digest": "a80c4f17acd5" * 5,
              "raw_output": raw if answered else "", "latency_ms": 1834,
              "advice": {"action": "buy", "confidence": 0.72, "stop_loss": "151.5",
                         "take_profit": "171.25", "reasoning": "The trend and the news agree."}
              if answered else None, **fields}
    return AdvisorCall.objects.create(**values)


def item(source: str, score: float, text: str, **fields) -> SentimentItem:
    fields.setdefault("published_at", timezone.now() - timedelta(hours=1))
    return SentimentItem.objects.create(source=source, symbol=fields.pop("symbol", "BTCUSDT"),
                                        score=score, text=text, **fields)


@pytest.fixture
def analysed(trader):
    """BTCUSDT with a history of analyses (the latest in full) and its sentiment items."""
    found, record = technical_record()
    call = advisor_call()
    feed = NewsFeed.objects.create(name="Crypto wire", url="https://news.example/rss")
    news = item("news", 0.62, "Bitcoin ETF inflows soar", link="https://news.example/a1",
                feed=feed, guid="a1")
    market = item("market", 0.3, "Price up 4.1% over 24 candles")
    note = item("manual", -0.5, "Funding looks overheated", author=trader)
    item("news", -0.8, "An old headline", published_at=timezone.now() - timedelta(days=3))
    for hours in range(5, 0, -1):
        AISymbolAnalysis.objects.create(
            symbol="BTCUSDT", interval="1h", as_of=found.as_of - timedelta(hours=hours),
            technical_score=0.1, sentiment_score=-0.1, combined_score=0.05 * hours)
    latest = AISymbolAnalysis.objects.create(
        symbol="BTCUSDT", interval="1h", as_of=found.as_of, technical=record,
        technical_score=found.score, sentiment_score=0.41, sentiment_confidence=0.55,
        per_source={"news": 0.62, "market": 0.3, "manual": -0.5},
        sources=[{"id": row.pk, "source": row.source, "score": row.score, "text": row.text}
                 for row in (news, market, note)],
        advisor=call, combined_score=0.58, action="buy", confidence=0.66,
        reasoning="News leans bullish. The trend is bullish and the advisor agrees: buy.")
    return {"analysis": latest, "technical": found, "call": call, "note": note}


def staff_client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def field_row(html: str, name: str) -> str:
    return html.split(f'data-field-row="{name}"')[1].split('<div class="form-row"')[0]


# --- the index ----------------------------------------------------------------------------------

def test_the_index_lists_each_analysed_symbol_with_its_latest_analysis(owner, analysed):
    _, eth_record = technical_record("ETHUSDT")
    AISymbolAnalysis.objects.create(symbol="ETHUSDT", interval="1h", as_of=eth_record.as_of,
                                    advisor=advisor_call("ETHUSDT", "timeout"),
                                    combined_score=-0.31, action="sell", confidence=0.4)

    page = owner.get("/ai/").content.decode()

    btc = page.split('data-ai-symbol="BTCUSDT"')[1].split("</tr>")[0]
    assert '<a href="/ai/BTCUSDT/">BTCUSDT</a>' in btc
    assert "ai-action-buy" in btc
    assert "+0.58" in btc
    assert "+0.41" in btc
    assert "0.66" in btc
    assert "answered" in btc
    eth = page.split('data-ai-symbol="ETHUSDT"')[1].split("</tr>")[0]
    assert "ai-action-sell" in eth
    assert "-0.31" in eth
    assert "timed out" in eth
    assert page.count('data-ai-symbol="BTCUSDT"') == 1  # the latest only, not the history
    assert '<a href="/ai/">AI</a>' in page  # the nav


def test_the_index_says_in_words_how_to_get_analyses(owner):
    page = owner.get("/ai/").content.decode()

    assert "No symbol has been analysed yet." in page
    assert "AI_ANALYSIS_MINUTES" in page
    assert "symbol_analyse" in page


# --- one symbol -------------------------------------------------------------------------------

def test_the_symbol_page_shows_the_latest_analysis_in_full(outsider, analysed):
    found = analysed["technical"]

    page = outsider.get("/ai/BTCUSDT/").content.decode()

    latest = page.split('id="ai-latest"')[1].split("</section>")[0]
    assert "ai-action-buy" in latest
    assert "+0.58" in latest
    assert "+0.41" in latest
    assert f"{found.score:+.2f}" in latest
    assert "News leans bullish. The trend is bullish and the advisor agrees: buy." in latest
    sources = latest.split('class="table ai-sources"')[1].split("</table>")[0]
    assert "+0.62" in sources.split('data-source="news"')[1].split("</tr>")[0]
    assert "-0.50" in sources.split('data-source="manual"')[1].split("</tr>")[0]
    assert f'<dt>RSI 14</dt><dd class="num">{float(found.rsi):.1f}</dd>' in latest
    for figure in (found.sma_20, found.sma_50, found.ema_12, found.ema_26, found.macd,
                   found.stop_loss, found.take_profit, found.supports[0]):
        assert number(figure) in latest
    assert f"{found.volume / found.volume_average:.2f}× the 20-candle average" in latest
    assert found.trend in latest
    for ratio, price in found.fibonacci.items():
        assert f'<td class="muted">{ratio}</td><td class="num">{number(price)}</td>' in latest
    assert f'href="/ai/calls/{analysed["call"].pk}/"' in latest


def test_the_symbol_page_shows_the_items_of_the_last_48_hours_and_the_score_history(
        owner, analysed):
    page = owner.get("/ai/BTCUSDT/").content.decode()

    items = page.split('id="ai-items"')[1].split("</section>")[0]
    assert '<a href="https://news.example/a1" target="_blank"' in items
    assert "Bitcoin ETF inflows soar" in items
    assert "Crypto wire" in items
    assert "Price up 4.1% over 24 candles" in items
    assert "Funding looks overheated" in items
    assert "An old headline" not in items  # three days old
    history = json.loads(page.split('id="ai-history" type="application/json">')[1]
                         .split("</script>")[0])
    assert len(history["combined"]) == 6
    assert history["combined"][-1]["value"] == 0.58
    assert [p["time"] for p in history["combined"]] == sorted(p["time"] for p in
                                                             history["combined"])
    assert 'href="/ai/BTCUSDT/conversation/"' in page
    assert "js/ai.js" in page


def test_the_latest_partial_follows_ai_analysis_events_of_its_symbol(owner, analysed):
    answer = owner.get("/ai/btcusdt/latest/", **HTMX)

    html = answer.content.decode()
    assert answer.status_code == 200
    assert "<html" not in html
    assert 'id="ai-latest"' in html
    assert 'data-refresh-on="ai.analysis"' in html
    assert 'data-ai-symbol="BTCUSDT"' in html
    assert 'data-partial-url="/ai/BTCUSDT/latest/"' in html


@pytest.mark.parametrize("url", ["/ai/dogeusdt/", "/ai/%20DOGEUSDT%20/",
                                 "/ai/DOGEUSDT/?market=futures"])
def test_a_symbol_without_analyses_says_so(owner, url):
    answer = owner.get(url)

    assert answer.status_code == 200
    page = answer.content.decode()
    assert "No analysis of DOGEUSDT" in page
    assert "Nothing about DOGEUSDT in the last 48 hours." in page


def test_a_market_that_does_not_exist_is_a_404(owner):
    assert owner.get("/ai/BTCUSDT/?market=moon").status_code == 404


# --- notes ------------------------------------------------------------------------------------

def test_a_note_posted_with_htmx_is_stored_and_the_notes_partial_returns(owner, trader, db):
    answer = owner.post("/ai/btcusdt/notes/", {"text": "Whales are buying", "score": "0.7",
                                               "market": "spot"}, **HTMX)

    html = answer.content.decode()
    assert answer.status_code == 200
    assert "<html" not in html
    assert 'id="ai-notes"' in html
    assert "Note added" in html
    assert "Whales are buying" in html
    note = SentimentItem.objects.get()
    assert (note.source, note.symbol, note.author, note.score) == ("manual", "BTCUSDT",
                                                                  trader, 0.7)


def test_a_note_posted_without_javascript_redirects_to_the_symbol_page(owner, trader, db):
    answer = owner.post("/ai/BTCUSDT/notes/", {"text": "Looks like a breakout", "score": ""})

    assert answer.status_code == 302
    assert answer["Location"] == "/ai/BTCUSDT/"
    note = SentimentItem.objects.get()
    assert (note.author, note.source) == (trader, "manual")
    assert note.score > 0  # scored from its words
    assert "Note on BTCUSDT added" in owner.get(answer["Location"]).content.decode()


@pytest.mark.parametrize(("posted", "field", "words"), [
    ({"text": "   ", "score": ""}, "text", "write the note first"),
    ({"text": "Too sure", "score": "2"}, "score", "a score is between -1 (negative) and 1"),
])
def test_a_refused_note_says_why_next_to_its_field(owner, db, posted, field, words):
    htmx = owner.post("/ai/BTCUSDT/notes/", posted, **HTMX).content.decode()
    plain = owner.post("/ai/BTCUSDT/notes/", posted)

    assert words in field_row(htmx, field)
    assert plain.status_code == 400
    assert words in field_row(plain.content.decode(), field)
    assert 'id="ai-latest"' in plain.content.decode()  # the whole page, form kept
    assert not SentimentItem.objects.exists()


def test_a_notes_author_is_shown_to_the_author_and_staff_only(owner, outsider, staff, analysed):
    for_author = owner.get("/ai/BTCUSDT/").content.decode()
    for_other = outsider.get("/ai/BTCUSDT/").content.decode()
    for_staff = staff_client(staff).get("/ai/BTCUSDT/").content.decode()

    assert "by trader" in for_author
    assert "by trader" in for_staff
    assert "Funding looks overheated" in for_other
    assert "-0.50" in for_other
    assert "by trader" not in for_other
    assert "ai-author" not in for_other


# --- the conversation -------------------------------------------------------------------------

def test_the_conversation_reads_like_a_transcript_with_fallbacks_marked(outsider, analysed):
    failed = advisor_call(outcome="unreachable", model_digest="",
                          error="could not reach http://127.0.0.1:11434: connection refused")

    page = outsider.get("/ai/btcusdt/conversation/").content.decode()

    answered = page.split(f'data-call-id="{analysed["call"].pk}"')[1].split("</article>")[0]
    assert advisor.SYSTEM_PROMPT[:60] in answered
    assert "Symbol: BTCUSDT" in answered
    assert "Bitcoin ETF inflows soar" in answered
    assert "<details>" in answered
    assert "<pre>" in answered
    assert "&quot;take_profit&quot;: 171.25" in answered  # the raw output, escaped
    assert "ai-action-buy" in answered
    assert "171.25" in answered
    assert "0.72" in answered
    assert "The trend and the news agree." in answered
    assert "llama3.2:3b" in answered
    assert "@a80c4f17acd5<" in answered
    assert advisor.PROMPT_VERSION in answered
    assert "1834 ms" in answered
    fallback = page.split(f'data-call-id="{failed.pk}"')[1].split("</article>")[0]
    assert "Fallback: server unreachable." in fallback
    assert "connection refused" in fallback
    assert page.index(f'data-call-id="{failed.pk}"') < page.index(
        f'data-call-id="{analysed["call"].pk}"')  # newest first


def test_the_conversation_shows_20_calls_a_page(owner, db):
    for _ in range(23):
        advisor_call(outcome="disabled")

    first = owner.get("/ai/BTCUSDT/conversation/").content.decode()
    second = owner.get("/ai/BTCUSDT/conversation/?page=2").content.decode()

    assert first.count("data-call-id=") == 20
    assert second.count("data-call-id=") == 3
    assert "page 1 of 2" in first
    assert "advisor off" in first


def test_the_conversation_of_a_symbol_never_asked_says_so(owner, db):
    page = owner.get("/ai/DOGEUSDT/conversation/")

    assert page.status_code == 200
    assert "The advisor has not been asked about DOGEUSDT yet." in page.content.decode()


def test_one_call_has_its_own_page_and_an_unknown_one_is_a_404(owner, analysed):
    call = analysed["call"]

    page = owner.get(f"/ai/calls/{call.pk}/").content.decode()

    assert f'data-call-id="{call.pk}"' in page
    assert "<details open>" in page
    assert "The trend and the news agree." in page
    assert 'href="/ai/BTCUSDT/conversation/"' in page
    assert owner.get(f"/ai/calls/{call.pk + 1000}/").status_code == 404


# --- access -----------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/ai/", "/ai/BTCUSDT/", "/ai/BTCUSDT/latest/",
                                 "/ai/BTCUSDT/conversation/", "/ai/calls/1/"])
def test_every_page_asks_for_a_login(client, url):
    answer = client.get(url)

    assert answer.status_code == 302
    assert answer["Location"].startswith("/accounts/login/")


def test_a_note_needs_a_login(client, db):
    answer = client.post("/ai/BTCUSDT/notes/", {"text": "anonymous"})

    assert answer.status_code == 302
    assert not SentimentItem.objects.exists()

