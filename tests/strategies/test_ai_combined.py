"""ai_combined: the same combination as one stored analysis (bots.analysis.combined), bar by
bar, with or without the AI columns a caller writes in."""

import numpy as np
import pandas as pd
import pytest

from backtests.engine import load_csv
from bots.analysis.combined import Weights, combine
from bots.strategies import get_strategy
from bots.strategies.builtin.ai_combined import ADVISOR_ACTION, ADVISOR_CONFIDENCE, SENTIMENT
from tests.strategies.test_real_candles import HOURLY, KLINES

ACTIONS = {1.0: "buy", -1.0: "sell", 0.0: "hold"}


@pytest.fixture(scope="module")
def candles():
    return load_csv(KLINES / HOURLY).iloc[:600].reset_index(drop=True)


def with_ai(candles, seed=7):
    rng = np.random.default_rng(seed)
    frame = candles.copy()
    frame[SENTIMENT] = rng.uniform(-1, 1, len(frame))
    frame[ADVISOR_ACTION] = rng.choice(["buy", "sell", "hold", None], len(frame))
    frame[ADVISOR_CONFIDENCE] = rng.uniform(0, 1, len(frame))
    return frame


def test_every_bar_decides_as_one_combined_analysis_would(candles):
    frame = with_ai(candles)
    prepared = get_strategy("ai_combined")().prepare(frame)

    for row in prepared.iloc[60:].itertuples(index=False):
        row = row._asdict()
        advice = ({"action": row[ADVISOR_ACTION], "confidence": row[ADVISOR_CONFIDENCE]}
                  if isinstance(row[ADVISOR_ACTION], str) else None)
        decided = combine(technical_score=row["technical_score"],
                          sentiment_score=row[SENTIMENT], advice=advice, weights=Weights())
        assert row["ai_score"] == pytest.approx(decided.score, abs=1e-12)
        assert ACTIONS[row["ai_signal"]] == decided.action
        assert row["ai_confidence"] == pytest.approx(decided.confidence, abs=1e-6)
        assert row["enter_long"] == (decided.action == "buy")
        assert row["exit_long"] == (decided.action == "sell")


def test_without_stored_analyses_it_trades_on_the_technical_score_alone(candles):
    strategy = get_strategy("ai_combined")()
    prepared = strategy.prepare(candles)

    assert prepared["ai_score"].iloc[60:].equals(
        (0.6 * prepared["technical_score"].iloc[60:]).clip(-1, 1))
    entry = prepared[prepared["enter_long"]].iloc[0].to_dict()
    assert "no stored analysis: technical only" in strategy.entry_reason(entry)


def test_a_confident_advisor_vetoes_and_an_unsure_one_is_not_counted(candles):
    frame = candles.copy()
    frame[SENTIMENT] = 1.0  # 0.4 alone reaches the 0.3 threshold: buy wherever the trend is flat
    frame[ADVISOR_ACTION] = "hold"
    frame[ADVISOR_CONFIDENCE] = 0.9
    vetoed = get_strategy("ai_combined")().prepare(frame)
    frame[ADVISOR_CONFIDENCE] = 0.1
    unsure = get_strategy("ai_combined")().prepare(frame)
    ignored = get_strategy("ai_combined")(use_advisor=False).prepare(
        frame.assign(**{ADVISOR_CONFIDENCE: 0.9}))

    assert not vetoed["enter_long"].any()
    assert unsure["enter_long"].sum() > 0
    assert ignored["enter_long"].equals(unsure["enter_long"])


def test_the_ai_columns_are_read_as_given_and_never_peek_ahead(candles):
    frame = with_ai(candles)
    strategy = get_strategy("ai_combined")()
    full = strategy.prepare(frame)
    cut = strategy.prepare(frame.iloc[:400])

    pd.testing.assert_frame_equal(full.iloc[:400], cut)
