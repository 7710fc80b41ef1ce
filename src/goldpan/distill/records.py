"""The records of negative-data distillation: problems and graded rationales, typed.

They are built where files are read (``rationales.load_problems``, ``read_collected``, the TDG
import) or where a teacher answers, and written back with ``to_json``; every other module
reads their fields by name, never a dict's keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

COT_PROMPT = (
    "Solve the problem step by step, then give the final answer as "
    '"The answer is X."\n\nProblem: {question}'
)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Problem:
    """A question with its gold answer; where the source has them, a worked solution (a
    correct rationale for the ranker and the gold baseline), a subject and level (accuracy per
    subject) and the arithmetic expression (the simulated teacher's)."""

    id: str
    question: str
    answer: str
    solution: str | None = None
    subject: str | None = None
    level: str | None = None
    expression: str | None = None

    @property
    def prompt(self) -> str:
        """How the problem is asked: the chain-of-thought prompt every model sees."""
        return COT_PROMPT.format(question=self.question)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Problem:
        return cls(str(row["id"]), str(row["question"]), str(row["answer"]),
                   _text(row.get("solution")), _text(row.get("subject")),
                   _text(row.get("level")), _text(row.get("expression")))


@dataclass(frozen=True)
class Rationale:
    """One rationale for a problem, with what it was graded against. ``negative`` marks a wrong
    one that NT or UL learns away from; ``contrast`` holds the wrong rationales CL contrasts a
    right one with."""

    id: str  # the problem's
    question: str
    gold: str
    rationale: str
    sample: int | str = 0
    extracted: str | None = None
    source: str | None = None  # "nat": NAT's own sample; "gold": a problem's solution
    negative: bool = False
    contrast: tuple[str, ...] = field(default=())

    @property
    def prompt(self) -> str:
        return COT_PROMPT.format(question=self.question)

    def marked_negative(self) -> Rationale:
        return replace(self, negative=True)

    def contrasted_with(self, wrong: list[str]) -> Rationale:
        return replace(self, contrast=tuple(wrong))

    def to_json(self) -> dict[str, Any]:
        """The row of d_pos.jsonl or d_neg.jsonl, with TRL's prompt/completion layout beside
        it, so a chat recipe reads D_pos and D_neg as written."""
        row: dict[str, Any] = {"id": self.id, "sample": self.sample, "question": self.question,
                               "gold": self.gold, "rationale": self.rationale,
                               "extracted": self.extracted}
        if self.source is not None:
            row["source"] = self.source
        return {**row, "prompt": self.prompt, "completion": self.rationale}

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Rationale:
        return cls(str(row["id"]), str(row["question"]), str(row["gold"]),
                   str(row["rationale"]), row.get("sample", 0), _text(row.get("extracted")),
                   _text(row.get("source")))


@dataclass(frozen=True)
class QuestionCounts:
    """How many of a question's rationales were right and wrong."""

    id: str
    positive: int
    negative: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> QuestionCounts:
        return cls(str(row["id"]), int(row["positive"]), int(row["negative"]))
