"""AI-assisted analysis on the platform: news feeds polled over loopback into scored,
de-duplicated items; notes; and a symbol's analysis with the LLM advisor answering,
misbehaving or absent (a local server speaking Ollama's API), always ending in a stored,
correct decision or fallback."""

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from backtests.engine.optimise import evaluate, rank
from backtests.services import backtest_run_create, backtest_run_execute, stored_candles
from bots import ai
from bots.analysis.advisor import AdvisorSettings
from bots.models import AdvisorCall, AISymbolAnalysis, NewsFeed, SentimentItem
from bots.strategies import get_strategy
from bots.window import stored_window
from marketdata.models import Symbol, WatchedSymbol
from tests.backtests.test_optimisation import config as optimisation_config
from tests.backtests.test_optimisation import run_inline  # noqa: F401, F811 (a fixture)
from tests.backtests.test_runs import FIRST, store_candles
from tests.support.api import known_symbols
from tests.support.fake_ollama import refused_url

pytestmark = pytest.mark.django_db

NOW = FIRST + timedelta(hours=300, minutes=5)  # just after the 300th stored hourly close

RSS = """<?xml version="1.0"?><rss version="2.0"><channel><title>Crypto wire</title>
<item><guid>a1</guid><title>Bitcoin surges to record high as ETF inflows soar</title>
<link>https://news.example/a1</link><pubDate>{date}</pubDate></item>
<item><guid>a2</guid><title>Ether plunges after exchange hack</title>
<link>https://news.example/a2</link><pubDate>{date}</pubDate></item>
<item><guid>a3</guid><title>Dogecoin memes trend again</title>
<link>https://news.example/a3</link><pubDate>{date}</pubDate></item>
<item><guid>a1</guid><title>Bitcoin surges to record high as ETF inflows soar</title>
<link>https://news.example/a1</link><pubDate>{date}</pubDate></item>
</channel></rss>"""


@pytest.fixture
def followed(db):
    for name, base in (("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")):
        Symbol.objects.create(market="spot", name=name, status="TRADING", base_asset=base,
                              quote_asset="USDT", synced_at=FIRST, exchange_info={})
        WatchedSymbol.objects.update_or_create(market="spot", symbol=name,
                                               defaults={"intervals": "1h", "active": True})


def rss(when: datetime = FIRST) -> str:
    return RSS.format(date=when.strftime("%a, %d %b %Y %H:%M:%S +0000"))


# --- news --------------------------------------------------------------------------------------

def test_a_feed_is_polled_matched_scored_and_stored_once(followed, feed_server):
    feed = NewsFeed.objects.create(name="wire", url=feed_server.serve("/wire.xml", rss()))

    report = ai.news_poll(feed=feed)
    again = ai.news_poll(feed=NewsFeed.objects.get(pk=feed.pk))

    items = {item.symbol: item for item in SentimentItem.objects.all()}
    assert set(items) == {"BTCUSDT", "ETHUSDT"}  # Dogecoin is followed by nobody: skipped
    assert items["BTCUSDT"].score > 0.3
    assert items["ETHUSDT"].score < -0.3
    assert (report.headlines, report.new_items, report.problem) == (3, 2, "")
    assert again.new_items == 0
    assert feed_server.hits[-1][1]  # the second poll asked "changed since?" and got a 304
    feed.refresh_from_db()
    assert (feed.last_problem, feed.last_item_count) == ("", 0)


def test_a_feed_with_new_items_adds_only_those(followed, feed_server):
    url = feed_server.serve("/wire.xml", rss())
    feed = NewsFeed.objects.create(name="wire", url=url)
    ai.news_poll(feed=feed)
    feed_server.serve("/wire.xml", rss().replace(
        "<item><guid>a3</guid>", "<item><guid>b1</guid><title>Ethereum rally lifts ETH"
        "</title><link>https://news.example/b1</link></item><item><guid>a3</guid>"))

    report = ai.news_poll(feed=NewsFeed.objects.get(pk=feed.pk))

    assert report.new_items == 1
    assert SentimentItem.objects.filter(text="Ethereum rally lifts ETH", symbol="ETHUSDT").exists()


@pytest.mark.parametrize(("content", "status", "problem"), [
    ("<html><body>Just a page</body></html>", 200, "not an RSS or Atom feed"),
    ("<rss><channel><item><title>Bitcoin rallies</title></chan", 200, "malformed feed"),
    ("gone", 404, "HTTP 404"),
])
def test_a_broken_feed_is_recorded_on_the_feed_in_words(followed, feed_server, content, status,
                                                        problem):
    feed = NewsFeed.objects.create(name="bad", url=feed_server.serve("/bad", content, status))

    report = ai.news_poll(feed=feed)

    feed.refresh_from_db()
    assert problem in report.problem
    assert problem in feed.last_problem
    assert feed.last_polled_at is not None


def test_a_feed_nobody_answers_is_recorded_and_the_others_are_still_polled(followed,
                                                                          feed_server):
    NewsFeed.objects.create(name="down", url=refused_url() + "/rss")
    NewsFeed.objects.create(name="up", url=feed_server.serve("/wire.xml", rss()))

    reports = {report.feed: report for report in ai.news_poll_all()}

    assert "could not fetch" in reports["down"].problem
    assert reports["up"].new_items == 2


def test_a_traders_note_is_scored_unless_they_score_it(trader):
    known_symbols("BTCUSDT")
    scored = ai.note_add(author=trader, symbol="btcusdt", text="Bitcoin looks bullish")
    given = ai.note_add(author=trader, symbol="BTCUSDT", text="meh", score=-0.5)

    assert scored.symbol == "BTCUSDT"
    assert scored.score > 0
    assert given.score == -0.5
    with pytest.raises(ai.AnalysisRefused, match="between -1"):
        ai.note_add(author=trader, symbol="BTCUSDT", text="x", score=3)


# --- a symbol's analysis -----------------------------------------------------------------------

@pytest.fixture
def candles(db):
    return store_candles(400)


def advisor_at(url: str, timeout: float = 5.0, enabled: bool = True) -> AdvisorSettings:
    return AdvisorSettings(host=url, model="llama3.2", timeout=timeout, enabled=enabled)


def analyse(settings: AdvisorSettings) -> AISymbolAnalysis:
    return ai.symbol_analyse(symbol="BTCUSDT", interval="1h", now=NOW,
                             advisor_settings=settings)


def good_answer(action: str) -> str:
    return json.dumps({"action": action, "confidence": 0.8, "stop_loss": 25000,
                       "take_profit": 28000, "reasoning": "trend and news agree"})


def test_an_analysis_stores_every_part_and_the_advisors_answer(candles, fake_ollama):
    fake_ollama.answer(good_answer("hold"))

    analysis = analyse(advisor_at(fake_ollama.url))

    assert analysis.as_of == datetime(2023, 6, 13, 12, 0, tzinfo=UTC)  # the 300th close
    technical = analysis.technical
    assert technical.data["rsi"] is not None
    assert technical.score == pytest.approx(analysis.technical_score)
    call = analysis.advisor
    assert (call.outcome, call.model_digest != "") == (AdvisorCall.Outcome.ANSWERED, True)
    assert call.advice["action"] == "hold"
    assert call.raw_output == good_answer("hold")
    assert call.messages[1]["content"]  # the prompt as sent
    assert analysis.per_source.keys() == {"market"}  # the market item of this analysis
    assert analysis.action in ("buy", "sell", "hold")
    assert "technical" in analysis.reasoning
    sent = fake_ollama.chat_requests[-1]
    assert sent["format"]["properties"]["action"]["enum"] == ["buy", "sell", "hold"]


@pytest.mark.parametrize(("script", "outcome", "words"), [
    (lambda fake: fake.answer("I think you should buy!"), "invalid_json", "not JSON"),
    (lambda fake: fake.answer_slowly(good_answer("buy"), 3), "timeout", "no answer within"),
])
def test_a_misbehaving_advisor_falls_back_to_technical_and_sentiment(candles, fake_ollama,
                                                                    script, outcome, words):
    script(fake_ollama)

    analysis = analyse(advisor_at(fake_ollama.url, timeout=1.0))

    call = analysis.advisor
    assert call.outcome == outcome
    assert words in call.error
    assert call.advice is None
    assert f"did not answer ({outcome})" in analysis.reasoning


def test_an_unreachable_advisor_is_recorded_and_the_analysis_goes_on(candles):
    analysis = analyse(advisor_at(refused_url()))

    assert analysis.advisor.outcome == "unreachable"
    assert "no Ollama server at" in analysis.advisor.error
    assert "technical and sentiment only" in analysis.reasoning


def test_with_the_advisor_off_nothing_is_asked(candles):
    analysis = analyse(advisor_at(refused_url(), enabled=False))

    assert analysis.advisor.outcome == "disabled"


def test_the_sentiment_read_is_point_in_time(candles, trader):
    SentimentItem.objects.create(source="manual", symbol="BTCUSDT", score=0.9,
                                 text="known before", published_at=NOW - timedelta(hours=1))
    SentimentItem.objects.create(source="manual", symbol="BTCUSDT", score=-0.9,
                                 text="written later", published_at=NOW + timedelta(hours=1))

    analysis = analyse(advisor_at(refused_url(), enabled=False))

    texts = [source["text"] for source in analysis.sources]
    assert "known before" in texts
    assert "written later" not in texts
    assert analysis.per_source["manual"] == pytest.approx(0.9)


def test_too_few_candles_are_refused_in_words(db):
    store_candles(20)

    with pytest.raises(ai.AnalysisRefused, match="the analysis needs 50"):
        analyse(advisor_at(refused_url(), enabled=False))


def test_the_watched_symbols_are_analysed_on_schedule(candles, followed, settings):
    settings.AI_ADVISOR_ENABLED = False
    settings.AI_ANALYSIS_INTERVAL = "1h"

    assert ai.analyse_watched() == 1  # BTCUSDT has candles; ETHUSDT has none: skipped
    assert AISymbolAnalysis.objects.get().symbol == "BTCUSDT"


# --- replayed, point in time, by the live bot and the backtester -----------------------------

def stored_analysis(as_of: datetime, sentiment: float, advice: dict | None = None):
    call = None
    if advice is not None:
        call = AdvisorCall.objects.create(symbol="BTCUSDT", outcome="answered",
                                          prompt_version="advisor-v1", advice=advice)
    return AISymbolAnalysis.objects.create(symbol="BTCUSDT", interval="1h", as_of=as_of,
                                           sentiment_score=sentiment, advisor=call)


def test_each_candle_reads_the_latest_analysis_known_at_its_close(candles):
    stored_analysis(FIRST + timedelta(hours=10), 0.5)
    stored_analysis(FIRST + timedelta(hours=12, minutes=30), -0.5,
                    {"action": "sell", "confidence": 0.9})
    frame = stored_window(market="spot", symbol="BTCUSDT", interval="1h",
                          last_open_time=FIRST + timedelta(hours=19), count=20)

    written, share = ai.with_ai_analyses(get_strategy("ai_combined")(), frame, market="spot",
                                         symbol="BTCUSDT", interval="1h")

    sentiment = written["ai_sentiment"].tolist()
    assert all(np.isnan(value) for value in sentiment[:9])  # closes before 10:00
    assert sentiment[9:12] == [0.5, 0.5, 0.5]  # the 10:00 close and those before 12:30
    assert sentiment[12:] == [-0.5] * 8  # 13:00 onwards: the later analysis
    assert written["ai_advisor_action"].iloc[12] == "sell"
    assert share == pytest.approx(11 / 20)


def test_a_strategy_that_reads_no_analyses_gets_its_candles_untouched(candles):
    frame = stored_window(market="spot", symbol="BTCUSDT", interval="1h", last_open_time=None,
                          count=5)

    written, share = ai.with_ai_analyses(get_strategy("sma_cross")(), frame, market="spot",
                                         symbol="BTCUSDT", interval="1h")

    assert written is frame
    assert share == 1.0


def test_a_backtest_replays_the_stored_analyses_and_says_how_much_they_covered(candles,
                                                                             trader):
    for hour in range(100, 400, 10):  # the news swings every ten hours
        stored_analysis(FIRST + timedelta(hours=hour), 0.8 if hour % 20 else -0.8)
    run = backtest_run_create(owner=trader, strategy="ai_combined", params={}, symbol="BTCUSDT",
                              interval="1h", start=None, end=None, settings={})

    backtest_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == "done", run.error
    note = next(n for n in run.results["notes"] if n.startswith("Stored AI analyses"))
    assert "covered 75% of the candles" in note  # from the 100th of 400 hourly closes
    trades = [*run.results["trades"], run.results["open_at_end"]]
    words = [trade["entry_words"] for trade in trades if trade]
    # Before the first analysis the technical score decided alone; after, with the sentiment.
    assert any("no stored analysis: technical only" in said for said in words)
    assert any("sentiment +0.80 x 0.4" in said for said in words), words
    assert not any("nan" in said for said in words)
    exits = [trade["exit_words"] for trade in run.results["trades"]]
    assert any("sentiment -0.80 x 0.4" in said for said in exits), exits


def test_an_optimisation_replays_the_stored_analyses_for_every_candidate(candles, trader,
                                                                         run_inline):  # noqa: F811
    for hour in range(100, 400, 10):
        stored_analysis(FIRST + timedelta(hours=hour), 0.8 if hour % 20 else -0.8)
    space = {"threshold": [0.2, 0.3, 0.4]}

    run = run_inline(trader, strategy="ai_combined", space=space, min_trades=0)

    assert run.status == "done", run.error
    bare = stored_candles(symbol="BTCUSDT", interval="1h")
    replayed, _ = ai.with_ai_analyses(get_strategy("ai_combined"), bare, market="spot",
                                      symbol="BTCUSDT", interval="1h")
    candidates = [{"threshold": value} for value in space["threshold"]]

    def ranking(frame):
        scores = evaluate("ai_combined", candidates, frame, optimisation_config())
        return [score.as_dict() for score in rank(scores, "sharpe", min_trades=0)]

    assert run.results["top"] == ranking(replayed)
    assert ranking(replayed) != ranking(bare)  # the analyses changed what was traded
