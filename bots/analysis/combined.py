"""How the technical score, the sentiment and the LLM advisor become one decision.

score = sentiment_weight x sentiment + technical_weight x signed trend strength (defaults
0.4 and 0.6). Above ``threshold`` the decision is buy, below ``-threshold`` sell, else hold.
The advisor, when it answered with at least ``advisor_min_confidence``, confirms the decision
(same action) or vetoes it (any other action: hold); an advisor that fell back or was not
asked changes nothing, and the reasoning says which. The confidence (0..1) sizes the entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

ACTIONS = ("buy", "sell", "hold")


@dataclass(frozen=True)
class Weights:
    sentiment: float = 0.4
    technical: float = 0.6
    threshold: float = 0.3
    advisor_min_confidence: float = 0.5

    def __post_init__(self) -> None:
        if self.sentiment < 0 or self.technical < 0 or self.sentiment + self.technical <= 0:
            raise ValueError("the weights must be at least 0 and not both 0")
        if not 0 < self.threshold <= 1:
            raise ValueError("the threshold must be above 0 and at most 1")


@dataclass(frozen=True)
class Combined:
    score: float  # -1..1
    action: str  # buy | sell | hold
    confidence: float  # 0..1
    advisor: str  # confirmed | vetoed | ignored (low confidence) | fell back | not asked
    reasoning: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def combine(*, technical_score: float, sentiment_score: float,
            advice: Mapping[str, Any] | None = None, advisor_outcome: str = "not asked",
            weights: Weights = Weights()) -> Combined:
    """``advice``: the advisor's parsed answer (action, confidence, reasoning) when it
    answered; ``advisor_outcome`` its outcome otherwise ("timeout", "disabled", ...)."""
    score = _clamp(weights.sentiment * sentiment_score + weights.technical * technical_score)
    action = _action(score, weights.threshold)
    confidence = min(1.0, abs(score))
    words = [f"technical {technical_score:+.2f} x {weights.technical:g} + sentiment "
             f"{sentiment_score:+.2f} x {weights.sentiment:g} = {score:+.2f}, "
             f"{_against_threshold(score, weights.threshold)}: {action}"]
    verdict = "not asked"
    if advice is not None:
        action, confidence, verdict, said = _advised(action, confidence, advice, weights)
        words.append(said)
    elif advisor_outcome != "not asked":
        verdict = "fell back"
        words.append(f"the advisor did not answer ({advisor_outcome}): technical and "
                     f"sentiment only")
    return Combined(score=score, action=action, confidence=round(confidence, 6),
                    advisor=verdict, reasoning="; ".join(words) + ".")


def _advised(action: str, confidence: float, advice: Mapping[str, Any],
             weights: Weights) -> tuple[str, float, str, str]:
    said, sure = str(advice.get("action", "hold")), float(advice.get("confidence", 0))
    if sure < weights.advisor_min_confidence:
        return action, confidence, "ignored", (
            f"the advisor said {said} at confidence {sure:.2f}, below "
            f"{weights.advisor_min_confidence:g}: not counted")
    if said == action:
        return action, (confidence + sure) / 2, "confirmed", (
            f"the advisor confirms {said} (confidence {sure:.2f})")
    if action == "hold":
        return action, confidence, "ignored", (
            f"the advisor said {said} (confidence {sure:.2f}), but the scores do not reach "
            f"the threshold: it cannot trade on its own authority")
    return "hold", confidence, "vetoed", (
        f"the advisor vetoes {action}: it said {said} (confidence {sure:.2f})")


def _action(score: float, threshold: float) -> str:
    if score >= threshold:
        return "buy"
    if score <= -threshold:
        return "sell"
    return "hold"


def _against_threshold(score: float, threshold: float) -> str:
    if abs(score) >= threshold:
        return f"beyond the threshold {threshold:g}"
    return f"within the threshold {threshold:g}"


def _clamp(value: float) -> float:
    return max(-1.0, min(1.0, value))
