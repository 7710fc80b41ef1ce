"""The records of instruction synthesis, typed: seed tasks, instruction/response examples (the
teacher's synthetic data, D_ref, the held-out set), the same scored by their influence on the
student, and the preference pairs DPO reads.

They are built where files are read (``load_seed_tasks``, the command line's reference and
held-out sets) or where a teacher answers, and written with ``to_json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Instance:
    input: str
    output: str


@dataclass(frozen=True)
class SeedTask:
    """A human-written task in Self-Instruct's format: an instruction with its instances and
    whether it is a classification task."""

    id: str
    instruction: str
    instances: tuple[Instance, ...] = ()
    is_classification: bool = False
    name: str | None = None
    alpaca: bool = False  # read from Alpaca's layout: one instance, its input part of the task

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> SeedTask:
        instances = tuple(Instance(str(i.get("input", "")), str(i.get("output", "")))
                          for i in row.get("instances", ()))
        return cls(str(row["id"]), row["instruction"], instances,
                   bool(row.get("is_classification")), row.get("name"), bool(row.get("alpaca")))

    @property
    def shown(self) -> str:
        """The task as Montessori-Instruct's prompt shows it: an Alpaca task's instruction with
        its input joined by a space (gen_instructions.py ``make_prompt``), else the instruction
        (Self-Instruct's instances are examples of the task, not part of it)."""
        if self.alpaca and self.instances and self.instances[0].input:
            return f"{self.instruction} {self.instances[0].input}"
        return self.instruction


@dataclass(frozen=True)
class InstructionExample:
    """An instruction and its response; for the teacher's synthetic data also the prompt that
    produced the instruction and the teacher's raw output (what DPO prefers or not)."""

    instruction: str
    response: str
    prompt: str | None = None
    output: str | None = None

    def messages(self) -> list[dict[str, str]]:
        """The example as a chat record (OpenAI's messages), so a chat recipe reads the data."""
        return [{"role": "user", "content": self.instruction},
                {"role": "assistant", "content": self.response}]

    def to_json(self) -> dict[str, Any]:
        row = {k: v for k, v in asdict(self).items() if v is not None}
        return {**row, "messages": self.messages()}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> InstructionExample:
        return cls(str(row["instruction"]), str(row["response"]), row.get("prompt"),
                   row.get("output"))


@dataclass(frozen=True)
class ScoredExample:
    """A synthetic example with its local influence on the student: I = L0 - L1, the loss on
    D_ref before and after one step on it (None: no response token to learn)."""

    example: InstructionExample
    influence: float | None
    reference_loss_before: float | None = None
    reference_loss_after: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {**self.example.to_json(), "influence": self.influence,
                "reference_loss_before": self.reference_loss_before,
                "reference_loss_after": self.reference_loss_after}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> ScoredExample:
        return cls(InstructionExample.from_json(row), row.get("influence"),
                   row.get("reference_loss_before"), row.get("reference_loss_after"))


@dataclass(frozen=True)
class InfluencePair:
    """Two outputs of one teacher prompt: the chosen one helped the student, the rejected one
    hurt it (``train.dpo``'s pair, with both influences kept for inspection)."""

    prompt: str
    chosen: str
    rejected: str
    chosen_influence: float
    rejected_influence: float

    def to_json(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected,
                "chosen_influence": self.chosen_influence,
                "rejected_influence": self.rejected_influence}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> InfluencePair:
        return cls(str(row["prompt"]), str(row["chosen"]), str(row["rejected"]),
                   float(row["chosen_influence"]), float(row["rejected_influence"]))
