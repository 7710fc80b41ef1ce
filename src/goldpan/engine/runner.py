"""Running a recipe: plan the stages, resume what is done, run the rest, write the output.

The plan groups the steps into stages (read or a global step, plus the map steps after it).
Each stage key chains the keys before it, so changing one step's options re-runs that stage
and the ones after it while everything before it is reused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from goldpan.data.chat_output import ChatOutput
from goldpan.data.inputs import InputFile, expand_inputs
from goldpan.data.readers import split_input
from goldpan.data.records import READ_STEP
from goldpan.data.token_shards import write_token_shards
from goldpan.data.writers import write_records
from goldpan.engine.config import Recipe
from goldpan.engine.executors import Executor, make_executor
from goldpan.engine.plan import PlannedStage, plan_stages, resolved_input
from goldpan.engine.progress import NoBars, StageBars
from goldpan.engine.registry import step_kind
from goldpan.engine.rundir import STATE_FILE, RunDir, Stage, read_json
from goldpan.engine.scores import score_distributions
from goldpan.engine.state_codec import encode_state
from goldpan.engine.stats import StageStats
from goldpan.engine.step import FitContext
from goldpan.engine.tasks import (
    FitPart,
    PartResult,
    ProcessPart,
    ReadUnit,
    StepCount,
    finished,
    input_rejects_path,
    run_task,
)
from goldpan.engine.unique_ids import check_unique_ids, ids_in_files
from goldpan.util.atomic import atomic_write_bytes, atomic_write_json
from goldpan.util.config_hash import config_hash
from goldpan.util.storage import is_url, parquet_rows, remove_tree


@dataclass(frozen=True)
class Work:
    """One task of a stage (its key is the name its marker and result carry) and its weight
    on the progress bar."""

    task: ReadUnit | ProcessPart
    weight: int = 1

    @property
    def key(self) -> str:
        return self.task.key


@dataclass(frozen=True)
class RunResult:
    """What a run did, for the caller to show, check or publish (the engine prints nothing)."""

    run_dir: Path
    output_dir: Any  # run_dir/output, a local path or a bucket URL's path
    stats: list[StageStats]
    output_records: int
    output_files: list[str]
    scores: dict[str, Any]  # score columns' distributions, overall and by source
    failures: int  # model requests that failed; a rerun retries only those
    seconds: float


class Runner:
    def __init__(self, recipe: Recipe, progress: StageBars | None = None) -> None:
        self.recipe = recipe
        self.progress: StageBars = progress if progress is not None else NoBars()
        self.run_dir = RunDir(recipe.output.dir)

    # ------------------------------------------------------------------ driver
    def run(self) -> RunResult:
        started = time.perf_counter()
        self.run_dir.ensure_writable()
        units = expand_inputs(self.recipe.input.paths, self.recipe.input.format)
        if self.recipe.input.split_bytes and not (
            # Splitting scans a file for its line or record starts; at a URL that is a whole
            # extra download, worth it only when workers would otherwise have no file to read.
            all(is_url(u.path) for u in units) and len(units) >= self.recipe.worker_count()
        ):
            units = [r for u in units for r in split_input(u, self.recipe.input.split_bytes)]
        plan = plan_stages(self.recipe, units)
        self.run_dir.prepare([p.stage for p in plan])
        self._write_resolved_recipe(plan)
        stats: list[StageStats] = []
        executor = make_executor(
            self.recipe.executor, self.recipe.worker_count(), self.recipe.ray_address
        )
        executor.start()
        with executor, self.progress as progress:
            parts, stage_stats = self._read_stage(plan[0], units, executor, progress)
            stats += stage_stats
            previous = plan[0].stage
            for planned in plan[1:]:
                parts, stage_stats = self._global_stage(
                    planned, previous, parts, executor, progress
                )
                stats += stage_stats
                previous = planned.stage
            output_files, output_records = self._write_output(previous, parts, executor)
        score_columns = [*self.recipe.input.score_fields]
        score_columns += [c for p in plan for step in p.steps for c in step.score_columns()]
        distributions = score_distributions(
            self.run_dir.output_dir, self.run_dir.rejects_root, score_columns
        )
        seconds = round(time.perf_counter() - started, 3)
        payload = {
            "run_dir": str(self.run_dir.root),
            "executor": self.recipe.executor,
            "workers": self.recipe.worker_count(),
            "input_units": len(units),
            "stages": [s.to_json() for s in stats],
            "output": {
                "records": output_records,
                "files": output_files,
                "format": self.recipe.output.format,
            },
            "scores": distributions,
            "seconds": seconds,
        }
        atomic_write_json(self.run_dir.stats_path, payload)
        failed = sum(int(s.metrics.get("failures", 0)) for s in stats)
        return RunResult(self.run_dir.root, self.run_dir.output_dir, stats, output_records,
                         output_files, distributions, failed, seconds)

    def _write_resolved_recipe(self, plan: list[PlannedStage]) -> None:
        resolved = self.recipe.model_dump(mode="json")
        resolved["stages"] = [{"name": p.stage.name, "key": p.stage.key} for p in plan]
        atomic_write_bytes(
            self.run_dir.root / "recipe.yaml", yaml.safe_dump(resolved, sort_keys=False).encode()
        )

    # ------------------------------------------------------------------ stages
    def _stats_for(
        self, planned: PlannedStage, counts: list[StepCount], seconds: float, resumed: int
    ) -> list[StageStats]:
        names = list(planned.stage.steps)
        result = []
        for position, (name, count) in enumerate(zip(names, counts, strict=True)):
            if name == READ_STEP:
                kind = "read"
            else:
                step = planned.steps[position - (1 if planned.stage.index == 0 else 0)]
                kind = step_kind(type(step))
            label = f"{planned.stage.index + position:02d}-{name}"
            result.append(
                StageStats(
                    label,
                    name,
                    kind,
                    count.records_in,
                    count.records_out,
                    dict(count.rejects),
                    seconds if position == 0 else 0.0,
                    count.seconds,
                    resumed,
                    metrics=dict(count.metrics),
                )
            )
        # Wall time is shared by the fused steps: split it by their measured task time.
        total_cpu = sum(s.cpu_seconds for s in result) or 1.0
        for stage_stats in result:
            stage_stats.seconds = seconds * stage_stats.cpu_seconds / total_cpu
        return result

    def _collect(self, planned: PlannedStage, results: list[PartResult]) -> list[StepCount]:
        counts = [StepCount() for _ in planned.stage.steps]
        for result in results:
            for total, count in zip(counts, result.counts, strict=True):
                total.add(count)
        return counts

    def _finish_stage(
        self,
        planned: PlannedStage,
        parts: list[str],
        part_rows: dict[str, int],
        stats: list[StageStats],
    ) -> None:
        self.run_dir.write_stage_meta(
            planned.stage,
            {
                "complete": True,
                "parts": parts,
                "part_rows": part_rows,
                "stats": [s.to_json() for s in stats],
            },
        )

    def _resumed_stage(self, planned: PlannedStage) -> tuple[list[str], list[StageStats]] | None:
        meta = self.run_dir.stage_meta(planned.stage)
        if not meta or not meta.get("complete"):
            return None
        return meta["parts"], [StageStats.from_json(s) for s in meta["stats"]]

    def _run_stage(
        self,
        planned: PlannedStage,
        work: list[Work],
        executor: Executor,
        progress: StageBars,
        unit: str,
        phase: str,
    ) -> tuple[list[PartResult], list[StageStats]]:
        """The skeleton every stage shares: skip the work whose marker says it is done, run the
        rest (results come back in completion order and are matched by their key), then the
        stage's statistics and its completion record."""
        stage_dir = self.run_dir.stage_dir(planned.stage)
        results = {w.key: done for w in work if (done := finished(stage_dir, w.key)) is not None}
        resumed = len(results)
        weights = {w.key: w.weight for w in work}
        bar = progress.stage(
            planned.stage.name, sum(weights.values()), unit, sum(weights[k] for k in results)
        )
        started = time.perf_counter()
        calls = [(w.task,) for w in work if w.key not in results]
        for result in executor.run(run_task, calls, phase=phase):
            results[result.key] = result
            progress.advance(bar, weights[result.key])
        ordered = [results[w.key] for w in work]
        stats = self._stats_for(
            planned, self._collect(planned, ordered), time.perf_counter() - started, resumed
        )
        return ordered, stats

    def _finish(
        self, planned: PlannedStage, results: list[PartResult], stats: list[StageStats]
    ) -> tuple[list[str], list[StageStats]]:
        parts = [part for result in results for part in result.parts]
        part_rows = {k: v for result in results for k, v in result.part_rows.items()}
        self._finish_stage(planned, parts, part_rows, stats)
        return parts, stats

    def _read_stage(
        self,
        planned: PlannedStage,
        units: list[InputFile],
        executor: Executor,
        progress: StageBars,
    ) -> tuple[list[str], list[StageStats]]:
        done = self._resumed_stage(planned)
        if done:
            progress.stage(f"{planned.stage.name} (done)", len(units), "files", len(units))
            return done
        stage_dir = self.run_dir.stage_dir(planned.stage)
        rejects_dir = self.run_dir.rejects_dir(planned.stage)
        config = resolved_input(self.recipe, units)
        work = [
            Work(ReadUnit(index, unit, config, planned.steps, str(stage_dir), str(rejects_dir)))
            for index, unit in enumerate(units)
        ]
        results, stats = self._run_stage(planned, work, executor, progress, "files", "task")
        if self.recipe.input.id_field is not None:
            ids_by_unit = {
                index: result.ids if result.ids is not None
                else self._read_stage_ids(stage_dir, rejects_dir, index, result)
                for index, result in enumerate(results)
            }
            check_unique_ids(ids_by_unit, units, config)
        return self._finish(planned, results, stats)

    @staticmethod
    def _read_stage_ids(
        stage_dir: Path, rejects_dir: Path, index: int, result: PartResult
    ) -> pa.ChunkedArray:
        """The ids a read task resumed from an earlier run wrote, read back from its files."""
        files = [
            path
            for part in result.parts
            for path in (RunDir.part_path(stage_dir, part), RunDir.part_path(rejects_dir, part))
        ]
        files.append(input_rejects_path(rejects_dir, index))
        return ids_in_files([path for path in files if path.exists()])

    def _global_stage(
        self,
        planned: PlannedStage,
        previous: Stage,
        parts: list[str],
        executor: Executor,
        progress: StageBars,
    ) -> tuple[list[str], list[StageStats]]:
        done = self._resumed_stage(planned)
        rows = (self.run_dir.stage_meta(previous) or {}).get("part_rows", {})
        if done:
            total = sum(rows.get(p, 0) for p in parts)
            progress.stage(f"{planned.stage.name} (done)", total, done=total)
            return done
        stage_dir = self.run_dir.stage_dir(planned.stage)
        rejects_dir = self.run_dir.rejects_dir(planned.stage)
        input_dir = str(self.run_dir.stage_dir(previous))
        state_path = self._fit(planned, parts, input_dir, executor, progress, rows)
        work = [
            Work(ProcessPart(planned.steps, state_path, part, input_dir, str(stage_dir),
                             str(rejects_dir)), rows.get(part, 0))
            for part in parts
        ]
        results, stats = self._run_stage(planned, work, executor, progress, "records", "map")
        return self._finish(planned, results, stats)

    def _fit(
        self,
        planned: PlannedStage,
        parts: list[str],
        input_dir: str,
        executor: Executor,
        progress: StageBars,
        rows: dict[str, int],
    ) -> str | None:
        step = planned.global_step
        if step is None:
            return None
        state_path = self.run_dir.stage_dir(planned.stage) / STATE_FILE
        if state_path.exists():
            return str(state_path)
        context = FitContext(self.run_dir.stage_dir(planned.stage) / "_work",
                             self.run_dir.root / "cache")
        context.workdir.mkdir(parents=True, exist_ok=True)
        bar = progress.stage(f"fit {step.name}", sum(rows.get(p, 0) for p in parts))
        summaries: list[Any] = [None] * len(parts)
        calls = [(FitPart(step, part, index, input_dir, context),)
                 for index, part in enumerate(parts)]
        if not step.fit_reads_data:
            calls, summaries = [], []
        for index, summary in executor.run(run_task, calls, phase="task"):
            summaries[index] = summary
            progress.advance(bar, rows.get(parts[index], 0))
        state = step.merge(summaries, context)
        atomic_write_bytes(state_path, encode_state(state))
        return str(state_path)

    # ------------------------------------------------------------------ output
    def _write_output(self, last: Stage, parts: list[str], executor: Executor
                      ) -> tuple[list[str], int]:
        out_dir = self.run_dir.output_dir
        marker = out_dir / "_SUCCESS"
        config = self.recipe.output.model_dump(mode="json", exclude={"report"})
        key = config_hash({"stage": last.key, "output": config})
        if marker.exists():
            meta = read_json(marker)
            if meta.get("key") == key:
                return meta["files"], meta["records"]
        if out_dir.exists():
            remove_tree(out_dir)
        stage_dir = self.run_dir.stage_dir(last)
        paths = [RunDir.part_path(stage_dir, p) for p in parts]
        known = (self.run_dir.stage_meta(last) or {}).get("part_rows", {})
        rows = [known[p] for p in parts] if all(p in known for p in parts) else None
        output = self.recipe.output
        if output.format == "tokens":
            files = write_token_shards(paths, out_dir, seed=self.recipe.seed,
                                       shuffle=output.shuffle, tokenizer=output.tokenizer,
                                       append_eos=output.append_eos,
                                       pack_tokens=output.pack.max_tokens if output.pack else None)
        else:
            files = write_records(paths, out_dir, output.format, output.shard_records,
                                  lambda fn, calls: executor.run(fn, calls, phase="task"),
                                  rows, ChatOutput(output.chat_format, output.preference_format))
        records = sum(rows) if rows is not None else sum(parquet_rows(p) for p in paths)
        atomic_write_json(marker, {"key": key, "files": files, "records": records})
        return files, records


def run_recipe(recipe: Recipe, progress: StageBars | None = None) -> RunResult:
    """Run ``recipe`` (resuming what is done), showing progress on ``progress`` if given."""
    return Runner(recipe, progress).run()
