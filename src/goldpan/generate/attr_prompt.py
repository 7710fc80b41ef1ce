"""``attr_prompt``: prompts made from attribute combinations, AttrPrompt's way (Yu et al. 2023,
"Large Language Model as Attributed Training Data Generator: A Tale of Diversity and Bias",
arXiv 2306.15895, section 3).

Attribute dimensions (topic, length, style, ...) each have a list of values, given in a JSON or
YAML file or proposed by a model for a described task (the paper asks ChatGPT for dimensions
and values, then keeps them fixed). Proposed attributes are frozen in the run's cache folder at
the first run (``attributes-HASH.json``), so a rerun uses the same ones. Each record (a slot:
``input.format: slots``) draws one value per dimension, seeded by its id, and becomes a chat
record whose user turn is ``template`` rendered with them; ``generate`` (``append: true``)
then writes the data. ``attributes`` keeps the draw. The report's Conversations section gives
the diversity the paper measures: distinct n-grams of the turns and the values each dimension
covered.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from goldpan.data.chat_records import MESSAGES, transcripts, turns_array
from goldpan.data.schema import ID, TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import FitContext, GlobalStep, StepOptions, with_column
from goldpan.errors import GoldpanError
from goldpan.generate.prompts import render_template
from goldpan.llm import GenerationParams
from goldpan.llm.step_llms import LlmCallOptions, StepLLMs, local_cache_for
from goldpan.util.atomic import atomic_write_bytes
from goldpan.util.storage import is_local

PROPOSE_PROMPT = """We are writing training data for this task: {task}

List {count} different values of the attribute "{dimension}" that examples of this task could
have, as varied as possible. Answer with one value per line and nothing else."""


class Proposal(BaseModel):
    """Attribute values a model proposes once per run (then frozen)."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="What the data is for, in a sentence.")
    dimensions: list[str] = Field(min_length=1, description="Attribute names.")
    values: int = Field(8, ge=2, description="Values asked for per dimension.")


class AttrPromptOptions(StepOptions, LlmCallOptions):
    template: str = Field(description="The prompt: Jinja over the attribute names.")
    attributes: str | dict[str, list[str]] | None = Field(
        None, description="A JSON or YAML file of {dimension: [values]}, or the mapping itself.")
    propose: Proposal | None = Field(None, description="Or let llm propose the values once.")
    llm: str = Field("smollm2-135m-instruct", description="The model that proposes values.")
    temperature: float = Field(0.7, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> AttrPromptOptions:
        if (self.attributes is None) == (self.propose is None):
            raise ValueError("give exactly one of attributes and propose")
        return self


def load_attributes(source: str | dict[str, list[str]]) -> dict[str, list[str]]:
    if isinstance(source, dict):
        data: Any = source
    else:
        path = Path(source)
        if not path.is_file():
            raise GoldpanError(f"attr_prompt: no attributes file {path}")
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data or not all(
            isinstance(v, list) and v and all(isinstance(x, str) for x in v)
            for v in data.values()):
        raise GoldpanError("attr_prompt: attributes must map each dimension to a non-empty "
                           "list of strings")
    return {str(k): list(v) for k, v in data.items()}


def proposed_values(answer: str, limit: int) -> list[str]:
    """One value per line, list marks and numbering stripped, duplicates dropped."""
    values: list[str] = []
    for line in answer.splitlines():
        value = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip().strip('"').strip()
        if value and value.lower() not in (v.lower() for v in values):
            values.append(value)
    return values[:limit]


def draw(attributes: dict[str, list[str]], record_id: str, seed: int) -> dict[str, str]:
    rng = random.Random(f"{seed}:{record_id}")
    return {dimension: rng.choice(values) for dimension, values in attributes.items()}


@register_step
class AttrPrompt(GlobalStep[AttrPromptOptions]):
    """Prompts from seeded attribute combinations (AttrPrompt); values given or proposed."""

    name = "attr_prompt"
    text_side = None
    record_kinds = ("text",)
    fit_reads_data = False

    def __init__(self, options: AttrPromptOptions | None = None, seed: int = 0) -> None:
        super().__init__(options, seed)
        self.llms = StepLLMs(self.options)

    def fit_part(self, batch: pa.Table, part_index: int, context: FitContext) -> None:
        return None

    def merge(self, summaries: Sequence[Any], context: FitContext) -> dict[str, list[str]]:
        """The attributes: given, or proposed once and frozen in the run's cache folder."""
        o = self.options
        if o.attributes is not None:
            return load_attributes(o.attributes)
        proposal = o.propose
        assert proposal is not None
        key = hashlib.sha1(json.dumps([o.llm, proposal.model_dump(), self.seed],
                                      sort_keys=True).encode()).hexdigest()[:12]
        frozen = context.lasting_file(f"attributes-{key}.json")
        if frozen.exists():
            return load_attributes(json.loads(frozen.read_text()))
        cache = o.cache or context.lasting_file("llm.sqlite")
        llm = self.llms.get(o.llm, str(cache if is_local(cache) else local_cache_for(cache)))
        params = GenerationParams(temperature=o.temperature, max_new_tokens=256, seed=self.seed)
        prompts = [PROPOSE_PROMPT.format(task=proposal.task, count=proposal.values, dimension=d)
                   for d in proposal.dimensions]
        attributes = {}
        for dimension, completions in zip(proposal.dimensions, llm.generate(prompts, params),
                                          strict=True):
            values = ([] if completions[0].error is not None
                      else proposed_values(completions[0].text, proposal.values))
            if not values:
                raise GoldpanError(f"attr_prompt: {o.llm} proposed no value for "
                                   f"{dimension!r}; give the attributes in a file instead")
            attributes[dimension] = values
        frozen.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(frozen, json.dumps(attributes, indent=2).encode())
        return attributes

    def apply(self, batch: pa.Table, state: dict[str, list[str]]) -> pa.Table:
        draws = [draw(state, record_id, self.seed) for record_id in batch.column(ID).to_pylist()]
        prompts = [render_template(self.options.template, d, self.name) for d in draws]
        batch = with_column(batch, MESSAGES, turns_array(
            [[{"role": "user", "content": p}] for p in prompts]))
        batch = with_column(batch, TEXT, transcripts(batch, "chat"))
        return with_column(batch, "attributes", pa.array(
            [json.dumps(d, ensure_ascii=False, sort_keys=True) for d in draws], pa.string()))

    def take_metrics(self) -> dict[str, float]:
        return self.llms.take_metrics()
