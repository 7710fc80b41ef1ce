"""``self_refine``: generate, give feedback, refine, until the feedback says stop (Madaan et al.
2023, "Self-Refine: Iterative Refinement with Self-Feedback", arXiv 2303.17651, Algorithm 1).

The first answer is the conversation's own last assistant turn, or one the model writes. Each
iteration asks the same model for feedback on the current answer; feedback containing
``stop_phrase`` ends the loop (the paper's stop condition, which its task prompts phrase per
task), otherwise the model rewrites the answer given the feedback. Up to ``max_iterations``
refinements. The whole trajectory goes to ``refinements`` (answer, feedback), the last answer
takes the place of the first, and with ``as_preference: true`` the record becomes a preference
record, the last answer chosen over the first (a record never refined is rejected as
``self_refine:unchanged``: there is no pair to make). Generic prompts; the paper's are
few-shot per task, so ``feedback_prompt`` and ``refine_prompt`` can be replaced (Jinja over
``conversation``, ``answer`` and ``feedback``).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from pydantic import Field

from goldpan.data.chat_records import MESSAGES, conversations, transcripts, turns_array
from goldpan.data.schema import TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import StepOptions, with_column, with_reject_reasons
from goldpan.generate.prompts import (
    as_preference_records,
    conversation_so_far,
    instruction_text,
    render_template,
)
from goldpan.llm.step_llms import LlmStep, OneModelOptions

FEEDBACK_PROMPT = """Here is a request and an answer to it.

## Request
{{ conversation }}

## Answer
{{ answer }}

Give specific, actionable feedback that would make the answer better: what is wrong, missing
or unclear, and how to fix it. If the answer needs no change, reply with exactly: {{ stop }}"""

REFINE_PROMPT = """Here is a request, an answer to it, and feedback on the answer.

## Request
{{ conversation }}

## Answer
{{ answer }}

## Feedback
{{ feedback }}

Rewrite the answer so that it follows the feedback. Reply with the new answer only."""

REFINEMENT_TYPE = pa.list_(pa.struct([("answer", pa.large_string()),
                                      ("feedback", pa.large_string())]))


class SelfRefineOptions(StepOptions, OneModelOptions):
    max_iterations: int = Field(3, ge=1, description="Most refinements (the paper: 4).")
    stop_phrase: str = Field("NO FURTHER CHANGES", description="Feedback holding this stops.")
    feedback_prompt: str = Field(FEEDBACK_PROMPT, description="Jinja: conversation, answer, stop.")
    refine_prompt: str = Field(REFINE_PROMPT, description="Jinja: conversation, answer, "
                               "feedback.")
    column: str = Field("refinements", description="Column the trajectory goes to.")
    as_preference: bool = Field(False, description="Make preference records: the last answer "
                                "chosen over the first.")


@register_step
class SelfRefine(LlmStep[SelfRefineOptions]):
    """Refine each answer with the model's own feedback until it says stop (Self-Refine)."""

    name = "self_refine"
    text_side = None
    record_kinds = ("chat",)

    def apply(self, batch: pa.Table, state: dict[str, str]) -> pa.Table:
        o = self.options
        llm = self.llms.get(o.llm, state["cache"])
        chats = conversations(batch.column(MESSAGES))
        prompts = [conversation_so_far(c) for c in chats]
        reasons: list[str | None] = [None] * len(chats)
        first: dict[int, str] = {i: c[-1]["content"] for i, c in enumerate(chats)
                                 if c and c[-1]["role"] == "assistant"}
        missing = [i for i in range(len(chats)) if i not in first]
        first.update(self.answers(llm, {i: prompts[i] for i in missing}, self.params, reasons))
        answers = dict(first)
        trajectory: list[list[dict[str, str | None]]] = [[] for _ in chats]
        active = list(answers)
        for _ in range(o.max_iterations):
            feedback = self.answers(llm, {i: self._render(o.feedback_prompt, prompts[i], answers[i])
                                       for i in active}, self.params, reasons)
            for i in active:
                trajectory[i].append({"answer": answers[i], "feedback": feedback.get(i)})
            active = [i for i in feedback if o.stop_phrase.lower() not in feedback[i].lower()]
            refined = self.answers(llm, {i: self._render(o.refine_prompt, prompts[i], answers[i],
                                                      feedback[i]) for i in active},
                                   self.params, reasons)
            answers.update(refined)
            active = list(refined)
        for i in active:  # refined in the last iteration, never given feedback again
            trajectory[i].append({"answer": answers[i], "feedback": None})
        batch = with_column(batch, o.column, pa.array(trajectory, REFINEMENT_TYPE))
        if o.as_preference:
            for i in answers:
                if answers[i] == first[i] and reasons[i] is None:
                    reasons[i] = self.reason("unchanged")
            batch = as_preference_records(
                batch, prompts,
                [[{"role": "assistant", "content": answers.get(i, "")}] for i in range(len(chats))],
                [[{"role": "assistant", "content": first.get(i, "")}] for i in range(len(chats))])
        else:
            for i, answer in answers.items():
                chats[i] = [*prompts[i], {"role": "assistant", "content": answer}]
            batch = with_column(batch, MESSAGES, turns_array(chats))
            batch = with_column(batch, TEXT, transcripts(batch, "chat"))
        return with_reject_reasons(batch, reasons)

    def _render(self, template: str, prompt: list[dict[str, Any]], answer: str,
                feedback: str | None = None) -> str:
        return render_template(template, {"conversation": instruction_text(prompt),
                                          "answer": answer, "feedback": feedback,
                                          "stop": self.options.stop_phrase}, self.name)
