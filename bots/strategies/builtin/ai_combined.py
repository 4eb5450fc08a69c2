"""Technical trend and stored AI analyses, combined: the AI never trades on its own authority.

score = sentiment_weight x sentiment + technical_weight x signed trend strength; enter when it
reaches the threshold, exit when it falls to minus the threshold. The sentiment and the LLM
advisor's answer are not computed here: the caller (live bot, backtest) writes the analyses
stored point in time into the candles (``AI_COLUMNS``, the latest analysis known at each
candle's close). Where none is known the sentiment counts as 0 (technical only) and the
words say so. An advisor that answered with enough confidence confirms or vetoes, exactly as
``bots.analysis.combined.combine`` decides one analysis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

# The module, not its function: bots.analysis.technical imports bots.strategies, which
# registers this module, so either may be imported first.
from bots.analysis import technical
from bots.strategies.base import Strategy, with_signals
from bots.strategies.params import Parameter
from bots.strategies.registry import register

SENTIMENT, ADVISOR_ACTION, ADVISOR_CONFIDENCE = ("ai_sentiment", "ai_advisor_action",
                                                 "ai_advisor_confidence")
# Which stored analysis each candle read: not used in the decision, but a bot's decision log
# links to it (its advisor conversation, its reasoning).
ANALYSIS_ID = "ai_analysis_id"
AI_COLUMNS = (SENTIMENT, ADVISOR_ACTION, ADVISOR_CONFIDENCE, ANALYSIS_ID)
BUY, SELL, HOLD = 1.0, -1.0, 0.0
SIGNALS = {"buy": BUY, "sell": SELL, "hold": HOLD}


@register
class AiCombined(Strategy):
    name = "ai_combined"
    reads_ai_analyses = True
    size_column = "ai_confidence"
    title = "AI combined (technical + sentiment + advisor)"
    description = (
        "Combines the signed trend strength with the stored sentiment of the symbol (and, "
        "optionally, the local LLM advisor's confirmation or veto). Buys when the combined "
        "score reaches the threshold, sells when it falls to minus the threshold. Without "
        "stored analyses it trades on the technical score alone."
    )
    parameters = (
        Parameter("sentiment_weight", "float", 0.4, minimum=0, maximum=1, step=0.1,
                  help="Weight of the sentiment score (-1..1)."),
        Parameter("technical_weight", "float", 0.6, minimum=0, maximum=1, step=0.1,
                  help="Weight of the signed trend strength (-1..1)."),
        Parameter("threshold", "float", 0.3, minimum=0.05, maximum=1, step=0.05,
                  help="Buy at or above it, sell at or below minus it."),
        Parameter("use_advisor", "bool", True,
                  help="Let a confident LLM advisor confirm or veto each decision."),
        Parameter("advisor_min_confidence", "float", 0.5, minimum=0, maximum=1, step=0.1,
                  help="The advisor's answers below this confidence are not counted."),
        Parameter("trend_window", "int", 50, minimum=10, maximum=200, step=10,
                  help="Candles in the trend fit (R² of a line through the log closes)."),
    )

    @classmethod
    def check(cls, params: Mapping[str, Any]) -> dict[str, str]:
        if params["sentiment_weight"] + params["technical_weight"] <= 0:
            return {"technical_weight": "the two weights cannot both be 0"}
        return {}

    def warmup(self) -> int:
        return self.params["trend_window"]

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        trend = technical.technical_scores(candles, window=self.params["trend_window"])
        sentiment = _column(candles, SENTIMENT, np.nan).astype("float64")
        score = (self.params["sentiment_weight"] * sentiment.fillna(0.0)
                 + self.params["technical_weight"] * trend).clip(-1.0, 1.0)
        signal = _signal(score, self.params["threshold"])
        confidence = score.abs().clip(upper=1.0)
        signal, confidence = self._advised(candles, signal, confidence)
        # The AI columns, when given, stay as the caller wrote them (NaN: no analysis known).
        return with_signals(candles, {"technical_score": trend, "ai_score": score,
                                      "ai_signal": signal, "ai_confidence": confidence},
                            enter_long=signal == BUY, exit_long=signal == SELL)

    def _advised(self, candles: pd.DataFrame, signal: pd.Series,
                 confidence: pd.Series) -> tuple[pd.Series, pd.Series]:
        """A confident advisor vetoes (hold) any decision it does not share, and one that
        confirms it averages its confidence in (as ``combine`` does)."""
        if not self.params["use_advisor"] or ADVISOR_ACTION not in candles.columns:
            return signal, confidence
        said = candles[ADVISOR_ACTION].map(SIGNALS)
        sure = _column(candles, ADVISOR_CONFIDENCE, np.nan).astype("float64")
        counted = said.notna() & (sure >= self.params["advisor_min_confidence"])
        vetoed = counted & (signal != HOLD) & (said != signal)
        confirmed = counted & (said == signal)
        return (signal.where(~vetoed, HOLD),
                confidence.where(~confirmed, (confidence + sure) / 2))

    def entry_reason(self, bar: Mapping[str, Any]) -> str:
        return self._words(bar, "reached", "+")

    def exit_reason(self, bar: Mapping[str, Any]) -> str:
        return self._words(bar, "fell to", "-")

    def _words(self, bar: Mapping[str, Any], moved: str, sign: str) -> str:
        sentiment = bar.get(SENTIMENT)
        known = sentiment is not None and not pd.isna(sentiment)
        said = (f"sentiment {sentiment:+.2f} x {self.params['sentiment_weight']:g}" if known
                else "no stored analysis: technical only")
        advisor = bar.get(ADVISOR_ACTION)
        answered = isinstance(advisor, str) and advisor and self.params["use_advisor"]
        confirmed = f"; the advisor said {advisor}" if answered else ""
        return (f"combined score {bar['ai_score']:+.2f} {moved} {sign}"
                f"{self.params['threshold']:g} (technical {bar['technical_score']:+.2f} x "
                f"{self.params['technical_weight']:g}; {said}){confirmed}")


def _column(candles: pd.DataFrame, name: str, default) -> pd.Series:
    if name in candles.columns:
        return candles[name]
    return pd.Series(default, index=candles.index, dtype="float64")


def _signal(score: pd.Series, threshold: float) -> pd.Series:
    """+1 buy, -1 sell, 0 hold (numbers, as every prepared column; NaN before the trend
    window is full: nothing to decide on)."""
    signal = np.where(score >= threshold, BUY, np.where(score <= -threshold, SELL, HOLD))
    return pd.Series(np.where(score.isna(), np.nan, signal), index=score.index)
