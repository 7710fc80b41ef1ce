"""``generate``: responses to each record's prompt from one or several models.

A chat record is asked its conversation so far; a text record its fields through ``template``
(one user message). Each model gives ``n`` samples (sample ``i`` seeded ``seed + i``, so each is
reproducible and cached on its own). The responses go to ``responses``: a list of ``{model,
content, finish_reason, truncated, error}`` in model order, then sample order; with ``append``
the first good response becomes the conversation's next assistant turn.

A request the server fails (an error status, a timeout after the retries, a malformed answer)
is never a dead run: the record is rejected as ``generate:error`` (or, ``failed: keep``, keeps
a response with no content and the error), the failure is counted, and the stage is redone on
the next run, where the cache answers every request that succeeded and only the failed ones are
sent again. A server that cannot be reached at all stops the run with one line.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field, field_validator

from goldpan.data.chat_records import (
    MESSAGES,
    conversations,
    record_kind,
    transcripts,
    turns_array,
)
from goldpan.data.schema import TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import StepOptions, with_column, with_reject_reasons
from goldpan.errors import GoldpanError
from goldpan.generate.prompts import conversation_so_far, render_template
from goldpan.llm import GenerationParams
from goldpan.llm.params import Completion
from goldpan.llm.step_llms import LlmCallOptions, LlmStep

RESPONSE_TYPE = pa.struct([
    ("model", pa.string()), ("content", pa.large_string()), ("finish_reason", pa.string()),
    ("truncated", pa.bool_()), ("error", pa.string()),
])
RESPONSES_TYPE = pa.list_(RESPONSE_TYPE)


class GenerateOptions(StepOptions, LlmCallOptions):
    llm: list[str] = Field(["smollm2-135m-instruct"],
                           description="Generation specs: local models or openai:MODEL@URL.")
    n: int = Field(1, ge=1, description="Samples per model.")
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_new_tokens: int = Field(256, ge=1)
    seed: int | None = Field(None, description="Sampling seed (default: the recipe's seed).")
    template: str = Field("{{ text }}", description="Text records: the prompt, a Jinja template "
                          "over the record's fields (chat records are asked their turns).")
    column: str = Field("responses", description="Column the responses go to.")
    append: bool = Field(False, description="Chat records: the first good response becomes the "
                         "next assistant turn.")
    failed: Literal["reject", "keep"] = Field(
        "reject", description="A record with a failed request: rejected as generate:error, or "
        "kept with the failure in its responses.")

    @field_validator("llm", mode="before")
    @classmethod
    def _one_model_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


def response(model: str, completion: Completion) -> dict[str, Any]:
    failed = completion.error is not None
    return {"model": model, "content": None if failed else completion.text,
            "finish_reason": completion.finish_reason,
            "truncated": completion.finish_reason == "length", "error": completion.error}


@register_step
class Generate(LlmStep[GenerateOptions]):
    """Responses from one or several LLMs to each record's prompt (n samples per model)."""

    name = "generate"
    text_side = None  # asks whole records: a conversation's turns, a text record's fields
    record_kinds = ("text", "chat")

    @cached_property
    def params(self) -> GenerationParams:
        o = self.options
        return GenerationParams(temperature=o.temperature, top_p=o.top_p,
                                max_new_tokens=o.max_new_tokens, n=o.n,
                                seed=self.seed if o.seed is None else o.seed)

    def prompts(self, batch: pa.Table) -> list[Any]:
        if record_kind(batch) == "chat":
            return [conversation_so_far(turns) for turns in conversations(batch.column(MESSAGES))]
        if self.options.append:
            raise GoldpanError("generate: append needs chat records (input.kind: chat)")
        return [render_template(self.options.template, record, self.name)
                for record in batch.to_pylist()]

    def apply(self, batch: pa.Table, state: dict) -> pa.Table:
        o = self.options
        prompts = self.prompts(batch)
        answers: list[list[dict[str, Any]]] = [[] for _ in prompts]
        models = [self.llms.get(spec, state["cache"]) for spec in o.llm]
        # The models are asked at the same time (each up to its own concurrency): a part
        # waits for its slowest model, not for the sum of them.
        with ThreadPoolExecutor(len(models), thread_name_prefix="goldpan-generate") as pool:
            rows = list(pool.map(lambda llm: llm.generate(prompts, self.params), models))
        for spec, per_model in zip(o.llm, rows, strict=True):
            for mine, completions in zip(answers, per_model, strict=True):
                mine += [response(spec, c) for c in completions]
        reasons = [self.reason("error") if o.failed == "reject" and any(r["error"] for r in rs)
                   else None for rs in answers]
        batch = with_column(batch, o.column, pa.array(answers, RESPONSES_TYPE))
        if o.append:
            batch = self._appended(batch, answers)
        return with_reject_reasons(batch, reasons)

    def _appended(self, batch: pa.Table, answers: list[list[dict[str, Any]]]) -> pa.Table:
        chats = conversations(batch.column(MESSAGES))
        for turns, responses in zip(chats, answers, strict=True):
            first = next((r for r in responses if r["content"] is not None), None)
            if first is not None:
                turns[:] = [*conversation_so_far(turns),
                            {"role": "assistant", "content": first["content"]}]
        batch = with_column(batch, MESSAGES, turns_array(chats))
        return with_column(batch, TEXT, transcripts(batch, "chat"))
