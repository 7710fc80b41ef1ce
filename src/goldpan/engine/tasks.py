"""The units of work an executor runs: read one input unit, process one part, fit one part.

Consecutive map steps are fused: a part passes through all of them in memory and is written
once, with each step's rejects and counts kept apart. A stage is therefore the read step or
one global step, followed by the map steps after it.

Each task is a plain module-level function of picklable arguments, so the local process pool
and Ray run exactly the same code, and each writes its files atomically before its marker.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from goldpan.data.chunking import Rechunker
from goldpan.data.config import InputConfig
from goldpan.data.inputs import InputFile
from goldpan.data.readers import read_input
from goldpan.data.records import count_values
from goldpan.data.schema import ID, REJECT_REASON, REJECT_STEP, kept_columns
from goldpan.engine.rundir import RunDir, read_json
from goldpan.engine.state_codec import decode_state
from goldpan.engine.step import FitContext, GlobalStep, MapStep, Step
from goldpan.engine.views import call_on_records, fit_on_records
from goldpan.util.atomic import atomic_write_json, atomic_write_parquet
from goldpan.util.storage import read_parquet, to_path


@dataclass
class StepCount:
    """The ledger arithmetic of one step over some records: in = out + sum(rejects)."""

    records_in: int = 0
    records_out: int = 0
    rejects: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)  # the step's own (tokens, cost)

    def add(self, other: StepCount) -> None:
        self.records_in += other.records_in
        self.records_out += other.records_out
        self.seconds += other.seconds
        for key, value in other.rejects.items():
            self.rejects[key] = self.rejects.get(key, 0) + value
        for key, amount in other.metrics.items():
            self.metrics[key] = self.metrics.get(key, 0) + amount


@dataclass
class PartResult:
    """What one task did: the parts it wrote and one StepCount per step of the stage.
    ``key`` names the task (the input unit's prefix, or the part) for the driver. A read task
    also hands back the ids of every record it wrote, kept or rejected, for the driver's
    uniqueness check (in memory only: a result rebuilt from its marker has none)."""

    key: str
    parts: list[str]
    counts: list[StepCount]
    part_rows: dict[str, int] = field(default_factory=dict)
    ids: pa.ChunkedArray | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "parts": self.parts,
            "part_rows": self.part_rows,
            "counts": [count.__dict__ for count in self.counts],
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> PartResult:
        return cls(
            payload["key"],
            payload["parts"],
            [StepCount(**c) for c in payload["counts"]],
            payload.get("part_rows", {}),
        )


class StepBrokeLedger(RuntimeError):
    """A step returned a different set of rows than it was given: a bug in that step."""


def _split(step: Step, given: pa.Table, result: pa.Table) -> tuple[pa.Table, pa.Table]:
    if result.num_rows != given.num_rows or not result.column(ID).equals(given.column(ID)):
        raise StepBrokeLedger(
            f"step {step.name!r} returned {result.num_rows} rows for {given.num_rows}: steps must "
            "mark drops in reject_reason, not delete or reorder rows"
        )
    if (REJECT_REASON not in result.column_names
            or result.column(REJECT_REASON).null_count == result.num_rows):
        return kept_columns(result), result.slice(0, 0)  # nothing rejected: no copy
    mask = pc.fill_null(pc.is_valid(result.column(REJECT_REASON)), False)
    rejected = result.filter(mask)
    rejected = rejected.append_column(
        REJECT_STEP, pa.array([step.name] * rejected.num_rows, pa.string())
    )
    return kept_columns(result.filter(pc.invert(mask))), rejected


def run_steps(
    table: pa.Table, steps: Sequence[Step], state: Any = None
) -> tuple[pa.Table, list[pa.Table], list[StepCount]]:
    """Pass a table through the steps in order; rows a step rejects go no further."""
    rejected_tables: list[pa.Table] = []
    counts: list[StepCount] = []
    for step in steps:
        started = time.perf_counter()
        given = table
        if isinstance(step, GlobalStep):
            result = call_on_records(step, given, functools.partial(step.apply, state=state))
        else:
            assert isinstance(step, MapStep)
            result = call_on_records(step, given, step.process) if given.num_rows else given
        table, rejected = _split(step, given, result)
        reasons = count_values(rejected.column(REJECT_REASON)) if rejected.num_rows else {}
        if rejected.num_rows:
            rejected_tables.append(rejected)
        counts.append(StepCount(given.num_rows, table.num_rows, reasons,
                                time.perf_counter() - started, step.take_metrics()))
    return table, rejected_tables, counts


def _write_rejects(tables: list[pa.Table], path: Path) -> None:
    if tables:
        atomic_write_parquet(pa.concat_tables(tables, promote_options="permissive"), path)


class _PartWriter:
    """Gathers read chunks into parts of ``part_records`` rows, runs the fused steps over each
    part and writes what they keep and reject."""

    def __init__(
        self,
        stage_dir: Path,
        rejects_dir: Path,
        prefix: str,
        part_records: int,
        steps: Sequence[Step],
    ) -> None:
        self.stage_dir, self.rejects_dir = stage_dir, rejects_dir
        self.prefix, self.part_records, self.steps = prefix, part_records, steps
        self.rechunker = Rechunker(part_records)
        self.parts: list[str] = []
        self.part_rows: dict[str, int] = {}
        self.counts = [StepCount() for _ in steps]
        self.ids: list[pa.ChunkedArray] = []

    def add(self, table: pa.Table) -> None:
        for part in self.rechunker.add(table):
            self._write(part)

    def flush(self) -> None:
        for part in self.rechunker.finish():
            self._write(part)

    def _write(self, table: pa.Table) -> None:
        name = f"{self.prefix}-{len(self.parts):05d}"
        kept, rejected, counts = run_steps(table, self.steps)
        atomic_write_parquet(kept, RunDir.part_path(self.stage_dir, name))
        _write_rejects(rejected, RunDir.part_path(self.rejects_dir, name))
        self.ids += [t.column(ID) for t in [kept, *rejected]]
        for total, count in zip(self.counts, counts, strict=True):
            total.add(count)
        self.parts.append(name)
        self.part_rows[name] = kept.num_rows


def unit_prefix(unit_index: int) -> str:
    """The name of an input unit's read task and the prefix of the parts it writes."""
    return f"part-{unit_index:05d}"


def input_rejects_path(rejects_dir: Path, unit_index: int) -> Path:
    """Where a read task puts the rows of its unit that could not become records."""
    return rejects_dir / f"input-{unit_index:05d}.parquet"


@dataclass(frozen=True)
class ReadUnit:
    """Read one input unit into parts ``part-UUUUU-CCCCC`` through the stage's fused map steps;
    input rejects (malformed lines, missing text, ...) go to ``input-UUUUU.parquet``."""

    unit_index: int
    unit: InputFile
    config: InputConfig
    steps: Sequence[Step]
    stage_dir: str
    rejects_dir: str

    @property
    def key(self) -> str:
        return unit_prefix(self.unit_index)

    def __call__(self) -> PartResult:
        started = time.perf_counter()
        stage_dir, rejects_dir = to_path(self.stage_dir), to_path(self.rejects_dir)
        assert self.config.part_records is not None, "resolved by the plan"
        writer = _PartWriter(stage_dir, rejects_dir, self.key, self.config.part_records,
                             self.steps)
        read = StepCount()
        input_rejects: list[pa.Table] = []
        for shaped, seen in read_input(self.unit, self.config):
            read.records_in += seen
            read.records_out += shaped.records.num_rows
            for reason, count in shaped.reject_counts.items():
                read.rejects[reason] = read.rejects.get(reason, 0) + count
            if shaped.rejects.num_rows:
                input_rejects.append(shaped.rejects)
            writer.add(shaped.records)
        writer.flush()
        _write_rejects(input_rejects, input_rejects_path(rejects_dir, self.unit_index))
        read.seconds = time.perf_counter() - started - sum(c.seconds for c in writer.counts)
        result = PartResult(self.key, writer.parts, [read, *writer.counts], writer.part_rows)
        atomic_write_json(RunDir.marker_path(stage_dir, self.key), result.to_json())
        columns = [*writer.ids, *(t.column(ID) for t in input_rejects)]
        result.ids = pa.chunked_array([c for column in columns for c in column.chunks],
                                      pa.string())
        return result


@functools.lru_cache(maxsize=2)
def load_state(path: str) -> Any:
    """A global step's merged state, read once per worker process rather than once per part."""
    return decode_state(to_path(path).read_bytes())


@dataclass(frozen=True)
class ProcessPart:
    """Run a stage's steps (a global step's apply phase, then map steps) over one part."""

    steps: Sequence[Step]
    state_path: str | None
    part: str
    input_dir: str
    stage_dir: str
    rejects_dir: str

    @property
    def key(self) -> str:
        return self.part

    def __call__(self) -> PartResult:
        given = read_parquet(RunDir.part_path(to_path(self.input_dir), self.part))
        state = load_state(self.state_path) if self.state_path else None
        kept, rejected, counts = run_steps(given, self.steps, state)
        atomic_write_parquet(kept, RunDir.part_path(to_path(self.stage_dir), self.part))
        _write_rejects(rejected, RunDir.part_path(to_path(self.rejects_dir), self.part))
        outcome = PartResult(self.part, [self.part], counts, {self.part: kept.num_rows})
        atomic_write_json(RunDir.marker_path(to_path(self.stage_dir), self.part),
                          outcome.to_json())
        return outcome


@dataclass(frozen=True)
class FitPart:
    """A global step's fit over one part: its summary, which the step's merge combines."""

    step: GlobalStep
    part: str
    part_index: int
    input_dir: str
    context: FitContext

    def __call__(self) -> tuple[int, Any]:
        table = read_parquet(RunDir.part_path(to_path(self.input_dir), self.part))
        fit = functools.partial(self.step.fit_part, part_index=self.part_index,
                                context=self.context)
        return self.part_index, fit_on_records(self.step, table, fit)


def run_task(task: Callable[[], Any]) -> Any:
    """What an executor runs: one task object, called in the worker it was shipped to."""
    return task()


def finished(folder: Path, name: str) -> PartResult | None:
    marker = RunDir.marker_path(folder, name)
    return PartResult.from_json(read_json(marker)) if marker.exists() else None
