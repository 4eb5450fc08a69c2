"""Sentiment: matching text to symbols, scoring it, the market source, and the aggregate."""

import json
import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from bots.analysis.sentiment import (
    SOURCES,
    Item,
    SymbolMatcher,
    aggregate,
    market_item,
    score_text,
)
from tests.support.purity import django_modules_imported_by

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SYMBOLS = [
    ("BTCUSDT", "BTC", "USDT"),
    ("ETHUSDT", "ETH", "USDT"),
    ("ETHBTC", "ETH", "BTC"),
    ("SOLUSDT", "SOL", "USDT"),
    ("OPUSDT", "OP", "USDT"),
]


@pytest.fixture
def matcher():
    return SymbolMatcher.of(SYMBOLS)


def news(score, *, ago=timedelta(), weight=1.0, text="headline"):
    return Item(source="news", score=score, at=NOW - ago, text=text, weight=weight)


def candles(closes, volumes=None):
    volumes = volumes or [100.0] * len(closes)
    opened = [NOW - timedelta(hours=len(closes) - n) for n in range(len(closes))]
    return pd.DataFrame({"open_time": opened, "open": closes, "high": closes, "low": closes,
                         "close": closes, "volume": volumes})


# --- SymbolMatcher ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "symbols"), [
    ("BTC breaks resistance", ["BTCUSDT"]),
    ("Whales buy $BTC", ["BTCUSDT"]),
    ("BTC/USDT and BTC-USD both green", ["BTCUSDT"]),
    ("BTCUSDT funding turns negative", ["BTCUSDT"]),
    ("ETHBTC ratio at a low", ["ETHBTC"]),
    ("ETH gas fees fall", ["ETHBTC", "ETHUSDT"]),
    ("Solana and BTC rally", ["BTCUSDT", "SOLUSDT"]),
])
def test_the_matcher_finds_symbols_by_ticker(matcher, text, symbols):
    assert matcher.match(text) == symbols


@pytest.mark.parametrize(("text", "symbols"), [
    ("bitcoin miners sell", ["BTCUSDT"]),
    ("BITCOIN'S halving nears", ["BTCUSDT"]),
    ("ETHER extends gains", ["ETHBTC", "ETHUSDT"]),
    ("Ethereum devs  and Solana", ["ETHBTC", "ETHUSDT", "SOLUSDT"]),
])
def test_the_matcher_finds_symbols_by_asset_name_in_any_case(matcher, text, symbols):
    assert matcher.match(text) == symbols


@pytest.mark.parametrize("text", [
    "an ethereal glow over markets",  # "ether" inside a word
    "BTCS shares and SOLID gains",  # tickers inside words
    "Btc and eth in lower case are not tickers",
    "the OP said so",  # two-letter tickers only count with a dollar sign
    "bitcoiners gather",
])
def test_the_matcher_ignores_tickers_and_names_inside_words(matcher, text):
    assert matcher.match(text) == []


def test_a_two_letter_ticker_matches_with_a_dollar_sign(matcher):
    assert matcher.match("$OP unlocks next week") == ["OPUSDT"]


def test_quote_assets_alone_do_not_match(matcher):
    assert matcher.match("USDT supply hits record; USD weakens") == []


def test_unknown_symbols_match_nothing(matcher):
    assert matcher.match("DOGE and Cardano surge, $XYZ lists") == []


def test_bitcoin_cash_is_not_read_as_bitcoin_even_when_bch_is_not_listed(matcher):
    assert matcher.match("Bitcoin Cash forks again") == []
    with_bch = SymbolMatcher.of([*SYMBOLS, ("BCHUSDT", "BCH", "USDT")])
    assert with_bch.match("Bitcoin Cash forks again") == ["BCHUSDT"]


def test_extra_names_add_to_the_built_in_ones():
    custom = SymbolMatcher.of(SYMBOLS, names={"SOL": ["Sol network"], "BTC": ["digital gold"]})
    assert custom.match("Digital gold shines") == ["BTCUSDT"]
    assert custom.match("sol network halts") == ["SOLUSDT"]
    assert custom.match("bitcoin too") == ["BTCUSDT"]


def test_a_matcher_without_symbols_matches_nothing():
    assert SymbolMatcher.of([]).match("Bitcoin and BTC") == []


# --- score_text ------------------------------------------------------------------------------


def test_good_news_scores_positive():
    assert score_text("Bitcoin surges to a record high as ETF inflows soar") > 0.5


def test_bad_news_scores_negative():
    assert score_text("Ether plunges after exchange hack; traders fear bankruptcy") < -0.5


def test_plain_statements_score_neutral():
    assert score_text("Exchange lists new token on Tuesday") == 0.0
    assert score_text("") == 0.0
    assert score_text("   ") == 0.0


def test_scores_stay_within_minus_one_and_one():
    text = "great amazing wonderful bullish soaring " * 20
    assert -1.0 <= score_text(text) <= 1.0


# --- aggregate -------------------------------------------------------------------------------


def test_no_items_give_zero_score_and_zero_confidence():
    result = aggregate([], now=NOW)
    assert (result.score, result.confidence) == (0.0, 0.0)
    assert (result.per_source, result.counts) == ({}, {})
    assert result.reasoning == "no sentiment items in the last 48 hours"


def test_older_items_weigh_less_by_half_life():
    result = aggregate([news(0.8), news(-0.8, ago=timedelta(hours=6))], now=NOW)
    # weights 1 and 0.5: (0.8 - 0.4) / 1.5
    assert result.score == pytest.approx(0.4 / 1.5)
    assert result.per_source == {"news": pytest.approx(0.4 / 1.5)}


def test_items_beyond_max_age_are_ignored_and_said_so():
    result = aggregate([news(0.8, ago=timedelta(hours=49))], now=NOW)
    assert (result.score, result.confidence) == (0.0, 0.0)
    assert result.reasoning == ("no sentiment items in the last 48 hours; 1 item ignored as "
                                "older than 48 hours or dated in the future")
    recent = aggregate([news(0.8, ago=timedelta(hours=3))], now=NOW, max_age=timedelta(hours=2))
    assert recent.reasoning.startswith("no sentiment items in the last 2 hours")


def test_future_items_count_as_fresh_within_five_minutes_only():
    skewed = aggregate([news(0.5, ago=-timedelta(minutes=4))], now=NOW)
    assert skewed.score == 0.5
    assert "newest item under a minute old" in skewed.reasoning
    ahead = aggregate([news(0.5, ago=-timedelta(minutes=6))], now=NOW)
    assert ahead.counts == {}


def test_confidence_of_one_fresh_item_is_its_count_factor():
    result = aggregate([news(0.6)], now=NOW)
    assert result.confidence == pytest.approx(1 - math.exp(-1 / 5))


def test_confidence_grows_with_the_number_of_items():
    few = aggregate([news(0.6)] * 2, now=NOW)
    many = aggregate([news(0.6)] * 10, now=NOW)
    assert few.confidence < many.confidence <= 1


def test_disagreement_lowers_confidence():
    agreeing = aggregate([news(0.6), news(0.4), news(0.5)], now=NOW)
    mixed = aggregate([news(0.6), news(0.4), news(-0.5)], now=NOW)
    assert agreeing.confidence > mixed.confidence
    assert "agreement 1.00" in agreeing.reasoning
    assert "agreement 0.67" in mixed.reasoning


def test_neutral_items_half_agree():
    result = aggregate([news(0.6), news(0.01)], now=NOW)
    assert "agreement 0.75" in result.reasoning


def test_stale_items_lower_confidence():
    fresh = aggregate([news(0.6)], now=NOW)
    stale = aggregate([news(0.6, ago=timedelta(hours=6))], now=NOW)
    assert stale.confidence == pytest.approx(fresh.confidence * 0.5)


def test_source_weights_are_renormalised_over_the_sources_present():
    market = Item(source="market", score=-0.5, at=NOW, text="price down")
    only_news = aggregate([news(0.8)], now=NOW)
    assert only_news.score == pytest.approx(0.8)
    both = aggregate([news(0.8), market], now=NOW)
    assert both.score == pytest.approx((0.5 * 0.8 + 0.3 * -0.5) / 0.8)
    assert both.per_source == {"news": 0.8, "market": -0.5}
    assert both.counts == {"news": 1, "market": 1}
    assert "weighting news 0.62, market 0.38" in both.reasoning


def test_given_source_weights_override_the_defaults():
    manual = Item(source="manual", score=-0.4, at=NOW, text="I think it tops here")
    result = aggregate([news(0.8), manual], now=NOW, source_weights={"manual": 0.5})
    assert result.score == pytest.approx((0.5 * 0.8 + 0.5 * -0.4) / 1.0)


def test_sources_with_weight_zero_give_no_overall_score():
    result = aggregate([news(0.8)], now=NOW, source_weights={"news": 0})
    assert (result.score, result.confidence) == (0.0, 0.0)
    assert result.per_source == {"news": 0.8}
    assert "no overall score" in result.reasoning


def test_unknown_source_weights_are_refused():
    with pytest.raises(ValueError, match="unknown sentiment source 'twitter'"):
        aggregate([news(0.8)], now=NOW, source_weights={"twitter": 1})


def test_scores_are_clamped_to_minus_one_and_one():
    result = aggregate([news(5.0), news(3.0)], now=NOW)
    assert result.score == 1.0
    assert result.per_source == {"news": 1.0}
    assert aggregate([news(-7.0)], now=NOW).score == -1.0


def test_the_reasoning_reads_as_sentences_for_a_trader():
    items = [news(0.6, ago=timedelta(minutes=12)), news(0.5, ago=timedelta(hours=1)),
             news(-0.3, ago=timedelta(hours=2)),
             Item(source="market", score=-0.1, at=NOW - timedelta(minutes=30), text="flat")]
    reasoning = aggregate(items, now=NOW).reasoning
    assert reasoning.startswith("3 news items average +")
    assert "(2 positive, 1 negative)" in reasoning
    assert "1 market reading -0.10" in reasoning
    assert "newest item 12 minutes old" in reasoning
    assert reasoning.endswith(".")


def test_the_aggregate_is_json_ready():
    items = [news(0.6), Item(source="manual", score=0.2, at=NOW, text="note")]
    payload = aggregate(items, now=NOW).as_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert set(payload) == {"score", "confidence", "per_source", "counts", "reasoning"}


def test_items_refuse_unknown_sources_naive_times_and_bad_numbers():
    with pytest.raises(ValueError, match="unknown sentiment source"):
        Item(source="tweets", score=0.1, at=NOW, text="")
    with pytest.raises(ValueError, match="timezone-aware"):
        Item(source="news", score=0.1, at=NOW.replace(tzinfo=None), text="")
    with pytest.raises(ValueError, match="finite"):
        Item(source="news", score=math.nan, at=NOW, text="")
    with pytest.raises(ValueError, match="positive"):
        Item(source="news", score=0.1, at=NOW, text="", weight=0)
    assert set(SOURCES) == {"news", "market", "manual"}


# --- market_item -----------------------------------------------------------------------------


def test_a_rising_market_gives_positive_momentum():
    item = market_item(candles([100.0] * 24 + [105.0]), now=NOW)
    assert item.source == "market"
    assert item.at == NOW
    assert item.score == pytest.approx(math.tanh(1))  # a 5% move
    assert "price up 5.00% over the last 24 candles" in item.text
    assert "volume 1.0x" in item.text


def test_a_falling_market_gives_negative_momentum():
    item = market_item(candles([100.0] * 24 + [98.0]), now=NOW)
    assert item.score == pytest.approx(math.tanh(-0.4))
    assert "price down 2.00%" in item.text


def test_a_volume_surprise_amplifies_momentum_up_to_one_and_a_half():
    closes = [100.0] * 24 + [102.0]
    twice = market_item(candles(closes, [100.0] * 24 + [200.0]), now=NOW)
    thrice = market_item(candles(closes, [100.0] * 24 + [300.0]), now=NOW)
    tenfold = market_item(candles(closes, [100.0] * 24 + [1000.0]), now=NOW)
    momentum = math.tanh(0.4)
    assert twice.score == pytest.approx(momentum * 1.25)
    assert thrice.score == pytest.approx(momentum * 1.5)
    assert tenfold.score == thrice.score
    assert "last candle volume 2.0x the previous 24-candle average" in twice.text
    assert "amplifying momentum 1.25x" in twice.text


def test_amplified_market_scores_stay_within_one():
    item = market_item(candles([100.0] * 24 + [130.0], [100.0] * 24 + [900.0]), now=NOW)
    assert item.score == 1.0


def test_low_volume_does_not_dampen_momentum():
    item = market_item(candles([100.0] * 24 + [102.0], [100.0] * 24 + [10.0]), now=NOW)
    assert item.score == pytest.approx(math.tanh(0.4))


def test_only_the_last_window_counts():
    closes = [50.0] * 10 + [100.0] * 4 + [102.0]
    item = market_item(candles(closes), now=NOW, window=4)
    assert item.score == pytest.approx(math.tanh(0.4))


def test_too_few_candles_give_no_market_item():
    assert market_item(candles([100.0] * 24), now=NOW) is None


def test_candles_given_newest_first_are_put_in_order():
    frame = candles([100.0] * 24 + [105.0])
    reversed_frame = frame.iloc[::-1].reset_index(drop=True)
    assert market_item(reversed_frame, now=NOW).score == pytest.approx(math.tanh(1))


def test_a_market_without_earlier_volume_is_not_amplified():
    item = market_item(candles([100.0] * 24 + [105.0], [0.0] * 24 + [50.0]), now=NOW)
    assert item.score == pytest.approx(math.tanh(1))
    assert "no volume in the candles before the last" in item.text


# --- purity ----------------------------------------------------------------------------------


def test_the_analysis_modules_import_no_django():
    assert django_modules_imported_by(
        "bots.analysis.sentiment", "bots.analysis.feeds", "bots.analysis.technical",
        "bots.analysis.advisor", "bots.analysis.combined") == []
