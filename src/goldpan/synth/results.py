"""What Self-Instruct and Montessori-Instruct runs produced, as typed models: written to
stats.json and summary.json, printed by the command line, read back by the reports."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class SelfInstructStats(BaseModel):
    """Counts of a Self-Instruct run (stats.json)."""

    config: dict[str, Any]
    instructions: int
    classification_tasks: int
    tasks_with_instances: int
    instances: int
    raw_instructions: int  # generated before the filters
    rejected: dict[str, int] = Field(default_factory=dict)  # per filter reason
    usage: dict[str, Any] = Field(default_factory=dict)  # the teacher's requests and tokens
    seconds: float = 0.0


class JudgedComparison(BaseModel):
    """The judge's verdicts on the Montessori student against the Self-Instruct student."""

    wins: int
    losses: int
    ties: int  # ties and verdicts that changed with the order, counted as half
    win_rate: float | None = Field(
        description="None when the judge tied every comparison: such a judge (one that answers "
        "with the same letter in both orders, as small models do) says nothing, and 0.500 "
        "would read as a finding."
    )
    length_controlled_win_rate: float | None = Field(
        None, description="The win rate at equal answer lengths (AlpacaEval 2 LC's model "
        "without its difficulty term; synth.win_rate)."
    )
    outcomes: list[float] = Field(
        default_factory=list, description="Per instruction: 1 win, 0 loss, 0.5 tie."
    )

    @property
    def informative(self) -> bool:
        """Whether the judge decided at least one comparison in both orders."""
        return self.wins + self.losses > 0


class StudentResult(BaseModel):
    held_out_loss: float | None = Field(
        None, description="Mean token loss on the held-out evaluation set (never seen by the "
        "teacher's optimisation)."
    )
    reference_loss: float = Field(
        description="Mean token loss on D_ref, the set the teacher was optimised against: a "
        "diagnostic, not an evaluation."
    )
    held_out_example_losses: list[float | None] = Field(
        default_factory=list, description="Per held-out example, its mean token loss, None when "
        "its prompt left no response token within max_length (for paired comparisons)."
    )


class Evaluation(BaseModel):
    """Two students trained on equal numbers of examples, one per data source."""

    examples: int
    held_out: int = Field(0, description="Held-out examples the students' loss is measured on.")
    held_out_keys: list[str] = Field(
        default_factory=list, description="Per held-out example, a digest of its instruction "
        "and response: runs pair their examples by it (synth compare)."
    )
    students: dict[str, StudentResult] = Field(default_factory=dict)
    montessori_vs_self_instruct: JudgedComparison | None = None
    note: str | None = None


class IterationResult(BaseModel):
    """One teacher update: its data, the influence probes, the pairs, the DPO losses."""

    iteration: int
    synthetic: int
    prompts: int = 0  # teacher prompts of this iteration's synthesis
    prompts_with_generated: int = 0  # of them, prompts that showed generated instructions
    probes: int
    positive: int  # probes whose influence helped (> 0)
    negative: int  # probes whose influence hurt (< 0)
    skipped_no_response_tokens: int = 0
    momentum_influence: float | None = Field(
        None, description="Influence of a zero-gradient step: the restored AdamW momentum "
        "alone, a term every probe's step shares (why most probes come out helpful)."
    )
    above_momentum: int | None = Field(
        None, description="Probes whose influence exceeds the momentum's alone."
    )
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
