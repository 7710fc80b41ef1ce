"""What a Montessori-Instruct run found, as typed models: written to summary.json, printed by
the command line, read back by the report."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class JudgedComparison(BaseModel):
    """The judge's verdicts on the Montessori student against the Self-Instruct student."""

    wins: int
    losses: int
    ties: int  # ties and verdicts that changed with the order, counted as half
    win_rate: float


class StudentResult(BaseModel):
    reference_loss: float


class Evaluation(BaseModel):
    """Two students trained on equal numbers of examples, one per data source."""

    examples: int
    students: dict[str, StudentResult] = Field(default_factory=dict)
    montessori_vs_self_instruct: JudgedComparison | None = None
    note: str | None = None


class IterationResult(BaseModel):
    """One teacher update: its data, the influence probes, the pairs, the DPO losses."""

    iteration: int
    synthetic: int
    probes: int
    positive: int  # probes whose influence helped (> 0)
    negative: int  # probes whose influence hurt (< 0)
    skipped_no_response_tokens: int = 0
    pairs: int
    reference_loss_after_warmup: float | None = None
    dpo_loss: list[float] = Field(default_factory=list)


class MontessoriSummary(BaseModel):
    config: dict[str, Any]
    iterations: list[IterationResult] = Field(default_factory=list)
    final_data: int = 0
    teacher: str = ""
    evaluation: Evaluation | None = None
    seconds: float = 0.0
