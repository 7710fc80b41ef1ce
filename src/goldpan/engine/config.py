"""The run configuration the engine executes: input, output, executor and the steps.

A recipe file (``goldpan.recipe``) is parsed and validated into this model; the engine never
reads YAML itself.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from goldpan.data.config import InputConfig, OutputConfig


class StepConfig(BaseModel):
    """One step: its registered name plus the step's own options (validated by the step)."""

    model_config = ConfigDict(extra="allow")

    name: str

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: InputConfig
    output: OutputConfig
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = Field(None, description="Ray cluster address; none starts one.")
    workers: int | None = Field(None, gt=0, description="Parallel workers (default: all cores).")
    seed: int = 0
    plugins: list[str] = Field(
        default_factory=list, description="Modules to import first: they register custom steps."
    )
    steps: list[StepConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tokens_take_text_or_chats(self) -> Recipe:
        if self.output.format == "tokens" and self.input.kind == "preference":
            raise ValueError("output.format tokens takes text or chat records; write preference "
                             "pairs as jsonl, parquet or hf for a DPO trainer")
        return self

    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1
