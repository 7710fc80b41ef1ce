"""YAML recipe -> validated configuration.

Every error names the key path and what was expected, e.g.
``demo.yaml: steps[1].min_words: Input should be a valid integer, got 'many'``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from goldpan.errors import GoldpanError

InputFormat = Literal["auto", "jsonl", "parquet", "hf", "text"]
OutputFormat = Literal["parquet", "jsonl", "jsonl.gz", "hf"]


class InputConfig(BaseModel):
    """Where the documents come from and which fields hold what."""

    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(description="Files, folders or globs (** allowed).")
    format: InputFormat = Field("auto", description="auto picks by extension.")
    text_field: str = Field("text", description="Field holding the document text.")
    id_field: str | None = Field(
        None, description="Field holding a unique id; without it ids are FILE:LINE."
    )
    source_field: str = Field("source", description="Field holding the origin label.")
    source: str | None = Field(
        None, description="Origin label for records without source_field (default: file name)."
    )
    part_records: int | None = Field(
        None,
        gt=0,
        description="Records per part, the unit of work and resume (default: 10,000 with many "
        "input files, 2,000 with fewer files than workers, so that parts spread the work).",
    )
    split_bytes: int | None = Field(
        8 << 20,
        gt=0,
        description="Plain JSONL files larger than this are read in ranges by several workers.",
    )
    max_text_chars: int | None = Field(
        10_000_000, gt=0, description="Longer documents are rejected as text_too_long."
    )
    on_invalid_utf8: Literal["reject", "replace"] = Field(
        "reject", description="reject the line, or decode it with U+FFFD replacements."
    )

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class OutputConfig(BaseModel):
    """Where the kept records go."""

    model_config = ConfigDict(extra="forbid")

    dir: str = Field(description="Run directory: stages, rejects, output, stats, report.")
    format: OutputFormat = "parquet"
    shard_records: int | None = Field(
        None,
        gt=0,
        description="Records per output shard; none: one shard per part, linked without a copy.",
    )
    report: bool = Field(True, description="Write report.html into the run directory at the end.")


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

    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1


def _format_location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def format_validation_error(origin: str, error: ValidationError, prefix: tuple = ()) -> str:
    """All of pydantic's complaints on one line, each with its key path."""
    parts = []
    for item in error.errors():
        where = _format_location(prefix + tuple(item["loc"]))
        message = item["msg"]
        if item["type"] not in ("missing", "extra_forbidden"):
            message += f", got {item['input']!r}"
        elif item["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{where}: {message}")
    return f"{origin}: " + "; ".join(parts)


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node: Any = data
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise GoldpanError(f"--set {dotted}: no list item {key!r} (length {len(node)})")
            index = int(key)
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        else:
            raise GoldpanError(f"--set {dotted}: {'.'.join(keys[:position])} is not a mapping")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``key.path=value`` assignments; values are parsed as YAML scalars (``5``, ``true``)."""
    for item in overrides:
        if "=" not in item:
            raise GoldpanError(f"--set {item}: expected KEY.PATH=VALUE")
        dotted, raw = item.split("=", 1)
        _set_path(data, dotted.strip(), yaml.safe_load(raw) if raw else "")
    return data


def parse_recipe(data: Any, origin: str = "recipe") -> Recipe:
    if not isinstance(data, dict):
        raise GoldpanError(f"{origin}: expected a mapping with input, output and steps")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as error:
        raise GoldpanError(format_validation_error(origin, error)) from None
    from goldpan.engine.registry import build_step, load_plugins

    load_plugins(recipe.plugins, origin)
    for index, step in enumerate(recipe.steps):
        build_step(step, origin=origin, where=("steps", index))
    return recipe


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise GoldpanError(f"{path}: no such recipe file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise GoldpanError(f"{path}: not valid YAML: {first_line}") from None
    if isinstance(data, dict):
        apply_overrides(data, overrides or [])
    return parse_recipe(data, origin=path.name)


def config_hash(payload: Any) -> str:
    """Stable short hash of a JSON-able config: a changed value gives a new stage key."""
    canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
