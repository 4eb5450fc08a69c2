"""AI-assisted analysis workflows: poll news feeds into scored headlines, take a trader's notes,
and analyse a symbol (technical analysis + sentiment aggregate + the LLM advisor, combined)
into point-in-time rows. ``bots.analysis`` computes; this module fetches, stores and tells
the pages. The AI never trades here: a strategy (``ai_combined``) reads what is stored.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from backtests.engine.data import interval_step
from bots.analysis import advisor, sentiment, technical
from bots.analysis.combined import Weights, combine
from bots.analysis.feeds import ParsedFeed, parse_feed
from bots.models import (
    AdvisorCall,
    AISymbolAnalysis,
    Bot,
    NewsFeed,
    SentimentItem,
    TechnicalAnalysisRecord,
)
from bots.strategies.builtin.ai_combined import (
    ADVISOR_ACTION,
    ADVISOR_CONFIDENCE,
    AI_COLUMNS,
    ANALYSIS_ID,
    SENTIMENT,
)
from bots.window import last_closed_open_time, stored_window
from marketdata.models import Symbol, WatchedSymbol
from marketdata.stream_sink import symbol_group
from tradingsite.events import publish_to_group_on_commit

logger = logging.getLogger(__name__)

ANALYSIS_EVENT = "ai.analysis"
MAX_FEED_BYTES = 2 * 1024 * 1024  # a news feed is kilobytes; more is not a feed
ANALYSIS_CANDLES = 200
SENTIMENT_WINDOW = timedelta(hours=48)
HEADLINES_FOR_ADVISOR = 10
USER_AGENT = "tradingsite-news/1.0"


class AnalysisRefused(Exception):
    """The analysis cannot run as asked (no candles, unknown symbol), in words."""


# --- news --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PollReport:
    feed: str
    new_items: int
    headlines: int
    problem: str = ""


def news_poll_all() -> list[PollReport]:
    """Poll every enabled feed; one feed's failure never stops the others."""
    matcher = _matcher()  # the followed symbols, read once for all feeds
    return [news_poll(feed=feed, matcher=matcher)
            for feed in NewsFeed.objects.filter(enabled=True)]


def news_poll(*, feed: NewsFeed, matcher: sentiment.SymbolMatcher | None = None) -> PollReport:
    """Fetch ``feed`` (conditional GET), parse it, match each headline to the platform's
    symbols and store it scored, once per symbol. A feed that cannot be read or parsed is
    recorded on the feed, in words."""
    now = timezone.now()
    try:
        content = _fetch(feed)
    except OSError as error:  # URLError, timeouts, refused connections
        return _poll_failed(feed, now, f"could not fetch {feed.url}: {_reason(error)}")
    if content is None:  # 304: nothing new since the last poll
        NewsFeed.objects.filter(pk=feed.pk).update(last_polled_at=now, last_problem="",
                                                    last_item_count=0)
        return PollReport(feed=feed.name, new_items=0, headlines=0)
    parsed = parse_feed(content, url=feed.url)
    stored = _store_headlines(feed, parsed, matcher or _matcher(), now)
    NewsFeed.objects.filter(pk=feed.pk).update(
        last_polled_at=now, last_problem=parsed.problem[:500], last_item_count=stored,
        etag=feed.etag, modified=feed.modified)
    return PollReport(feed=feed.name, new_items=stored, headlines=len(parsed.headlines),
                      problem=parsed.problem)


def _fetch(feed: NewsFeed) -> bytes | None:
    request = urllib.request.Request(feed.url, headers={"User-Agent": USER_AGENT})
    if feed.etag:
        request.add_header("If-None-Match", feed.etag)
    if feed.modified:
        request.add_header("If-Modified-Since", feed.modified)
    try:
        with urllib.request.urlopen(request, timeout=settings.NEWS_FETCH_TIMEOUT) as answer:
            content = answer.read(MAX_FEED_BYTES + 1)
            feed.etag = (answer.headers.get("ETag") or "")[:200]
            feed.modified = (answer.headers.get("Last-Modified") or "")[:100]
    except urllib.error.HTTPError as error:
        if error.code == 304:
            return None
        raise OSError(f"HTTP {error.code} {error.reason}") from None
    if len(content) > MAX_FEED_BYTES:
        raise OSError(f"larger than {MAX_FEED_BYTES // 1024 // 1024} MiB: not a news feed")
    return content


def _reason(error: OSError) -> str:
    reason = getattr(error, "reason", None) or error
    return str(reason)


def _poll_failed(feed: NewsFeed, now: datetime, problem: str) -> PollReport:
    logger.warning("news feed %s: %s", feed.name, problem)
    NewsFeed.objects.filter(pk=feed.pk).update(last_polled_at=now, last_problem=problem[:500])
    return PollReport(feed=feed.name, new_items=0, headlines=0, problem=problem)


def _matcher() -> sentiment.SymbolMatcher:
    """Headlines are matched to the symbols the platform follows: watched ones and those
    bots trade (matching every listed pair would tie "bitcoin" to a hundred markets)."""
    followed = set(WatchedSymbol.objects.active().values_list("symbol", flat=True))
    followed |= set(Bot.objects.values_list("symbol", flat=True))
    rows = Symbol.objects.filter(name__in=followed).values_list(
        "name", "base_asset", "quote_asset").distinct()
    return sentiment.SymbolMatcher.of(sorted(set(rows)))


def _store_headlines(feed: NewsFeed, parsed: ParsedFeed, matcher: sentiment.SymbolMatcher,
                     now: datetime) -> int:
    stored = 0
    for headline in parsed.headlines:
        symbols = matcher.match(f"{headline.title}. {headline.summary}")
        if not symbols:
            continue  # about nothing the platform follows
        score = sentiment.score_text(headline.title)
        for symbol in symbols:
            stored += _store_once(feed, headline, symbol, score, now)
    return stored


def _store_once(feed, headline, symbol: str, score: float, now: datetime) -> int:
    try:
        with transaction.atomic():
            SentimentItem.objects.create(
                source=SentimentItem.Source.NEWS, symbol=symbol, score=score,
                text=headline.title[:1000], link=headline.link[:1000],
                guid=headline.guid[:300], feed=feed,
                # Never later than when we first saw it: a feed's clock may run ahead.
                published_at=min(headline.published or now, now))
    except IntegrityError:
        return 0  # seen in an earlier poll
    return 1


def note_add(*, author, symbol: str, text: str, score: float | None = None) -> SentimentItem:
    """A trader's note about ``symbol``, scored by VADER unless they give a score."""
    text = (text or "").strip()
    if not text:
        raise AnalysisRefused("write the note first")
    if score is not None and not -1 <= score <= 1:
        raise AnalysisRefused("a score is between -1 (negative) and 1 (positive)")
    symbol = symbol.strip().upper()
    if not Symbol.objects.filter(name=symbol).exists():
        raise AnalysisRefused(f"{symbol or 'the symbol'} is not a known symbol")
    return SentimentItem.objects.create(
        source=SentimentItem.Source.MANUAL, symbol=symbol, author=author,
        score=sentiment.score_text(text) if score is None else score, text=text[:2000],
        published_at=timezone.now())


# --- analysis ----------------------------------------------------------------------------------

def analyse_watched() -> int:
    """Analyse every active watched spot symbol (beat, every AI_ANALYSIS_MINUTES)."""
    done = 0
    for symbol in WatchedSymbol.objects.active().filter(market="spot"):
        try:
            symbol_analyse(symbol=symbol.symbol, interval=settings.AI_ANALYSIS_INTERVAL)
            done += 1
        except AnalysisRefused as refused:
            logger.info("AI analysis of %s skipped: %s", symbol.symbol, refused)
    return done


def symbol_analyse(*, symbol: str, interval: str, market: str = "spot",
                   now: datetime | None = None,
                   advisor_settings: advisor.AdvisorSettings | None = None) -> AISymbolAnalysis:
    """Analyse ``symbol`` at the last closed ``interval`` candle: store the technical
    analysis, a market sentiment item, the advisor's call and the combined analysis, then
    tell the symbol's pages (``ai.analysis``). The advisor is asked outside any transaction
    (it may take OLLAMA_TIMEOUT seconds)."""
    now = now or timezone.now()
    candles = stored_window(market=market, symbol=symbol, interval=interval,
                            last_open_time=last_closed_open_time(interval, now),
                            count=ANALYSIS_CANDLES)
    if len(candles) < technical.MIN_CANDLES:
        raise AnalysisRefused(f"{len(candles)} stored {interval} candles of {symbol}: the "
                              f"analysis needs {technical.MIN_CANDLES} (backfill_klines)")
    analysis = technical.analyse(candles, symbol=symbol, interval=interval,
                                 step=interval_step(interval).to_pytimedelta())
    record = _store_technical(analysis, market)
    _store_market_item(symbol, candles, now)
    aggregate, items = _sentiment(symbol, now)
    call = _ask_advisor(symbol, analysis, aggregate, items, advisor_settings)
    return _store_analysis(record, analysis, aggregate, items, call, market)


def _store_technical(analysis, market: str) -> TechnicalAnalysisRecord:
    record, _ = TechnicalAnalysisRecord.objects.update_or_create(
        market=market, symbol=analysis.symbol, interval=analysis.interval,
        as_of=analysis.as_of,
        defaults={"close": analysis.close, "trend": analysis.trend,
                  "strength": analysis.strength, "score": analysis.score,
                  "data": analysis.as_dict()})
    return record


def _store_market_item(symbol: str, candles, now: datetime) -> None:
    item = sentiment.market_item(candles, now=now)
    if item is not None:
        SentimentItem.objects.create(source=SentimentItem.Source.MARKET, symbol=symbol,
                                     score=item.score, text=item.text, published_at=now)


def _sentiment(symbol: str, now: datetime):
    """The aggregate of the symbol's items known at ``now`` (never later ones)."""
    rows = list(SentimentItem.objects.about(symbol).between(now - SENTIMENT_WINDOW, now))
    items = [sentiment.Item(source=row.source, score=row.score, at=row.published_at,
                            text=row.text) for row in rows]
    return sentiment.aggregate(items, now=now), rows


def _ask_advisor(symbol: str, analysis, aggregate, rows, given) -> AdvisorCall:
    headlines = [{"title": row.text, "published": row.published_at.isoformat(),
                  "score": round(row.score, 3)}
                 for row in rows if row.source == SentimentItem.Source.NEWS]
    call = advisor.ask_advisor(given or advisor_settings(), symbol=symbol,
                               technical=analysis.as_dict(), sentiment=aggregate.as_dict(),
                               headlines=headlines[:HEADLINES_FOR_ADVISOR])
    return AdvisorCall.objects.create(
        symbol=symbol, outcome=call.outcome, prompt_version=call.prompt_version,
        messages=call.messages, inputs=call.inputs, model=call.model,
        model_digest=call.model_digest, raw_output=call.raw_output,
        advice=call.advice.as_dict() if call.advice else None, latency_ms=call.latency_ms,
        error=call.error[:500])


def advisor_settings() -> advisor.AdvisorSettings:
    return advisor.AdvisorSettings(host=settings.OLLAMA_HOST or "http://127.0.0.1:11434",
                                   model=settings.OLLAMA_MODEL,
                                   timeout=settings.OLLAMA_TIMEOUT,
                                   enabled=settings.AI_ADVISOR_ENABLED)


@transaction.atomic
def _store_analysis(record, analysis, aggregate, rows, call: AdvisorCall,
                    market: str) -> AISymbolAnalysis:
    decided = combine(technical_score=analysis.score, sentiment_score=aggregate.score,
                      advice=call.advice if call.outcome == AdvisorCall.Outcome.ANSWERED
                      else None, advisor_outcome=call.outcome, weights=Weights())
    stored = AISymbolAnalysis.objects.create(
        symbol=analysis.symbol, market=market, interval=analysis.interval, as_of=analysis.as_of,
        technical=record, technical_score=analysis.score, sentiment_score=aggregate.score,
        sentiment_confidence=aggregate.confidence, per_source=aggregate.per_source,
        sources=[{"id": row.pk, "source": row.source, "score": round(row.score, 4),
                  "text": row.text[:300]} for row in rows[:50]],
        advisor=call, combined_score=decided.score, action=decided.action,
        confidence=decided.confidence,
        reasoning=f"{aggregate.reasoning} {decided.reasoning}")
    publish_to_group_on_commit(group=symbol_group(analysis.symbol), event_type=ANALYSIS_EVENT,
                               data=analysis_event(stored))
    return stored


def analysis_event(analysis: AISymbolAnalysis) -> dict:
    return {"symbol": analysis.symbol, "market": analysis.market,
            "interval": analysis.interval,
            "as_of": analysis.as_of.isoformat(), "action": analysis.action,
            "combined_score": round(analysis.combined_score, 4),
            "technical_score": round(analysis.technical_score, 4),
            "sentiment_score": round(analysis.sentiment_score, 4),
            "confidence": round(analysis.confidence, 4),
            "advisor": analysis.advisor.outcome if analysis.advisor else "not asked"}


# --- what a strategy reads: the analyses known at each candle's close ----------------------------

def with_ai_analyses(strategy, candles, *, market: str, symbol: str,
                     interval: str) -> tuple[pd.DataFrame, float]:
    """``candles`` with the stored analyses of ``symbol`` written in (``AI_COLUMNS``) when
    ``strategy`` (an instance or its class) reads them: at each candle, the latest analysis
    whose ``as_of`` is at or before the candle's close, so a backtest replays what was known
    then and never recomputes sentiment with hindsight.
    Returns the frame and the share of candles that had one (the rest: technical only)."""
    if not strategy.reads_ai_analyses or candles.empty:
        return candles, 1.0
    closes = candles["open_time"] + interval_step(interval)
    known = _analyses_until(market, symbol, closes.iloc[-1].to_pydatetime())
    frame = candles.copy()
    if known.empty:
        for column in AI_COLUMNS:
            frame[column] = np.nan
        return frame, 0.0
    matched = pd.merge_asof(pd.DataFrame({"close_time": closes}), known, left_on="close_time",
                            right_on="as_of", direction="backward")
    frame[SENTIMENT] = matched["sentiment"].to_numpy()
    frame[ADVISOR_ACTION] = matched["advisor_action"].to_numpy()
    frame[ADVISOR_CONFIDENCE] = matched["advisor_confidence"].to_numpy()
    frame[ANALYSIS_ID] = matched["id"].to_numpy(dtype="float64")
    return frame, float(matched["as_of"].notna().mean())


def _analyses_until(market: str, symbol: str, until: datetime) -> pd.DataFrame:
    rows = (AISymbolAnalysis.objects.filter(market=market, symbol=symbol, as_of__lte=until)
            .select_related("advisor").order_by("as_of", "pk"))
    records = [{"as_of": row.as_of, "id": row.pk, "sentiment": row.sentiment_score,
                "advisor_action": _answered(row.advisor, "action"),
                "advisor_confidence": _answered(row.advisor, "confidence")} for row in rows]
    frame = pd.DataFrame(records, columns=["as_of", "id", "sentiment", "advisor_action",
                                           "advisor_confidence"])
    frame["as_of"] = pd.to_datetime(frame["as_of"], utc=True)
    frame["advisor_confidence"] = pd.to_numeric(frame["advisor_confidence"])
    # Several analyses at one close (an interval re-run): the last stored wins.
    return frame.drop_duplicates("as_of", keep="last")


def _answered(call: AdvisorCall | None, key: str):
    if call is None or call.outcome != AdvisorCall.Outcome.ANSWERED or not call.advice:
        return None
    return call.advice.get(key)
