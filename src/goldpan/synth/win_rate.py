"""Which of two models answers better: a judge's pairwise verdicts in both orders, and the
length-controlled win rate (Dubois et al. 2024, AlpacaEval 2 LC) of those verdicts.

Judges prefer longer answers; a student whose data makes it verbose wins more often without
being better. AlpacaEval's LC win rate fits a logistic model of each verdict on the model term
and the length difference, then reports the win rate predicted with the length difference set
to zero. AlpacaEval's GLM also has an instruction-difficulty term estimated from its
leaderboard of many models; with the two students alone that term cannot be estimated, so the
model here is the rest of it:

    P(first wins on i) = sigmoid(theta + phi * tanh(delta_i / sd(delta)))

fitted to soft outcomes (1 win, 0 loss, 0.5 tie) by maximum likelihood; LC = sigmoid(theta).
delta_i is the first answer's length minus the second's, in characters, as AlpacaEval counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from goldpan.llm import LLM, GenerationParams
from goldpan.synth.results import JudgedComparison


def length_controlled_win_rate(
    outcomes: Sequence[float], first_lengths: Sequence[int], second_lengths: Sequence[int]
) -> float:
    """The win rate of the first model at equal answer lengths (see the module docstring)."""
    import numpy as np
    from scipy.optimize import minimize

    y = np.asarray(outcomes, dtype=float)
    if len(y) == 0:
        return math.nan
    delta = np.asarray(first_lengths, dtype=float) - np.asarray(second_lengths, dtype=float)
    spread = float(delta.std())
    feature = np.tanh(delta / spread) if spread > 0 else np.zeros_like(delta)

    def loss(params: np.ndarray) -> float:
        logits = params[0] + params[1] * feature
        # Binary cross-entropy with soft targets, written stably: log(1 + e^z) - y z.
        return float(np.mean(np.logaddexp(0.0, logits) - y * logits))

    # A tiny ridge keeps the fit finite when one side wins every time (separable data).
    fitted = minimize(lambda p: loss(p) + 1e-4 * float(p @ p), np.zeros(2), method="BFGS")
    return float(1.0 / (1.0 + math.exp(-fitted.x[0])))


JUDGE_PROMPT = (
    "Which response follows the instruction better? Answer with the letter A or B only.\n\n"
    "Instruction: {instruction}\n\nResponse A: {a}\n\nResponse B: {b}\n\nBetter response:"
)


def judge_pairwise(
    judge: LLM, instructions: list[str], first: list[str], second: list[str]
) -> JudgedComparison:
    """Win rate of ``first`` over ``second``: each pair judged in both orders; a side wins only
    if preferred in both, otherwise it is a tie (half a win). Also the length-controlled win
    rate of the same verdicts."""
    params = GenerationParams(temperature=0.0, max_new_tokens=3, chat=True)
    forward = [
        JUDGE_PROMPT.format(instruction=i, a=a, b=b)
        for i, a, b in zip(instructions, first, second, strict=True)
    ]
    backward = [
        JUDGE_PROMPT.format(instruction=i, a=b, b=a)
        for i, a, b in zip(instructions, first, second, strict=True)
    ]
    verdicts = judge.generate(forward + backward, params)
    outcomes = []
    for k in range(len(instructions)):
        one = _letter(verdicts[k][0].text)
        two = _letter(verdicts[len(instructions) + k][0].text)
        outcomes.append(1.0 if (one, two) == ("A", "B") else 0.0 if (one, two) == ("B", "A")
                        else 0.5)
    decided = outcomes.count(1.0) + outcomes.count(0.0)
    return JudgedComparison(
        wins=outcomes.count(1.0), losses=outcomes.count(0.0), ties=outcomes.count(0.5),
        # A judge that tied everything is uninformative, not a 0.500 win rate.
        win_rate=sum(outcomes) / len(outcomes) if decided else None, outcomes=outcomes,
        length_controlled_win_rate=length_controlled_win_rate(
            outcomes, [len(a) for a in first], [len(b) for b in second]
        ) if decided else None,
    )


def _letter(text: str) -> str | None:
    for character in text.strip().upper():
        if character in "AB":
            return character
        if character.isalpha():
            return None
    return None
