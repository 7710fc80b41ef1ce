"""Self-Instruct's bootstrap pool, shared by Self-Instruct and Montessori-Instruct.

A prompt shows ``prompt_instructions`` instructions: up to ``machine_in_prompt`` drawn from the
instructions generated and accepted so far, the rest from the seed tasks (Wang et al. 2023,
section 2.2). Generation runs in rounds and the machine pool is refreshed between them, so
from the second round on prompts carry generated instructions. Every candidate goes through
the same accept sequence: the original's capitalisation and filters (or Montessori-Instruct's
reference code's), then ROUGE-L novelty against everything in the pool (or, as that code does,
against the generated instructions and the ones shown in the round's prompts).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from goldpan.synth.filters import (
    instruction_problem,
    reference_cleaned,
    reference_problem,
    without_input_tags,
)
from goldpan.synth.rouge import RougeLPool


@dataclass
class Verdict:
    """What the accept sequence decided about one candidate instruction."""

    instruction: str
    problem: str | None = None  # the reject reason; None: accepted
    similar_to: str | None = None  # for too_similar: the pool instruction it resembles
    rouge_l: float | None = None

    def as_rejection(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"instruction": self.instruction, "reason": self.problem}
        if self.similar_to is not None:
            entry["similar_to"] = self.similar_to
            entry["rouge_l"] = round(self.rouge_l or 0.0, 4)
        return entry


@dataclass
class InstructionPool:
    """Seed instructions, the generated instructions accepted so far, and the filters."""

    seeds: list[str]
    rouge_threshold: float = 0.7
    min_words: int = 4
    max_words: int = 150
    # self_instruct: the original's filters, in words; reference: Montessori-Instruct's code's
    # post_process (characters, capitalize, <input> tags removed).
    filters: Literal["self_instruct", "reference"] = "self_instruct"
    # all: novelty against every seed and generated instruction (Self-Instruct); shown:
    # against the generated ones and the instructions shown in this round's prompts only
    # (Montessori-Instruct's gen_instructions.py ``is_similar_instruction``).
    novelty: Literal["all", "shown"] = "all"
    machine: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rouge = RougeLPool(list(self.seeds) if self.novelty == "all" else [])
        self._shown = RougeLPool()

    def show(self, instructions: list[str]) -> None:
        """The instructions this round's prompts show: with ``novelty="shown"`` the seeds among
        them are what candidates of this round must differ from (besides generated ones)."""
        if self.novelty == "shown":
            self._shown = RougeLPool(list(dict.fromkeys(instructions)))

    def prompt_instructions(self, rng: random.Random, total: int, machine: int) -> list[str]:
        """The instructions one prompt shows: up to ``machine`` generated ones (as many as the
        pool has), the rest seeds, in random order."""
        chosen = rng.sample(self.machine, min(machine, len(self.machine)))
        chosen += rng.sample(self.seeds, total - len(chosen))
        rng.shuffle(chosen)
        return chosen

    def judge(self, raw: str, truncated: bool = False) -> Verdict:
        """The accept sequence for one candidate; records a rejection, never adds to the pool."""
        if self.filters == "reference":
            instruction = reference_cleaned(raw)
            problem = reference_problem(instruction)
            if problem is None:
                instruction = without_input_tags(instruction)
        else:
            text = " ".join(raw.split())
            instruction = text[:1].upper() + text[1:]  # the original capitalises
            problem = (instruction_problem(instruction, self.min_words, self.max_words)
                       if instruction else "empty")
        verdict = Verdict(instruction)
        # Cut by the token limit: an unfinished instruction.
        verdict.problem = "truncated" if truncated else problem
        if verdict.problem is None:
            self._novelty(verdict)
        if verdict.problem is not None:
            self.reject(verdict)
        return verdict

    def _novelty(self, verdict: Verdict) -> None:
        """Marks the verdict too_similar when a compared instruction is above the threshold."""
        for pool in (self._rouge, self._shown):
            similar = pool.too_similar(verdict.instruction, self.rouge_threshold)
            if similar is not None and (verdict.rouge_l is None or similar[1] > verdict.rouge_l):
                verdict.problem = "too_similar"
                verdict.similar_to = pool.texts[similar[0]]
                verdict.rouge_l = similar[1]

    def reject(self, verdict: Verdict) -> None:
        self.reasons[verdict.problem or "unknown"] += 1
        self.rejected.append(verdict.as_rejection())

    def accept(self, instruction: str) -> None:
        """Add an accepted instruction: later candidates are compared with it, later prompts
        may show it."""
        self._rouge.add(instruction)
        self.machine.append(instruction)
