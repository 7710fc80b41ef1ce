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


class DistillResults(BaseModel):
    data: RationaleCounts
    teacher_usage: dict[str, Any] = Field(default_factory=dict)
    accuracy: dict[str, float] = Field(
        default_factory=dict, description="Greedy accuracy on the test problems, per method."
    )
    self_consistency: dict[str, float] = Field(
        default_factory=dict, description="Accuracy of NAT's sampled answers per vote weighting."
    )
    ranker_pairs: int = Field(0, description="(right, wrong) pairs the ASC ranker trained on.")
    nce_augmented: int = Field(0, description="NAT rationales added to D_pos for NCE.")
    seconds: float = 0.0
    config: dict[str, Any] = Field(default_factory=dict)
