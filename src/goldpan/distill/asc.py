"""ASC: self-consistency where each sampled answer's vote is weighted by a ranking model's
score s in [0, 1] of its rationale (Li et al., AAAI 2024). Weights: 1 (plain self-consistency),
1 + 2s, 1 + s, or s. Ties between answers with the same total are split: each tied answer wins
an equal share (for accuracy, a question counts 1 / number of tied answers if the gold one is
among them). The paper's other baseline, weighted-sum self-consistency, weights each vote by
the sample's length-normalised probability exp(mean log p(token)) (Wang et al. 2023's
"weighted sum" with normalised probabilities); ``sequence_weight`` computes it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

Weighting = Literal["plain", "1+2s", "1+s", "s"]

WEIGHTS: dict[Weighting, Callable[[float], float]] = {
    "plain": lambda s: 1.0,
    "1+2s": lambda s: 1.0 + 2.0 * s,
    "1+s": lambda s: 1.0 + s,
    "s": lambda s: s,
}


def sequence_weight(logprobs: Sequence[float] | None) -> float:
    """exp(mean token log-probability) of a sample; 0 when the backend gave none."""
    if not logprobs:
        return 0.0
    return math.exp(sum(logprobs) / len(logprobs))


def vote(
    answers: Sequence[str | None],
    scores: Sequence[float],
    weighting: Weighting = "1+2s",
    same: Callable[[str, str], bool] | None = None,
) -> dict[str, float]:
    """The winning answers with their share of the win (1.0 for a single winner)."""
    totals: list[tuple[str, float]] = []
    weight_of = WEIGHTS[weighting]
    for answer, score in zip(answers, scores, strict=True):
        if answer is None:
            continue
        for index, (known, total) in enumerate(totals):
            if same(answer, known) if same else answer == known:
                totals[index] = (known, total + weight_of(score))
                break
        else:
            totals.append((answer, weight_of(score)))
    if not totals:
        return {}
    best = max(total for _, total in totals)
    winners = [answer for answer, total in totals if abs(total - best) <= 1e-9]
    return {answer: 1.0 / len(winners) for answer in winners}


def credit(winners: dict[str, float], gold: str, same: Callable[[str, str], bool]) -> float:
    """The accuracy credit of a vote: the share of the gold answer among the winners."""
    return sum(share for answer, share in winners.items() if same(answer, gold))
