"""Planning a run: which steps form which stage, and each stage's key.

A stage is the read step or one global step, followed by the map steps fused after it (map
steps ride along with reading when there are enough input units to keep every worker busy).
Each stage key chains the keys before it, so changing one step's options re-runs that stage
and the ones after it while everything before it is reused.
"""

from __future__ import annotations

from dataclasses import dataclass

import goldpan
from goldpan.data.config import InputConfig
from goldpan.data.inputs import InputFile
from goldpan.data.records import READ_STEP
from goldpan.engine.config import Recipe
from goldpan.engine.registry import build_step
from goldpan.engine.rundir import RunDir, Stage
from goldpan.engine.step import GlobalStep, Step
from goldpan.engine.views import check_records
from goldpan.util.config_hash import config_hash


@dataclass
class PlannedStage:
    stage: Stage
    steps: list[Step]  # for the read stage: the fused map steps only

    @property
    def global_step(self) -> GlobalStep | None:
        first = self.steps[0] if self.steps else None
        return first if isinstance(first, GlobalStep) else None


def fuses_with_read(recipe: Recipe, units: list[InputFile]) -> bool:
    """Map steps ride along with reading when there are enough input units to keep every
    worker busy; with fewer (one big file) they form a stage of their own, run in parallel
    over the parts the read stage wrote."""
    return len(units) >= recipe.worker_count()


def resolved_input(recipe: Recipe, units: list[InputFile]) -> InputConfig:
    """The input config with the part size filled in: big parts when files give parallelism,
    small ones when parts must."""
    if recipe.input.part_records is not None:
        return recipe.input
    size = 10_000 if fuses_with_read(recipe, units) else 2_000
    return recipe.input.model_copy(update={"part_records": size})


def plan_stages(recipe: Recipe, units: list[InputFile]) -> list[PlannedStage]:
    steps = [
        build_step(config, origin="recipe", where=("steps", index), seed=recipe.seed)
        for index, config in enumerate(recipe.steps)
    ]
    cache_dir = RunDir(recipe.output.dir).root / "cache"
    for index, step in enumerate(steps):
        check_records(step, recipe.input.kind, f"recipe: steps[{index}]")
        step.cache_dir = cache_dir
    read_config = {
        "goldpan": goldpan.__version__,
        "input": resolved_input(recipe, units).model_dump(mode="json"),
        "units": [(u.path, u.format, u.size, u.mtime_ns, u.start, u.end) for u in units],
    }
    fuse_with_read = fuses_with_read(recipe, units)
    groups: list[tuple[int, list[Step]]] = [(0, [])]
    for position, step in enumerate(steps, start=1):
        starts_stage = isinstance(step, GlobalStep) or (position == 1 and not fuse_with_read)
        if starts_stage:
            groups.append((position, [step]))
        else:
            groups[-1][1].append(step)
    planned = []
    key = config_hash(read_config)
    for index, group in groups:
        if index > 0:
            key = config_hash({"previous": key, "steps": [s.config() for s in group]})
        else:
            key = config_hash({"read": key, "steps": [s.config() for s in group]})
        names = ([READ_STEP] if index == 0 else []) + [s.name for s in group]
        planned.append(PlannedStage(Stage(index, tuple(names), key), group))
    return planned
