"""The LLMs a run step calls: made in the worker that runs the step (a client never travels
to it), each behind the run's SQLite generation cache, with what they used handed to the run's
statistics part by part.

Every generating step (``generate``, ``rate``) holds one ``StepLLMs``; the options that name a
backend's connection (concurrency, timeout, retries, local batch size, device) and the prices
that turn tokens into cost are the step's own, in ``LlmCallOptions``.
"""

from __future__ import annotations

import hashlib
from abc import abstractmethod
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, Field

from goldpan.engine.step import MapStep, OptionsT
from goldpan.errors import GoldpanError
from goldpan.llm import LLM, GenerationParams, make_llm
from goldpan.llm.params import Prompt
from goldpan.models.precision import DtypeChoice
from goldpan.util.storage import is_local


class LlmCallOptions(BaseModel):
    """How a step reaches its models and what their tokens cost (mixed into its options)."""

    cache: str | None = Field(
        None, description="SQLite cache of answers (default: cache/llm.sqlite in the run)."
    )
    price_per_million_prompt_tokens: float = Field(0.0, ge=0)
    price_per_million_completion_tokens: float = Field(0.0, ge=0)
    concurrency: int | None = Field(None, ge=1, description="Server: parallel requests.")
    timeout: float | None = Field(None, gt=0, description="Server: seconds per request.")
    max_retries: int | None = Field(None, ge=0, description="Server: retries of 429/5xx.")
    batch_size: int | None = Field(None, ge=1, description="Local: prompts per batch.")
    device: str | None = Field(None, description="Local: cpu, cuda, ...")
    dtype: DtypeChoice = Field(
        "auto", description="Local: model dtype; auto is bfloat16 where the device computes it "
        "natively, else float32.",
    )


class OneModelOptions(LlmCallOptions):
    """A step that asks one model, sampling as these say."""

    llm: str = Field("smollm2-135m-instruct", description="Generation spec of the model.")
    temperature: float = Field(0.7, ge=0)
    max_new_tokens: int = Field(256, ge=1)


def local_cache_for(run_file: Any) -> Path:
    """SQLite needs a local file: a run directory in a bucket keeps its cache in this machine's
    cache folder, keyed by the run's URL."""
    key = hashlib.sha1(str(run_file).encode()).hexdigest()[:16]
    return Path.home() / ".cache" / "goldpan" / "llm" / f"{key}-{Path(str(run_file)).name}"


USAGE_FIELDS = ("requests", "cache_hits", "prompt_tokens", "completion_tokens", "failures")


class StepLLMs:
    """One ``LLM`` per backend spec, all on one cache file; usage since the last report."""

    def __init__(self, options: LlmCallOptions) -> None:
        self.options = options
        self.llms: dict[str, LLM] = {}
        self.cache: str | None = None
        self.reported: dict[str, dict[str, int]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"options": self.options, "llms": {}, "cache": None, "reported": {}}

    def get(self, spec: str, cache: str, on_error: str = "record") -> LLM:
        """The model behind ``spec``. ``record``: a server's failed request comes back as a
        Completion with ``error`` set (the step records it); ``raise``: it stops the run. An
        unreachable server stops the run either way."""
        if cache != self.cache:
            self.llms, self.reported, self.cache = {}, {}, cache
        if spec not in self.llms:
            o = self.options
            self.llms[spec] = make_llm(spec, cache, concurrency=o.concurrency, timeout=o.timeout,
                                       max_retries=o.max_retries, batch_size=o.batch_size,
                                       device=o.device, dtype=o.dtype, on_error=on_error)
        return self.llms[spec]

    def take_metrics(self) -> dict[str, float]:
        """Requests, cache hits, tokens and cost since the last call, over every model."""
        totals = dict.fromkeys(USAGE_FIELDS, 0)
        for spec, llm in self.llms.items():
            now = {name: getattr(llm.usage, name) for name in USAGE_FIELDS}
            before = self.reported.get(spec, dict.fromkeys(USAGE_FIELDS, 0))
            for name in USAGE_FIELDS:
                totals[name] += now[name] - before[name]
            self.reported[spec] = now
        if not self.llms:
            return {}
        o = self.options
        cost = (totals["prompt_tokens"] * o.price_per_million_prompt_tokens
                + totals["completion_tokens"] * o.price_per_million_completion_tokens) / 1e6
        return {**{k: float(v) for k, v in totals.items()}, "cost": cost}


class LlmStep(MapStep[OptionsT]):
    """A map step that calls LLMs through the run's SQLite cache (``cache/llm.sqlite`` in the
    run directory unless the options name a file), so a rerun, a resumed run or a new run
    directory pointed at the same file asks nothing twice. Being a map step, consecutive
    generation steps run fused over each part, with no stage between them."""

    def __init__(self, options: OptionsT | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self.llms = StepLLMs(self.options)  # type: ignore[arg-type]  # options mix LlmCallOptions in

    @property
    def cache_file(self) -> str:
        named = self.options.cache  # type: ignore[attr-defined]  # from LlmCallOptions
        if named is not None:
            cache = named
        elif self.cache_dir is not None:
            cache = self.cache_dir / "llm.sqlite"
        else:
            raise GoldpanError(f"{self.name}: no cache file: set cache (the planner gives run "
                               "steps the run's cache folder)")
        return str(cache if is_local(cache) else local_cache_for(cache))

    def process(self, batch: pa.Table) -> pa.Table:
        return self.apply(batch, {"cache": self.cache_file})

    @abstractmethod
    def apply(self, batch: pa.Table, state: dict[str, str]) -> pa.Table:
        """The step's work on a batch, with the cache file in ``state["cache"]``."""

    @cached_property
    def params(self) -> GenerationParams:
        """Sampling as a ``OneModelOptions`` step's options say, seeded by the run."""
        o = self.options
        return GenerationParams(temperature=o.temperature,  # type: ignore[attr-defined]  # OneModel
                                max_new_tokens=o.max_new_tokens,  # type: ignore[attr-defined]  # OneModel
                                seed=self.seed)

    def answers(self, llm: LLM, prompts: Mapping[int, Prompt], params: GenerationParams,
                reasons: list[str | None]) -> dict[int, str]:
        """One answer per row asked (rows by position in the batch); a failed request sets
        the row's reject reason to ``STEP:error`` (the next run asks it again)."""
        rows = list(prompts)
        out = {}
        for row, completions in zip(rows, llm.generate([prompts[r] for r in rows], params),
                                    strict=True):
            if completions[0].error is not None:
                reasons[row] = self.reason("error")
            else:
                out[row] = completions[0].text.strip()
        return out

    def take_metrics(self) -> dict[str, float]:
        return self.llms.take_metrics()
