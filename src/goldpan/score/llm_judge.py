"""``llm_judge``: an LLM grades each document (or a seeded sample of them) with a prompt.

The annotation half of the loop FineWeb-Edu made standard: an LLM scores a sample, a small
classifier learns the scores (``goldpan train-classifier``), the classifier scores everything
(``classify``). The judge is any generation spec (a local model, ``openai:MODEL@URL``); every
call goes through the SQLite generation cache, so a rerun or a resumed run sends nothing twice,
and a new run directory reuses earlier answers when ``cache`` names the same file.

Answers that hold no score are rejected as ``llm_judge:unparsable`` (or kept with a null score,
``unparsable: keep``). ``sample`` judges only some documents: a fraction, or exactly
``per_source`` documents of each source, chosen by a seeded hash of the id (so a sample is the
same on every executor and a larger one contains a smaller one); the others keep a null score
(or are rejected as ``llm_judge:not_sampled``, for an annotation-only run). Requests, cache
hits, tokens and cost (from the per-million prices) are counted in the run's statistics.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from goldpan.data.draws import uniform_from_ids
from goldpan.data.schema import ID, SOURCE
from goldpan.engine.registry import register_step
from goldpan.engine.step import (
    FitContext,
    GlobalStep,
    StepOptions,
    with_column,
    with_reject_reasons,
)
from goldpan.llm import LLM, GenerationParams
from goldpan.llm.step_llms import LlmCallOptions, StepLLMs, local_cache_for
from goldpan.score.judge_prompts import ANSWER_SCHEMA, BUILTINS, Rubric, render, score_answer
from goldpan.util.storage import is_local


class JudgeSample(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fraction: float | None = Field(None, gt=0, le=1, description="Share of documents judged.")
    per_source: int | None = Field(None, ge=1, description="Documents judged per source.")
    seed: int | None = Field(None, description="Sampling seed (default: the recipe's seed).")

    @model_validator(mode="after")
    def _one_rule(self) -> JudgeSample:
        if (self.fraction is None) == (self.per_source is None):
            raise ValueError("set exactly one of fraction and per_source")
        return self


class LlmJudgeOptions(StepOptions, LlmCallOptions):
    llm: str = Field("smollm2-135m-instruct", description="Generation spec of the judge.")
    template: str = Field("fineweb_edu", description=f"Built-in ({', '.join(BUILTINS)}) or a "
                          "Jinja file (sees text and the record's fields).")
    column: str = Field("judge_score", description="Column the score goes to.")
    score_pattern: str | None = Field(
        None, description="Custom template: regex whose first group is the score (last match)."
    )
    score_range: tuple[float, float] | None = Field(
        None, description="Scores outside [low, high] count as unparsable."
    )
    yes_tokens: tuple[str, ...] = Field(("yes", "Yes"), description="ask_llm: the yes tokens.")
    max_chars: int = Field(30_000, ge=1, description="Characters of the text put in the prompt.")
    max_new_tokens: int | None = Field(None, ge=1, description="Default: the template's.")
    temperature: float = Field(0.0, ge=0, description="0: greedy (the usual for judging).")
    json_schema: bool = Field(
        False, description="Ask for {reason, score} JSON through the server's response_format."
    )
    unparsable: Literal["reject", "keep"] = Field("reject", description="Keep: a null score.")
    sample: JudgeSample | None = Field(None, description="Judge only a seeded sample.")
    unsampled: Literal["keep", "reject"] = Field("keep", description="Documents not judged.")
    min_score: float | None = Field(None, description="Reject judged documents scored below.")

    @model_validator(mode="after")
    def _scorable(self) -> LlmJudgeOptions:
        if self.template not in BUILTINS and self.score_pattern is None:
            raise ValueError("a custom template needs score_pattern (a regex, group 1 = score)")
        return self


def _sources(batch: pa.Table) -> list[Any]:
    return (batch.column(SOURCE).to_pylist() if SOURCE in batch.column_names
            else [None] * batch.num_rows)


@register_step
class LlmJudge(GlobalStep[LlmJudgeOptions]):
    """Score documents with an LLM judge (FineWeb-Edu rubric, Ask-LLM, a 1-10 rating, or
    your own template)."""

    name = "llm_judge"
    text_side = "answer"

    def __init__(self, options: LlmJudgeOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self.llms = StepLLMs(self.options)  # made where the step runs, never carried to it

    @property
    def fit_reads_data(self) -> bool:  # type: ignore[override]  # per options, not per class
        sample = self.options.sample
        return sample is not None and sample.per_source is not None

    def score_columns(self) -> tuple[str, ...]:
        return (self.options.column,)

    # ------------------------------------------------------------------ sampling
    def _draws(self, ids: list[str]) -> np.ndarray:
        sample = self.options.sample
        seed = self.seed if sample is None or sample.seed is None else sample.seed
        return uniform_from_ids(ids, seed)

    def fit_part(self, batch: pa.Table, part_index: int, context: FitContext) -> dict:
        """Per source, the ``per_source`` smallest draws of this part."""
        sample = self.options.sample
        assert sample is not None and sample.per_source is not None, "fit_reads_data said so"
        count = sample.per_source
        draws = self._draws(batch.column(ID).to_pylist())
        by_source: dict[str, list[float]] = {}
        for source, draw in zip(_sources(batch), draws.tolist(), strict=True):
            by_source.setdefault(str(source), []).append(draw)
        return {source: heapq.nsmallest(count, values) for source, values in by_source.items()}

    def merge(self, summaries: Sequence[dict], context: FitContext) -> dict:
        o = self.options
        thresholds: dict[str, float] = {}
        if o.sample is not None and o.sample.per_source is not None:
            joined: dict[str, list[float]] = {}
            for summary in summaries:
                for source, values in summary.items():
                    joined.setdefault(source, []).extend(values)
            thresholds = {
                source: max(heapq.nsmallest(o.sample.per_source, values))
                for source, values in joined.items()
            }
        cache = o.cache or context.lasting_file("llm.sqlite")
        if not is_local(cache):
            cache = local_cache_for(cache)
        return {"thresholds": thresholds, "cache": str(cache)}

    def _sampled(self, batch: pa.Table, state: dict) -> np.ndarray:
        sample = self.options.sample
        if sample is None:
            return np.ones(batch.num_rows, dtype=bool)
        draws = self._draws(batch.column(ID).to_pylist())
        if sample.fraction is not None:
            return draws < sample.fraction
        limits = np.array([state["thresholds"].get(str(s), -1.0) for s in _sources(batch)])
        return draws <= limits

    # ------------------------------------------------------------------ judging
    @cached_property
    def rubric(self) -> Rubric:
        o = self.options
        base = BUILTINS.get(o.template, Rubric("pattern"))
        low, high = o.score_range if o.score_range is not None else (base.low, base.high)
        return Rubric(base.kind, o.score_pattern or base.pattern, low, high,
                      o.max_new_tokens or base.max_new_tokens)

    @cached_property
    def params(self) -> GenerationParams:
        o, rubric = self.options, self.rubric
        asks_yes = rubric.kind == "p_yes"
        return GenerationParams(
            temperature=o.temperature,
            max_new_tokens=rubric.max_new_tokens,
            seed=self.seed,
            top_logprobs=20 if asks_yes else 0,
            response_schema=(json.dumps(ANSWER_SCHEMA) if o.json_schema and not asks_yes
                             else None),
        )

    def _llm(self, cache: str) -> LLM:
        # A judge's failed request stops the run with its one line (retries are the backend's).
        return self.llms.get(self.options.llm, cache, on_error="raise")

    def take_metrics(self) -> dict[str, float]:
        metrics = self.llms.take_metrics()
        metrics.pop("failures", None)
        return metrics

    def apply(self, batch: pa.Table, state: dict) -> pa.Table:
        o = self.options
        sampled = self._sampled(batch, state)
        rows = np.flatnonzero(sampled)
        scores: list[float | None] = [None] * batch.num_rows
        reasons: list[str | None] = [None] * batch.num_rows
        if len(rows):
            records = batch.take(pa.array(rows)).to_pylist()
            prompts = [render(o.template, record, o.max_chars) for record in records]
            answers = self._llm(state["cache"]).generate(prompts, self.params)
            for row, completions in zip(rows.tolist(), answers, strict=True):
                score = score_answer(completions[0], self.rubric, o.yes_tokens,
                                     self.params.response_schema is not None)
                scores[row] = score
                if score is None and o.unparsable == "reject":
                    reasons[row] = self.reason("unparsable")
                elif score is not None and o.min_score is not None and score < o.min_score:
                    reasons[row] = self.reason("low_score")
        if o.unsampled == "reject":
            for row in np.flatnonzero(~sampled).tolist():
                reasons[row] = self.reason("not_sampled")
        batch = with_column(batch, o.column, pa.array(scores, pa.float64()))
        return with_reject_reasons(batch, reasons)

