"""``critique_revise``: Constitutional AI's supervised stage (Bai et al. 2022, "Constitutional
AI: Harmlessness from AI Feedback", arXiv 2212.08073, section 3.1).

For each conversation ending on an assistant answer, each round samples one principle (seeded
by the record's id and the round), asks the model to critique the last answer by it (the
critique request is a user turn after the conversation, as in the paper) and then to revise the
answer given its critique; the revision becomes the answer the next round critiques. The result
is the revised answer in place of the original, the rounds in ``revisions`` (principle,
critique, revision), and with ``as_preference: true`` a preference record, the revised answer
chosen over the original. Principles come from a JSONL file of ``{name, critique, revision}``;
the default set (resources/principles/default.jsonl) is ours, in the paper's form.
"""

from __future__ import annotations

import random
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import Field

from goldpan.data.chat_records import MESSAGES, conversations, transcripts, turns_array
from goldpan.data.json_lines import read_json_lines
from goldpan.data.schema import ID, TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import StepOptions, with_column, with_reject_reasons
from goldpan.errors import GoldpanError
from goldpan.generate.prompts import as_preference_records
from goldpan.llm.step_llms import LlmStep, OneModelOptions

DEFAULT_PRINCIPLES = Path(__file__).resolve().parents[1] / "resources" / "principles" / \
    "default.jsonl"
REVISION_TYPE = pa.list_(pa.struct([("principle", pa.string()), ("critique", pa.large_string()),
                                    ("revision", pa.large_string())]))


class CritiqueReviseOptions(StepOptions, OneModelOptions):
    principles: str | None = Field(None, description="JSONL of {name, critique, revision} "
                                   "(default: goldpan's six).")
    rounds: int = Field(1, ge=1, description="Critique-revision rounds (the paper: up to 4).")
    column: str = Field("revisions", description="Column the rounds go to.")
    as_preference: bool = Field(False, description="Make preference records: the revision "
                                "chosen over the original answer.")


def _principle(row: Any, line: int) -> dict[str, str]:
    return {k: str(row[k]) for k in ("name", "critique", "revision")}


def load_principles(path: str | Path) -> list[dict[str, str]]:
    principles = read_json_lines(path, "principles", _principle,
                                 "an object with name, critique and revision")
    if not principles:
        raise GoldpanError(f"principles {path}: no principle in the file")
    return principles


@register_step
class CritiqueRevise(LlmStep[CritiqueReviseOptions]):
    """Critique the last answer by a sampled principle and revise it (Constitutional AI)."""

    name = "critique_revise"
    text_side = None
    record_kinds = ("chat",)

    @cached_property
    def principles(self) -> list[dict[str, str]]:
        return load_principles(self.options.principles or DEFAULT_PRINCIPLES)

    def apply(self, batch: pa.Table, state: dict[str, str]) -> pa.Table:
        o = self.options
        chats = conversations(batch.column(MESSAGES))
        ids = batch.column(ID).to_pylist()
        reasons: list[str | None] = [None if c and c[-1]["role"] == "assistant"
                                     else self.reason("no_answer") for c in chats]
        active = [i for i, r in enumerate(reasons) if r is None]
        originals = {i: chats[i][-1]["content"] for i in active}
        answers = dict(originals)
        rounds: list[list[dict[str, str]]] = [[] for _ in chats]
        llm = self.llms.get(o.llm, state["cache"])
        for round_number in range(o.rounds):
            picked = {i: random.Random(f"{self.seed}:{ids[i]}:{round_number}").choice(
                self.principles) for i in active}
            asked = {i: [*chats[i][:-1], {"role": "assistant", "content": answers[i]},
                         {"role": "user", "content": picked[i]["critique"]}] for i in active}
            critiques = self.answers(llm, asked, self.params, reasons)
            revise = {i: [*asked[i], {"role": "assistant", "content": critiques[i]},
                          {"role": "user", "content": picked[i]["revision"]}]
                      for i in critiques}
            revisions = self.answers(llm, revise, self.params, reasons)
            for i, revision in revisions.items():
                rounds[i].append({"principle": picked[i]["name"], "critique": critiques[i],
                                  "revision": revision})
                answers[i] = revision
            active = [i for i in active if i in revisions]
        for i, answer in answers.items():
            chats[i] = [*chats[i][:-1], {**chats[i][-1], "content": answer}]
        batch = with_column(batch, o.column, pa.array(rounds, REVISION_TYPE))
        if o.as_preference:
            batch = as_preference_records(
                batch, [c[:-1] for c in chats],
                [[{"role": "assistant", "content": answers.get(i, "")}] for i in range(len(chats))],
                [[{"role": "assistant", "content": originals.get(i, "")}]
                 for i in range(len(chats))])
        else:
            batch = with_column(batch, MESSAGES, turns_array(chats))
            batch = with_column(batch, TEXT, transcripts(batch, "chat"))
        return with_reject_reasons(batch, reasons)
