"""The AI analyses API: analyses, advisor calls and sentiment items are shared market data every
signed-in trader reads; a note's author is private; notes are added through the service and
refused in words; an analysis on demand is for staff."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from rest_framework.test import APIClient

from bots.models import AdvisorCall, AISymbolAnalysis, NewsFeed, SentimentItem
from bots.models import TechnicalAnalysisRecord as Technical
from tests.backtests.test_runs import store_candles
from tests.support.api import field_errors, known_symbols

pytestmark = pytest.mark.django_db



@pytest.fixture(autouse=True)
def _notes_name_known_symbols(db):
    known_symbols("BTCUSDT", "ETHUSDT")  # a note must be about a symbol the platform knows

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def boss(staff):
    client = APIClient()
    client.force_login(staff)
    return client


@pytest.fixture
def analyses(db):
    """An older BTCUSDT hold (advisor answered) and a newer ETHUSDT 4h buy (advisor off)."""
    technical = Technical.objects.create(
        symbol="BTCUSDT", interval="1h", as_of=T0, close=D("26123.4500000000"), trend="up",
        strength=0.6, score=0.6, data={"rsi": 61.5})
    answered = AdvisorCall.objects.create(
        symbol="BTCUSDT", outcome="answered", prompt_version="advisor-v1", model="llama3.2:3b",
        model_digest="sha256:abc", messages=[{"role": "user", "content": "BTCUSDT?"}],
        inputs={"technical": {"score": 0.6}}, raw_output='{"action": "hold"}',
        advice={"action": "hold", "confidence": 0.7}, latency_ms=812)
    off = AdvisorCall.objects.create(symbol="ETHUSDT", outcome="disabled",
                                     prompt_version="advisor-v1", error="advisor off")
    btc = AISymbolAnalysis.objects.create(
        symbol="BTCUSDT", interval="1h", as_of=T0, technical=technical, technical_score=0.6,
        sentiment_score=0.2, sentiment_confidence=0.5, per_source={"news": 0.2},
        sources=[{"id": 1, "source": "news", "score": 0.2, "text": "Bitcoin rallies"}],
        advisor=answered, combined_score=0.44, action="hold", confidence=0.7,
        reasoning="trend up; the advisor vetoes")
    eth = AISymbolAnalysis.objects.create(
        symbol="ETHUSDT", interval="4h", as_of=T0 + timedelta(hours=4), advisor=off,
        combined_score=0.5, action="buy", confidence=0.5, reasoning="technical only")
    return btc, eth


@pytest.fixture
def items(trader):
    """A headline from a feed, a market item, and the trader's note (about ETHUSDT)."""
    feed = NewsFeed.objects.create(name="wire", url="https://news.example/rss")
    news = SentimentItem.objects.create(
        source="news", symbol="BTCUSDT", score=0.6, text="Bitcoin surges", feed=feed,
        link="https://news.example/a1", guid="a1", published_at=T0)
    market = SentimentItem.objects.create(source="market", symbol="BTCUSDT", score=-0.1,
                                          text="momentum fades",
                                          published_at=T0 + timedelta(hours=1))
    note = SentimentItem.objects.create(source="manual", symbol="ETHUSDT", score=0.3,
                                        text="ETH looks strong", author=trader,
                                        published_at=T0 + timedelta(hours=2))
    return news, market, note


def ids(answer) -> list[int]:
    assert answer.status_code == 200, answer.json()
    return [row["id"] for row in answer.json()["results"]]


# --- nobody signed in --------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "url"), [
    ("get", "/api/ai/analyses/"), ("get", "/api/ai/advisor-calls/"),
    ("get", "/api/ai/sentiment-items/"), ("get", "/api/ai/notes/"),
    ("post", "/api/ai/notes/"), ("post", "/api/ai/analyse/"),
])
def test_it_requires_a_signed_in_user(method, url):
    answer = getattr(APIClient(), method)(url, {"symbol": "BTCUSDT", "text": "x"}, format="json")

    assert answer.status_code in (401, 403)
    assert not SentimentItem.objects.exists()


# --- analyses ----------------------------------------------------------------------------------

def test_analyses_are_listed_newest_first_to_every_trader(owner, outsider, analyses):
    btc, eth = analyses

    mine, theirs = owner.get("/api/ai/analyses/").json(), outsider.get("/api/ai/analyses/")

    assert [row["id"] for row in mine["results"]] == [eth.pk, btc.pk]
    assert mine["count"] == 2  # paginated like the other lists
    assert ids(theirs) == [eth.pk, btc.pk]  # shared market data


def test_an_analysis_has_its_technical_part_and_the_advisors_summary(owner, analyses):
    btc, _ = analyses

    answer = owner.get(f"/api/ai/analyses/{btc.pk}/").json()

    assert answer["as_of"] == "2026-11-20T12:00:00Z"
    assert (answer["action"], answer["combined_score"]) == ("hold", 0.44)
    assert answer["per_source"] == {"news": 0.2}
    assert answer["sources"][0]["text"] == "Bitcoin rallies"
    assert answer["technical"] == {"trend": "up", "strength": 0.6, "score": 0.6,
                                   "close": "26123.45", "data": {"rsi": 61.5}}
    assert answer["advisor"] == {"id": btc.advisor_id, "outcome": "answered",
                                 "model": "llama3.2:3b", "prompt_version": "advisor-v1",
                                 "latency_ms": 812,
                                 "advice": {"action": "hold", "confidence": 0.7}}


def test_an_analysis_without_technical_part_shows_null(owner, analyses):
    _, eth = analyses

    answer = owner.get(f"/api/ai/analyses/{eth.pk}/").json()

    assert answer["technical"] is None
    assert answer["advisor"]["outcome"] == "disabled"


@pytest.mark.parametrize(("query", "expected"), [
    ("symbol=btcusdt", ["BTCUSDT"]),
    ("market=spot", ["ETHUSDT", "BTCUSDT"]),
    ("market=futures", []),
    ("interval=4h", ["ETHUSDT"]),
    ("action=BUY", ["ETHUSDT"]),
    ("since=2026-11-20T13:00Z", ["ETHUSDT"]),
    ("until=2026-11-20T12:00:00Z", ["BTCUSDT"]),
    ("since=2026-11-20T12:00&until=2026-11-20T16:00", ["ETHUSDT", "BTCUSDT"]),
])
def test_analyses_are_filtered(owner, analyses, query, expected):
    answer = owner.get(f"/api/ai/analyses/?{query}")

    assert [row["symbol"] for row in answer.json()["results"]] == expected


@pytest.mark.parametrize("given", ["yesterday", "2026-13-01T00:00Z"])
def test_a_time_that_is_not_one_is_refused_in_words(owner, analyses, given):
    answer = owner.get(f"/api/ai/analyses/?since={given}")

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {"since": ["an ISO 8601 time, e.g. 2026-11-21T12:00Z"]}


# --- advisor calls -----------------------------------------------------------------------------

def test_advisor_calls_are_listed_and_retrieved_whole(owner, analyses):
    btc, eth = analyses

    listed = ids(owner.get("/api/ai/advisor-calls/"))
    call = owner.get(f"/api/ai/advisor-calls/{btc.advisor_id}/").json()

    assert listed == [eth.advisor_id, btc.advisor_id]
    assert call["messages"] == [{"role": "user", "content": "BTCUSDT?"}]
    assert call["inputs"] == {"technical": {"score": 0.6}}
    assert call["raw_output"] == '{"action": "hold"}'
    assert (call["model"], call["model_digest"], call["latency_ms"]) == ("llama3.2:3b",
                                                                        "sha256:abc", 812)
    assert {"advice", "error", "prompt_version", "created_at", "outcome"} <= call.keys()


@pytest.mark.parametrize(("query", "expected"), [
    ("symbol=ethusdt", ["ETHUSDT"]), ("outcome=answered", ["BTCUSDT"]), ("outcome=timeout", []),
])
def test_advisor_calls_are_filtered(owner, analyses, query, expected):
    answer = owner.get(f"/api/ai/advisor-calls/?{query}")

    assert [row["symbol"] for row in answer.json()["results"]] == expected


# --- sentiment items ---------------------------------------------------------------------------

def test_sentiment_items_are_listed_newest_first_with_their_feed(owner, items):
    news, market, note = items

    listed = owner.get("/api/ai/sentiment-items/").json()["results"]
    headline = owner.get(f"/api/ai/sentiment-items/{news.pk}/").json()

    assert [row["id"] for row in listed] == [note.pk, market.pk, news.pk]
    assert headline == {"id": news.pk, "source": "news", "symbol": "BTCUSDT", "score": 0.6,
                        "text": "Bitcoin surges", "link": "https://news.example/a1",
                        "published_at": "2026-11-20T12:00:00Z", "feed": "wire", "author": None}


@pytest.mark.parametrize(("query", "expected"), [
    ("symbol=btcusdt", ["market", "news"]),
    ("source=manual", ["manual"]),
    ("since=2026-11-20T13:00Z", ["manual", "market"]),
    ("until=2026-11-20T12:30Z", ["news"]),
    ("symbol=BTCUSDT&since=2026-11-20T12:30Z", ["market"]),
])
def test_sentiment_items_are_filtered(owner, items, query, expected):
    answer = owner.get(f"/api/ai/sentiment-items/?{query}")

    assert [row["source"] for row in answer.json()["results"]] == expected


def test_a_notes_author_is_shown_only_to_the_author(owner, outsider, items):
    *_, note = items

    mine = owner.get(f"/api/ai/sentiment-items/{note.pk}/").json()
    theirs = outsider.get(f"/api/ai/sentiment-items/{note.pk}/").json()
    listed = outsider.get("/api/ai/sentiment-items/?source=manual").json()["results"]

    assert mine["author"] == "trader"
    assert theirs["author"] is None
    assert theirs["text"] == "ETH looks strong"  # the note itself is shared market data
    assert listed[0]["author"] is None


# --- notes -------------------------------------------------------------------------------------

def test_a_note_is_added_and_scored_unless_given_a_score(owner, trader):
    scored = owner.post("/api/ai/notes/", {"symbol": "btcusdt", "text": "Bitcoin looks bullish"},
                        format="json")
    given = owner.post("/api/ai/notes/", {"symbol": "BTCUSDT", "text": "meh", "score": -0.5},
                       format="json")

    assert scored.status_code == 201, scored.json()
    assert scored.json()["symbol"] == "BTCUSDT"
    assert scored.json()["score"] > 0
    assert scored.json()["author"] == "trader"
    assert given.json()["score"] == -0.5
    note = SentimentItem.objects.get(pk=scored.json()["id"])
    assert (note.source, note.author) == ("manual", trader)


@pytest.mark.parametrize(("body", "words"), [
    ({"symbol": "BTCUSDT", "text": "   "}, "write the note first"),
    ({"symbol": "BTCUSDT", "text": "up", "score": 2},
     "a score is between -1 (negative) and 1 (positive)"),
])
def test_a_note_is_refused_in_words(owner, body, words):
    answer = owner.post("/api/ai/notes/", body, format="json")

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {"non_field_errors": [words]}
    assert not SentimentItem.objects.exists()


def test_a_note_without_symbol_is_refused_like_any_validation_error(owner):
    answer = owner.post("/api/ai/notes/", {"text": "up"}, format="json")

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {"symbol": ["This field is required."]}


def test_a_trader_lists_only_their_own_notes(owner, outsider, items):
    *_, note = items
    outsider.post("/api/ai/notes/", {"symbol": "BTCUSDT", "text": "dumping"}, format="json")

    mine = ids(owner.get("/api/ai/notes/"))
    theirs = outsider.get("/api/ai/notes/").json()["results"]

    assert mine == [note.pk]  # not the headline, the market item, or the outsider's note
    assert [row["text"] for row in theirs] == ["dumping"]
    assert theirs[0]["author"] == "outsider"
    assert ids(owner.get("/api/ai/notes/?symbol=BTCUSDT")) == []


def test_a_note_cannot_be_deleted(owner, items):
    *_, note = items

    assert owner.delete(f"/api/ai/notes/{note.pk}/").status_code == 404  # no such route
    assert owner.delete("/api/ai/notes/").status_code == 405
    assert SentimentItem.objects.filter(pk=note.pk).exists()


# --- an analysis on demand ---------------------------------------------------------------------

@pytest.fixture
def btcusdt(db, settings):
    """A known symbol with 400 stored hourly candles; the advisor off whatever the host."""
    settings.AI_ADVISOR_ENABLED = False
    known_symbols("BTCUSDT")  # (the notes' fixture stores it already)
    store_candles(400)


def test_staff_run_an_analysis_and_get_it_back(boss, btcusdt):
    answer = boss.post("/api/ai/analyse/", {"symbol": "btcusdt", "interval": "1h"},
                       format="json")

    assert answer.status_code == 201, answer.json()
    stored = AISymbolAnalysis.objects.get()
    body = answer.json()
    assert (body["id"], body["symbol"], body["market"], body["interval"]) == (
        stored.pk, "BTCUSDT", "spot", "1h")
    assert body["action"] in ("buy", "sell", "hold")
    assert body["advisor"]["outcome"] == "disabled"
    assert body["technical"]["close"] == str(stored.technical.close.normalize())
    assert isinstance(body["technical"]["close"], str)


def test_a_trader_who_is_not_staff_cannot_run_an_analysis(owner, btcusdt):
    answer = owner.post("/api/ai/analyse/", {"symbol": "BTCUSDT"}, format="json")

    assert answer.status_code == 403
    assert "only staff" in answer.json()["detail"]
    assert not AISymbolAnalysis.objects.exists()


def test_an_unknown_symbol_is_refused(boss, btcusdt):
    answer = boss.post("/api/ai/analyse/", {"symbol": "NOPEUSDT"}, format="json")

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {"symbol": ["no spot symbol NOPEUSDT is known"]}


def test_too_few_candles_are_refused_in_words(boss, btcusdt):
    answer = boss.post("/api/ai/analyse/", {"symbol": "BTCUSDT", "interval": "4h"},
                       format="json")

    assert answer.status_code == 400
    assert field_errors(answer.json()) == {"non_field_errors": [
        "0 stored 4h candles of BTCUSDT: the analysis needs 50 (backfill_klines)"]}
    assert not AISymbolAnalysis.objects.exists()
