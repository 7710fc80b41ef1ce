"""The run directory: its layout, atomic writes, completion markers and stage invalidation.

```
run_dir/
  recipe.yaml          resolved recipe with each stage's key
  stages/NN-step/      part-*.parquet, one part-*._SUCCESS per part, _stage.json when complete;
                       a global step's _state.json and its fit folder _work/
  rejects/NN-step/     rejected records with reject_step and reject_reason
  output/              kept records in the requested format, _SUCCESS when complete
  stats.json
```
Every file is written to a temporary name and renamed into place, so a killed run leaves
either a whole file or none; a part counts as done only once its marker exists.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from goldpan.errors import GoldpanError
from goldpan.util.atomic import (
    atomic_write_bytes,
    atomic_write_json,
)
from goldpan.util.storage import is_local, remove_tree, to_path

MARKER_SUFFIX = "._SUCCESS"
STAGE_META = "_stage.json"
STATE_FILE = "_state.json"  # a global step's merged state (engine.state_codec), not a pickle


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@dataclass(frozen=True)
class Stage:
    """One materialised stage: the read step or a global step, then the map steps fused after
    it. ``index`` is the position of its first step (read is 0); ``key`` hashes the configs of
    its steps and of everything before it, so a change invalidates it and all later stages."""

    index: int
    steps: tuple[str, ...]
    key: str

    @property
    def name(self) -> str:
        return f"{self.index:02d}-{'+'.join(self.steps)}"


class RunDir:
    def __init__(self, root: str | Path) -> None:
        self.root = to_path(root)

    # ---- layout
    def kept_parts(self) -> list[Path]:
        """The last stage's parts: the kept records whatever format the output was written
        in (the output's Parquet files for a run directory without its stages)."""
        recipe_path = self.root / "recipe.yaml"
        if recipe_path.exists():
            stages = (yaml.safe_load(recipe_path.read_text()) or {}).get("stages") or []
            if stages:
                folder = self.stages_dir / stages[-1]["name"]
                meta_path = folder / STAGE_META
                if meta_path.exists():
                    parts = read_json(meta_path).get("parts", [])
                    return [RunDir.part_path(folder, part) for part in parts]
        if self.output_dir.exists():
            return sorted(self.output_dir.rglob("*.parquet"), key=str)
        return []

    def reject_parts(self) -> list[Path]:
        """Every rejects file of the run, all stages, in a stable order."""
        if not self.rejects_root.exists():
            return []
        return sorted(self.rejects_root.rglob("*.parquet"), key=str)

    @property
    def stages_dir(self) -> Path:
        return self.root / "stages"

    @property
    def rejects_root(self) -> Path:
        return self.root / "rejects"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def stats_path(self) -> Path:
        return self.root / "stats.json"

    def stage_dir(self, stage: Stage) -> Path:
        return self.stages_dir / stage.name

    def rejects_dir(self, stage: Stage) -> Path:
        return self.rejects_root / stage.name

    # ---- set-up
    def ensure_writable(self) -> None:
        """Create the run folder, or fail with one line when it cannot be written."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-probe-{uuid.uuid4().hex[:8]}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            reason = error.strerror or str(error)
            raise GoldpanError(f"output.dir: cannot write to {self.root}: {reason}") from None

    def prepare(self, stages: list[Stage]) -> None:
        """Drop stages whose key changed (and every stage after them) and stages no longer
        planned; keep the rest so that a rerun resumes them."""
        planned = {stage.name for stage in stages}
        invalid_from: int | None = None
        for stage in stages:
            key_file = self.stage_dir(stage) / "_key"
            started = self.stage_dir(stage).exists() or self.rejects_dir(stage).exists()
            stored = key_file.read_text().strip() if key_file.exists() else None
            if started and (stored != stage.key or self.had_failed_requests(stage)):
                invalid_from = stage.index
                break
        if invalid_from is not None:  # a redone stage may change what the output holds
            (self.output_dir / "_SUCCESS").unlink(missing_ok=True)
        for folder in (self.stages_dir, self.rejects_root):
            if not folder.exists():
                continue
            for child in folder.iterdir():
                if not child.is_dir():
                    continue
                index = int(child.name[:2]) if child.name[:2].isdigit() else -1
                stale = invalid_from is not None and index >= invalid_from
                if child.name not in planned or stale:
                    remove_tree(child)
        for stage in stages:
            for folder in (self.stage_dir(stage), self.rejects_dir(stage)):
                folder.mkdir(parents=True, exist_ok=True)
                if is_local(folder):  # an object store writes in place: no temporary files
                    for leftover in folder.glob(".tmp-*"):
                        leftover.unlink(missing_ok=True)
            atomic_write_bytes(self.stage_dir(stage) / "_key", (stage.key + "\n").encode())

    # ---- markers
    @staticmethod
    def part_path(folder: Path, part: str) -> Path:
        return folder / f"{part}.parquet"

    @staticmethod
    def marker_path(folder: Path, part: str) -> Path:
        return folder / f"{part}{MARKER_SUFFIX}"

    def stage_meta(self, stage: Stage) -> dict[str, Any] | None:
        path = self.stage_dir(stage) / STAGE_META
        return read_json(path) if path.exists() else None

    def had_failed_requests(self, stage: Stage) -> bool:
        """A finished stage some of whose model requests failed (their records rejected or
        nulled): the next run redoes it, and the generation cache answers every request that
        succeeded, so only the failed ones are sent again."""
        meta = self.stage_meta(stage) or {}
        return any((s.get("metrics") or {}).get("failures") for s in meta.get("stats", []))

    def write_stage_meta(self, stage: Stage, meta: dict[str, Any]) -> None:
        atomic_write_json(self.stage_dir(stage) / STAGE_META, {"key": stage.key, **meta})

    def stage_folders(self) -> list[Path]:
        if not self.stages_dir.exists():
            return []
        return sorted(p for p in self.stages_dir.iterdir() if p.is_dir())
