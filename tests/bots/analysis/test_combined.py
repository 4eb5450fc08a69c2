"""The combined decision: weights, threshold, and the advisor confirming, vetoing or falling
back (it never trades on its own authority)."""

import pytest

from bots.analysis.combined import Weights, combine


def test_the_score_is_the_weighted_sum_and_the_threshold_decides():
    decided = combine(technical_score=0.5, sentiment_score=0.5)

    assert decided.score == pytest.approx(0.5)
    assert decided.action == "buy"
    assert decided.confidence == pytest.approx(0.5)
    assert "technical +0.50 x 0.6 + sentiment +0.50 x 0.4 = +0.50" in decided.reasoning
    assert decided.advisor == "not asked"


@pytest.mark.parametrize(("technical", "sentiment", "action"), [
    (0.6, -0.2, "hold"),  # 0.36 - 0.08 = 0.28: within 0.3
    (-0.6, -0.5, "sell"),
    (0.0, 0.8, "buy"),  # 0.32
    (0.0, 0.0, "hold"),
])
def test_within_the_threshold_it_holds(technical, sentiment, action):
    assert combine(technical_score=technical, sentiment_score=sentiment).action == action


def test_an_advisor_that_agrees_confirms_and_raises_the_confidence():
    decided = combine(technical_score=0.5, sentiment_score=0.5,
                      advice={"action": "buy", "confidence": 0.9})

    assert (decided.action, decided.advisor) == ("buy", "confirmed")
    assert decided.confidence == pytest.approx(0.7)


def test_an_advisor_that_disagrees_vetoes_the_trade():
    decided = combine(technical_score=0.5, sentiment_score=0.5,
                      advice={"action": "hold", "confidence": 0.8})

    assert (decided.action, decided.advisor) == ("hold", "vetoed")
    assert "the advisor vetoes buy" in decided.reasoning


def test_an_unsure_advisor_is_not_counted():
    decided = combine(technical_score=0.5, sentiment_score=0.5,
                      advice={"action": "sell", "confidence": 0.2})

    assert (decided.action, decided.advisor) == ("buy", "ignored")


def test_the_advisor_alone_cannot_open_a_trade():
    decided = combine(technical_score=0.1, sentiment_score=0.0,
                      advice={"action": "buy", "confidence": 0.99})

    assert (decided.action, decided.advisor) == ("hold", "ignored")
    assert "own authority" in decided.reasoning


def test_an_advisor_that_fell_back_leaves_technical_and_sentiment_to_decide():
    decided = combine(technical_score=-0.7, sentiment_score=-0.2, advisor_outcome="timeout")

    assert (decided.action, decided.advisor) == ("sell", "fell back")
    assert "did not answer (timeout): technical and sentiment only" in decided.reasoning


def test_weights_and_threshold_are_parameters_and_checked():
    decided = combine(technical_score=0.2, sentiment_score=0.2,
                      weights=Weights(sentiment=0.5, technical=0.5, threshold=0.1))
    assert decided.action == "buy"
    with pytest.raises(ValueError, match="threshold"):
        Weights(threshold=0)
    with pytest.raises(ValueError, match="not both 0"):
        Weights(sentiment=0, technical=0)
