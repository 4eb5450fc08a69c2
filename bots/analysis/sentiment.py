"""Sentiment for a symbol from pluggable sources: pure Python, no Django.

Three sources feed it: ``news`` (feed headlines matched to symbols by ``SymbolMatcher`` and
scored with VADER by ``score_text``), ``market`` (price action turned into one ``Item`` by
``market_item``) and ``manual`` (notes a trader types, scored like headlines or by hand).
``aggregate`` folds the items into one score in [-1, 1] with a confidence in [0, 1] and a
reasoning a trader can read. Storing items and aggregates (``SentimentItem``,
``AISymbolAnalysis``) and fetching feeds happen elsewhere.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

__all__ = [
    "DEFAULT_ASSET_NAMES",
    "DEFAULT_SOURCE_WEIGHTS",
    "SOURCES",
    "Aggregate",
    "Item",
    "SymbolMatcher",
    "aggregate",
    "market_item",
    "score_text",
]

SOURCES = ("news", "market", "manual")
DEFAULT_SOURCE_WEIGHTS = {"news": 0.5, "market": 0.3, "manual": 0.2}

# Names a headline uses instead of the ticker. Deliberately no plain English words that news
# uses in other senses ("avalanche of liquidations", "stellar quarter", "optimism").
DEFAULT_ASSET_NAMES: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin",),
    "ETH": ("ethereum", "ether"),
    "BNB": ("binance coin",),
    "SOL": ("solana",),
    "XRP": ("ripple",),
    "ADA": ("cardano",),
    "DOGE": ("dogecoin",),
    "TRX": ("tron",),
    "DOT": ("polkadot",),
    "LTC": ("litecoin",),
    "BCH": ("bitcoin cash",),
    "ETC": ("ethereum classic",),
    "LINK": ("chainlink",),
    "MATIC": ("polygon",),
    "POL": ("polygon",),
    "SHIB": ("shiba inu",),
    "UNI": ("uniswap",),
    "ATOM": ("cosmos",),
    "XLM": ("stellar lumens",),
    "FIL": ("filecoin",),
    "NEAR": ("near protocol",),
    "APT": ("aptos",),
    "ARB": ("arbitrum",),
    "TON": ("toncoin",),
}

# VADER's lexicon comes from social media and knows almost no market words: "Bitcoin surges to
# a record" and "Ether plunges after hack" both score 0. These fill the gap on VADER's -4..+4
# scale; words VADER already rates keep its value.
MARKET_LEXICON = {
    "bullish": 2.0, "bearish": -2.0,
    "surge": 1.8, "surges": 1.8, "surged": 1.8, "soar": 2.0, "soars": 2.0, "soared": 2.0,
    "rally": 1.7, "rallies": 1.7, "rallied": 1.7, "rebound": 1.3, "rebounds": 1.3,
    "rebounded": 1.3, "jumps": 1.2, "jumped": 1.2, "climbs": 1.0, "climbed": 1.0,
    "rises": 0.8, "rose": 0.8, "inflows": 1.0, "upgraded": 1.3,
    "outperform": 1.5, "outperforms": 1.5, "breakout": 1.5, "adoption": 1.2,
    "plunge": -2.2, "plunges": -2.2, "plunged": -2.2, "tumble": -1.8, "tumbles": -1.8,
    "tumbled": -1.8, "slump": -1.8, "slumps": -1.8, "slumped": -1.8, "crashes": -2.3,
    "crashed": -2.3, "sinks": -1.5, "sank": -1.5, "falls": -0.8, "fell": -0.8, "drops": -1.0,
    "dropped": -1.0, "declines": -0.8, "declined": -0.8, "selloff": -1.8, "sell-off": -1.8,
    "liquidations": -1.2, "liquidated": -1.5, "outflows": -1.0,
    "downgraded": -1.3, "hack": -2.0, "hacks": -2.0, "delist": -1.8, "delisted": -1.8,
    "delisting": -1.8, "bankruptcy": -2.6, "insolvent": -2.5, "insolvency": -2.5,
    "sues": -1.5, "sued": -1.5, "crackdown": -1.8, "underperform": -1.5, "theft": -2.2,
}

NEUTRAL_BAND = 0.05  # |score| below this reads as neutral, not as a weak opinion
FUTURE_TOLERANCE = timedelta(minutes=5)  # clock skew between a feed's server and ours
FULL_MOVE = 0.05  # a 5% move over the window maps to momentum tanh(1) ~ 0.76


# --- matching headlines to symbols ------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SymbolMatcher:
    """Which symbols a text is about, by base-asset ticker, symbol or asset name.

    Build it with ``SymbolMatcher.of``. Tickers match case-sensitively as whole words ("BTC",
    "$BTC", "BTC/USDT", but not "BTCS" or "Btc"); tickers of one or two letters only with a
    dollar sign ("$OP"), since "OP" or "AR" are ordinary words and abbreviations. Names match
    case-insensitively as whole words, the longest first, so "Bitcoin Cash" is BCH, not BTC.
    A quote asset is never a key for its symbol: "USDT" alone says nothing about BTCUSDT.
    """

    by_ticker: Mapping[str, tuple[str, ...]]
    by_name: Mapping[str, tuple[str, ...]]
    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, symbols: Iterable[tuple[str, str, str]],
           names: Mapping[str, Sequence[str]] | None = None) -> SymbolMatcher:
        by_ticker: dict[str, set[str]] = {}
        bases: dict[str, set[str]] = {}
        for symbol, base, _quote in symbols:
            by_ticker.setdefault(symbol, set()).add(symbol)
            by_ticker.setdefault(base, set()).add(symbol)
            bases.setdefault(base, set()).add(symbol)
        by_name = _symbols_by_name(bases, names or {})
        frozen_tickers = {key: tuple(sorted(found)) for key, found in by_ticker.items()}
        return cls(by_ticker=frozen_tickers, by_name=by_name,
                   pattern=_matcher_pattern(frozen_tickers, by_name))

    def match(self, text: str) -> list[str]:
        if self.pattern is None or not text:
            return []
        found: set[str] = set()
        for hit in self.pattern.finditer(text):
            if hit["name"]:
                found.update(self.by_name[_normal_name(hit["name"])])
            else:
                found.update(self.by_ticker[hit["ticker"] or hit["short"]])
        return sorted(found)


def _symbols_by_name(bases: Mapping[str, set[str]],
                     extra: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    by_name: dict[str, set[str]] = {}
    for base, asset_names in (*DEFAULT_ASSET_NAMES.items(), *extra.items()):
        for name in asset_names:
            # Names of assets we do not trade stay in the pattern, matching nothing, so that
            # "Bitcoin Cash" is not read as "Bitcoin" when BCH is not listed.
            by_name.setdefault(_normal_name(name), set()).update(bases.get(base, ()))
    return {name: tuple(sorted(found)) for name, found in by_name.items() if name}


def _normal_name(name: str) -> str:
    return " ".join(name.lower().split())


def _matcher_pattern(by_ticker: Mapping[str, object],
                     by_name: Mapping[str, object]) -> re.Pattern[str] | None:
    def alternatives(words: Iterable[str], escape=re.escape) -> str:
        # Longest first: the regex takes the first alternative that fits, not the longest.
        return "|".join(escape(word) for word in sorted(words, key=lambda w: (-len(w), w)))

    def flexible_spaces(name: str) -> str:
        return r"\s+".join(re.escape(part) for part in name.split())

    short = [ticker for ticker in by_ticker if len(ticker) <= 2]
    long = [ticker for ticker in by_ticker if len(ticker) > 2]
    options = []
    if short:
        options.append(rf"\$(?P<short>{alternatives(short)})")
    if long:
        options.append(rf"\$?(?P<ticker>{alternatives(long)})")
    if by_name:
        options.append(rf"(?i:(?P<name>{alternatives(by_name, flexible_spaces)}))")
    if not options:
        return None
    return re.compile(rf"(?<![\w$])(?:{'|'.join(options)})(?!\w)")


# --- scoring text ----------------------------------------------------------------------------


@functools.cache
def _analyzer() -> SentimentIntensityAnalyzer:
    # Built once, on first use: the constructor reads VADER's lexicon file from disk.
    analyzer = SentimentIntensityAnalyzer()
    for word, valence in MARKET_LEXICON.items():
        analyzer.lexicon.setdefault(word, valence)
    return analyzer


def score_text(text: str) -> float:
    """VADER's compound score of ``text`` in [-1, 1]; 0 for empty text."""
    if not text or not text.strip():
        return 0.0
    return _clamp(_analyzer().polarity_scores(text)["compound"])


# --- items and their aggregate ---------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    source: str  # one of SOURCES
    score: float  # [-1, 1]; values outside are clamped when aggregated
    at: datetime  # aware: when published or noted
    text: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"unknown sentiment source {self.source!r}; expected one of {SOURCES}")
        if not math.isfinite(self.score):
            raise ValueError(f"sentiment score must be a finite number, not {self.score!r}")
        if not (math.isfinite(self.weight) and self.weight > 0):
            raise ValueError(f"item weight must be a positive number, not {self.weight!r}")
        _require_aware(self.at, "item time")


@dataclass(frozen=True)
class Aggregate:
    score: float  # [-1, 1]
    confidence: float  # [0, 1]
    per_source: dict[str, float]  # each source's own weighted score, only sources with items
    counts: dict[str, int]  # items used per source
    reasoning: str

    def as_dict(self) -> dict:
        return {"score": float(self.score), "confidence": float(self.confidence),
                "per_source": {k: float(v) for k, v in self.per_source.items()},
                "counts": {k: int(v) for k, v in self.counts.items()},
                "reasoning": self.reasoning}


@dataclass(frozen=True)
class _Weighed:
    """An item inside the window, with its clamped score, age and decayed weight."""

    source: str
    score: float
    age: timedelta
    weight: float


def aggregate(items: Sequence[Item], *, now: datetime,
              half_life: timedelta = timedelta(hours=6), max_age: timedelta = timedelta(hours=48),
              source_weights: Mapping[str, float] | None = None) -> Aggregate:
    """Fold scored items into one score in [-1, 1] and a confidence in [0, 1].

    * Items older than ``max_age`` or dated more than 5 minutes after ``now`` are ignored (a
      future date within 5 minutes is clock skew and counts as age 0).
    * Each remaining item weighs ``item.weight * 0.5 ** (age / half_life)``; item scores are
      clamped to [-1, 1].
    * A source's score is the weighted mean of its items. The overall score is the mean of the
      source scores weighted by ``source_weights`` (default news 0.5, market 0.3, manual 0.2;
      entries given override these), renormalised over the sources that have items, so news
      alone is not diluted by an absent market reading.
    * Each item's share of the overall is its source's renormalised weight times its share of
      that source's weight. Confidence is the product of three factors in [0, 1]:
      count ``1 - exp(-n / 5)`` (n items used); agreement, the total share of items whose sign
      matches the overall's (an item with |score| < 0.05 is neutral and half-agrees; when the
      overall itself is neutral, only neutral items agree, by half); and freshness,
      ``0.5 ** (mean age / half_life)`` with the mean age weighted by those shares.
    * No items in the window: score 0, confidence 0.
    """
    _require_aware(now, "now")
    weights = _source_weights(source_weights)
    used = [_weigh(item, now, half_life) for item in items if _in_window(item, now, max_age)]
    ignored = len(items) - len(used)
    if not used:
        return Aggregate(0.0, 0.0, {}, {}, _nothing_to_say(max_age, ignored))
    groups = {source: [w for w in used if w.source == source] for source in SOURCES}
    groups = {source: group for source, group in groups.items() if group}
    per_source = {source: _weighted_mean(group) for source, group in groups.items()}
    counts = {source: len(group) for source, group in groups.items()}
    shares = _renormalised({source: weights[source] for source in groups})
    if not shares:
        reasoning = _explain(groups, per_source, {}, 0.0, 0.0, ignored, max_age)
        return Aggregate(0.0, 0.0, per_source, counts, reasoning)
    score = _clamp(sum(shares[source] * per_source[source] for source in shares))
    item_shares = _item_shares(groups, shares)
    agreement = sum(share * _agreement(w.score, score) for w, share in item_shares)
    mean_age = sum((w.age * share for w, share in item_shares), timedelta())
    confidence = (1 - math.exp(-len(used) / 5)) * agreement * _decay(mean_age, half_life)
    reasoning = _explain(groups, per_source, shares, agreement, score, ignored, max_age)
    return Aggregate(score, min(1.0, max(0.0, confidence)), per_source, counts, reasoning)


def _source_weights(overrides: Mapping[str, float] | None) -> dict[str, float]:
    weights = {**DEFAULT_SOURCE_WEIGHTS, **(overrides or {})}
    for source, weight in weights.items():
        if source not in SOURCES:
            raise ValueError(f"unknown sentiment source {source!r} in source weights")
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"source weight for {source} must be >= 0, not {weight!r}")
    return weights


def _in_window(item: Item, now: datetime, max_age: timedelta) -> bool:
    return -FUTURE_TOLERANCE <= now - item.at <= max_age


def _weigh(item: Item, now: datetime, half_life: timedelta) -> _Weighed:
    age = max(timedelta(), now - item.at)
    return _Weighed(item.source, _clamp(item.score), age, item.weight * _decay(age, half_life))


def _decay(age: timedelta, half_life: timedelta) -> float:
    return 0.5 ** (age / half_life)


def _weighted_mean(group: Sequence[_Weighed]) -> float:
    total = sum(w.weight for w in group)
    return _clamp(sum(w.score * w.weight for w in group) / total)


def _renormalised(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    if total <= 0:
        return {}
    return {source: weight / total for source, weight in weights.items() if weight > 0}


def _item_shares(groups: Mapping[str, Sequence[_Weighed]],
                 shares: Mapping[str, float]) -> list[tuple[_Weighed, float]]:
    result = []
    for source, share in shares.items():
        total = sum(w.weight for w in groups[source])
        result.extend((w, share * w.weight / total) for w in groups[source])
    return result


def _direction(score: float) -> int:
    return 0 if abs(score) < NEUTRAL_BAND else (1 if score > 0 else -1)


def _agreement(item_score: float, overall: float) -> float:
    item_direction = _direction(item_score)
    if item_direction == 0:
        return 0.5
    return 1.0 if item_direction == _direction(overall) else 0.0


# --- the words a trader reads ----------------------------------------------------------------

_NOUNS = {"news": ("news item", "news items"), "market": ("market reading", "market readings"),
          "manual": ("manual note", "manual notes")}


def _nothing_to_say(max_age: timedelta, ignored: int) -> str:
    said = f"no sentiment items in the last {_duration(max_age)}"
    if ignored:
        said += f"; {_ignored(ignored, max_age)}"
    return said


def _explain(groups: Mapping[str, Sequence[_Weighed]], per_source: Mapping[str, float],
             shares: Mapping[str, float], agreement: float, score: float, ignored: int,
             max_age: timedelta) -> str:
    clauses = [_source_clause(source, group, per_source[source])
               for source, group in groups.items()]
    if not shares:
        clauses.append("the sources present all have weight 0, so no overall score")
    else:
        if len(shares) > 1:
            # Rounded first so 0.3 / 0.8 = 0.37499... reads 0.38 and the shares add up to 1.
            weighting = ", ".join(f"{source} {round(share, 9):.2f}"
                                  for source, share in shares.items())
            clauses.append(f"overall {score:+.2f} weighting {weighting}")
        clauses.append(f"agreement {agreement:.2f}")
    newest = min(w.age for group in groups.values() for w in group)
    clauses.append(f"newest item {_age(newest)}")
    if ignored:
        clauses.append(_ignored(ignored, max_age))
    return "; ".join(clauses) + "."


def _source_clause(source: str, group: Sequence[_Weighed], score: float) -> str:
    singular, plural = _NOUNS[source]
    if len(group) == 1:
        return f"1 {singular} {score:+.2f}"
    directions = [_direction(w.score) for w in group]
    tally = [(directions.count(1), "positive"), (directions.count(-1), "negative"),
             (directions.count(0), "neutral")]
    breakdown = ", ".join(f"{count} {word}" for count, word in tally if count)
    return f"{len(group)} {plural} average {score:+.2f} ({breakdown})"


def _ignored(count: int, max_age: timedelta) -> str:
    items = "1 item" if count == 1 else f"{count} items"
    return f"{items} ignored as older than {_duration(max_age)} or dated in the future"


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes >= 60 and minutes % 60 == 0:
        return _plural(minutes // 60, "hour")
    return _plural(minutes, "minute")


def _age(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 1:
        return "under a minute old"
    if minutes < 120:
        return f"{_plural(minutes, 'minute')} old"
    if minutes < 48 * 60:
        return f"{_plural(minutes // 60, 'hour')} old"
    return f"{_plural(minutes // (24 * 60), 'day')} old"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


# --- the market source -----------------------------------------------------------------------


def market_item(candles: pd.DataFrame, *, now: datetime, window: int = 24) -> Item | None:
    """A market ``Item`` from the last ``window`` candles (oldest first), or None without
    ``window + 1`` candles or with unusable prices.

    Momentum is ``tanh(return / 5%)`` over the window (a 5% move gives ~0.76). Volume surprise
    is the last candle's volume over the mean of the ``window`` candles before it; above 1 it
    amplifies momentum linearly up to 1.5x at three times the usual volume, since a move on
    heavy volume is more likely to hold. The score is clamped to [-1, 1].
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 candle, not {window}")
    if len(candles) < window + 1:
        return None
    if "open_time" in candles.columns:  # a reversed frame would silently flip the momentum
        candles = candles.sort_values("open_time")
    closes = candles["close"].iloc[-window - 1:].astype(float)
    volumes = candles["volume"].iloc[-window - 1:].astype(float)
    first, last = float(closes.iloc[0]), float(closes.iloc[-1])
    if not (math.isfinite(first) and math.isfinite(last) and first > 0):
        return None
    change = last / first - 1
    momentum = math.tanh(change / FULL_MOVE)
    surprise = _volume_surprise(float(volumes.iloc[-1]), float(volumes.iloc[:-1].mean()))
    amplifier = 1 + 0.5 * min(1.0, max(0.0, (surprise or 1.0) - 1) / 2)
    score = _clamp(momentum * amplifier)
    text = _market_words(change, momentum, surprise, amplifier, score, window)
    return Item(source="market", score=score, at=now, text=text)


def _volume_surprise(last: float, usual: float) -> float | None:
    # No trades in the window before (or missing volumes): no baseline to be surprised against.
    if not (math.isfinite(last) and math.isfinite(usual)) or usual <= 0:
        return None
    return last / usual


def _market_words(change: float, momentum: float, surprise: float | None, amplifier: float,
                  score: float, window: int) -> str:
    direction = "up" if change > 0 else "down" if change < 0 else "unchanged"
    moved = f"{abs(change):.2%} " if change else ""
    words = f"price {direction} {moved}over the last {window} candles (momentum {momentum:+.2f})"
    if surprise is None:
        words += "; no volume in the candles before the last to compare against"
    else:
        words += f"; last candle volume {surprise:.1f}x the previous {window}-candle average"
        if amplifier > 1:
            words += f", amplifying momentum {amplifier:.2f}x"
    return f"{words}; market score {score:+.2f}"


def _clamp(value: float) -> float:
    return max(-1.0, min(1.0, value))


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), not naive: {moment!r}")
