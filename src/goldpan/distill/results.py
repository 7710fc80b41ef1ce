"""What a distillation run found, as typed models: written to results.json, printed by the
command line, read back by the report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class RationaleCounts(BaseModel):
    """The teacher's rationales split by answer checking."""

    questions: int
    positive: int  # D_pos: rationales whose final answer matches the gold answer
    negative: int  # D_neg: the rest
    questions_with_both: int


class BetaSummary(BaseModel):
    """NCE's per-sample beta = tanh(mean KL(p_neg || p_NAT)) over its training: if it barely
    varies, (0.5 + beta) rescales KD almost uniformly and NCE is rescaled KD."""

    samples: int
    mean: float
    sd: float
    minimum: float
    maximum: float
    histogram: list[int]  # counts in ten equal bins over [0, 1] (tanh of a KL is in [0, 1))

    @classmethod
    def of(cls, betas: list[float]) -> BetaSummary | None:
        if not betas:
            return None
        mean = sum(betas) / len(betas)
        sd = (sum((b - mean) ** 2 for b in betas) / max(1, len(betas) - 1)) ** 0.5
        histogram = [0] * 10
        for beta in betas:
            histogram[min(9, max(0, int(beta * 10)))] += 1
        return cls(samples=len(betas), mean=mean, sd=sd, minimum=min(betas),
                   maximum=max(betas), histogram=histogram)


class DistillResults(BaseModel):
    data: RationaleCounts
    teacher_usage: dict[str, Any] = Field(default_factory=dict)
    teacher_errors: dict[str, int] = Field(
        default_factory=dict, description="With the simulated teacher: D_neg's rationales per "
        "mistaken method (none: meant right, graded wrong).",
    )
    accuracy: dict[str, float] = Field(
        default_factory=dict, description="Greedy accuracy on the test problems, per method."
    )
    solved: dict[str, list[bool]] = Field(
        default_factory=dict, description="Per method, whether it solved each test problem "
        "(in test order): for overlaps and paired comparisons between methods.",
    )
    accuracy_by_subject: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per method, greedy accuracy per test subject."
    )
    macro_accuracy: dict[str, float] = Field(
        default_factory=dict, description="Per method, the mean of its per-subject accuracies."
    )
    extra_accuracy: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Per out-of-distribution test set, per method."
    )
    self_consistency: dict[str, float] = Field(
        default_factory=dict, description="Accuracy of NAT's sampled answers per vote weighting."
    )
    self_consistency_credit: dict[str, list[float]] = Field(
        default_factory=dict, description="Per vote weighting, each test problem's credit (1 if "
        "the vote picked the gold answer, 1/k for a k-way tie that holds it, else 0), in test "
        "order: for paired comparisons.",
    )
    ranker_pairs: int = Field(0, description="(right, wrong) pairs the ASC ranker trained on.")
    nce_augmented: int = Field(0, description="NAT rationales added to D_pos for NCE.")
    nat_correct_samples: int = Field(
        0, description="NAT's correct samples on the training questions before deduplication "
        "(nce_augmented counts the new, distinct ones among them)."
    )
    nce_beta: BetaSummary | None = Field(
        None, description="NCE's per-sample beta over its training (mean, sd, histogram)."
    )
    dropped_for_length: dict[str, int] = Field(
        default_factory=dict, description="Per training phase, the rationales TDG's character "
        "filter left out (question + rationale of max_pair_characters or more)."
    )
    context: dict[str, int] = Field(
        default_factory=dict, description="Per training phase, the context it trained with: "
        "with context=fit, its longest kept pair in tokens."
    )
    trainable_parameters: dict[str, int] = Field(
        default_factory=dict, description="Trainable parameters of NAT, CoT KD and the "
        "parameter-matched CoT KD (when that ablation runs).",
    )
    solved_overlap: float | None = Field(
        None, description="IoU of the test problems CoT KD and the negative model M_neg solve "
        "(the paper's Table 1).",
    )
    seconds: float = 0.0
    config: dict[str, Any] = Field(default_factory=dict)


# How each accuracy is labelled in results.md and the report.
METHOD_LABELS = {
    "teacher": "teacher (greedy)",
    "base": "base student (greedy)",
    "gold": "fine-tuned on gold solutions (greedy)",
    "cot_kd": "CoT KD (greedy)",
    "negative": "negative model M_neg (greedy)",
    "mix": "MIX: D_pos and D_neg (greedy)",
    "nt": "NT, lambda 0.05 (greedy)",
    "ul": "UL, lambda 0.05 (greedy)",
    "cl": "CL, contrastive (greedy)",
    "nat": "NAT (greedy)",
    "kd": "KD from NAT, no calibration (greedy)",
    "nce": "NCE (greedy)",
    "nat_zero": "NAT over a zeroed negative LoRA (greedy)",
    "nat_dpos": "NAT over a LoRA trained on D_pos (greedy)",
    "cot_kd_matched": "CoT KD with NAT's parameter count (greedy)",
}
VOTE_LABELS = {
    "plain": "NAT + self-consistency (weight 1)",
    "1+2s": "NAT + ASC (1 + 2s)",
    "1+s": "NAT + ASC (1 + s)",
    "s": "NAT + ASC (s)",
    "probability": "NAT + weighted-sum self-consistency (sample probability)",
}
