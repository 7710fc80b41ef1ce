"""``rate``: AI-feedback ratings of each response, UltraFeedback's way (generate/rubrics.py).

Every response of the ``responses`` column is rated 1-5 on each aspect by a judge model. By
default each (response, aspect) is its own request, so no response is judged relative to its
position among the others; ``together: true`` sends the paper's all-in-one prompt per aspect.
Ratings go to ``ratings``, a list aligned with ``responses``: per response, one number per
aspect and their ``mean`` (over the aspects rated). An answer with no rating (or a failed
request) is a null, counted in the stage's statistics (``unparsable``, ``failures``); a failed
request also makes the next run redo the stage, asking only what failed.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import pyarrow as pa
from pydantic import Field

from goldpan.data.chat_records import MESSAGES, conversations, record_kind
from goldpan.engine.registry import register_step
from goldpan.engine.step import StepOptions, with_column
from goldpan.errors import GoldpanError
from goldpan.generate.prompts import conversation_so_far, instruction_text, render_template
from goldpan.generate.rubrics import (
    ASPECTS,
    RATING_PATTERN,
    Aspect,
    one_prompt,
    parse_rating,
    parse_together,
    together_prompt,
)
from goldpan.llm import GenerationParams
from goldpan.llm.step_llms import LlmCallOptions, LlmStep


class RateOptions(StepOptions, LlmCallOptions):
    llm: str = Field("smollm2-135m-instruct", description="Generation spec of the judge.")
    aspects: list[Aspect] = Field(list(ASPECTS), min_length=1,
                                  description=f"Of {', '.join(ASPECTS)}.")
    together: bool = Field(False, description="All responses in one request per aspect "
                           "(the paper's prompt) instead of one request each.")
    pattern: str = Field(RATING_PATTERN, description="Regex whose first group is the rating.")
    responses: str = Field("responses", description="Column of the responses (generate's).")
    column: str = Field("ratings", description="Column the ratings go to.")
    template: str = Field("{{ text }}", description="Text records: the instruction, a Jinja "
                          "template over the record's fields (as generate's).")
    max_new_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.0, ge=0, description="0: greedy, the usual for judging.")
    prefill: str | None = Field(
        None, description="Start the judge's answer with this (e.g. \"Rating:\"), so a small "
        "model goes on with a number; one response per request only. Local models, and "
        "servers that continue a final assistant message (vLLM).")

@register_step
class Rate(LlmStep[RateOptions]):
    """Rate every response 1-5 on UltraFeedback's aspects with an LLM judge."""

    name = "rate"
    text_side = None
    record_kinds = ("text", "chat")

    def __init__(self, options: RateOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self.unparsable = 0  # answers without a rating since the last report

    @cached_property
    def params(self) -> GenerationParams:
        o = self.options
        return GenerationParams(temperature=o.temperature, max_new_tokens=o.max_new_tokens,
                                seed=self.seed)

    @property
    def ratings_type(self) -> pa.DataType:
        return pa.list_(pa.struct([(a, pa.float64()) for a in self.options.aspects]
                                  + [("mean", pa.float64())]))

    def _instructions(self, batch: pa.Table) -> list[str]:
        if record_kind(batch) == "chat":
            return [instruction_text(conversation_so_far(t))
                    for t in conversations(batch.column(MESSAGES))]
        return [render_template(self.options.template, r, self.name) for r in batch.to_pylist()]

    def apply(self, batch: pa.Table, state: dict) -> pa.Table:
        o = self.options
        if o.responses not in batch.column_names:
            raise GoldpanError(f"rate: the records have no {o.responses!r} column; put a "
                               "generate step before rate")
        instructions = self._instructions(batch)
        responses = [[r["content"] for r in row or []]
                     for row in batch.column(o.responses).to_pylist()]
        llm = self.llms.get(o.llm, state["cache"])
        scores: dict[str, list[list[float | None]]] = {}
        for aspect in o.aspects:
            scores[aspect] = (self._together(llm, aspect, instructions, responses) if o.together
                              else self._one_by_one(llm, aspect, instructions, responses))
        ratings = []
        for row, texts in enumerate(responses):
            per_response: list[dict[str, float | None]] = []
            for k in range(len(texts)):
                values: dict[str, float | None] = {a: scores[a][row][k] for a in o.aspects}
                rated = [v for v in values.values() if v is not None]
                per_response.append({**values, "mean": sum(rated) / len(rated) if rated
                                     else None})
            ratings.append(per_response)
        return with_column(batch, o.column, pa.array(ratings, self.ratings_type))

    def _one_by_one(self, llm: Any, aspect: str, instructions: list[str],
                    responses: list[list[str | None]]) -> list[list[float | None]]:
        asked = [(row, k, one_prompt(aspect, instructions[row], text))
                 for row, texts in enumerate(responses) for k, text in enumerate(texts)
                 if text is not None]
        prefill = self.options.prefill
        prompts: list[Any] = [prompt for _, _, prompt in asked]
        if prefill:
            prompts = [[{"role": "user", "content": p}, {"role": "assistant", "content": prefill}]
                       for p in prompts]
        answers = llm.generate(prompts, self.params)
        out: list[list[float | None]] = [[None] * len(texts) for texts in responses]
        for (row, k, _), completions in zip(asked, answers, strict=True):
            out[row][k] = self._rating(completions[0], prefill or "")
        return out

    def _together(self, llm: Any, aspect: str, instructions: list[str],
                  responses: list[list[str | None]]) -> list[list[float | None]]:
        asked = [(row, [k for k, t in enumerate(texts) if t is not None])
                 for row, texts in enumerate(responses)]
        asked = [(row, ks) for row, ks in asked if ks]
        prompts = [together_prompt(aspect, instructions[row],
                                   [responses[row][k] or "" for k in ks]) for row, ks in asked]
        answers = llm.generate(prompts, self.params)
        out: list[list[float | None]] = [[None] * len(texts) for texts in responses]
        for (row, ks), completions in zip(asked, answers, strict=True):
            completion = completions[0]
            parsed = ([None] * len(ks) if completion.error is not None
                      else parse_together(completion.text, len(ks), self.options.pattern))
            self.unparsable += sum(v is None for v in parsed) if completion.error is None else 0
            for k, value in zip(ks, parsed, strict=True):
                out[row][k] = value
        return out

    def _rating(self, completion: Any, prefill: str = "") -> float | None:
        if completion.error is not None:
            return None
        value = parse_rating(prefill + completion.text, self.options.pattern)
        if value is None:
            self.unparsable += 1
        return value

    def take_metrics(self) -> dict[str, float]:
        metrics = super().take_metrics()
        if self.unparsable:
            metrics["unparsable"] = float(self.unparsable)
            self.unparsable = 0
        return metrics
