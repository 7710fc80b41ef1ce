"""Rich progress bars per stage: records done, rate, ETA. Silent when asked to be."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class RateColumn(ProgressColumn):
    """Units per second, in the stage's own unit (records, files)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        unit = task.fields.get("unit", "records")
        if speed is None:
            return Text(f"- {unit}/s", style="progress.data.speed")
        return Text(f"{speed:,.0f} {unit}/s", style="progress.data.speed")


class StageProgress(AbstractContextManager):
    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
        )

    def __enter__(self) -> StageProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def stage(self, description: str, total: int, unit: str = "records", done: int = 0) -> int:
        return self.progress.add_task(description, total=total, completed=done, unit=unit)

    def advance(self, task: int, amount: int) -> None:
        self.progress.advance(task, amount)

    def finish(self, task: int) -> None:
        total = self.progress.tasks[task].total or 0
        self.progress.update(task, completed=total)


def phase_reporter(progress: Progress) -> Callable[[str, int, int], None]:
    """A ``report(phase, done, total)`` callback for long jobs (synthesis, distillation): one
    bar per phase, created on its first report; a total of 0 means not known yet."""
    tasks: dict[str, TaskID] = {}

    def report(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase, total=total or None)
        progress.update(tasks[phase], completed=done, total=total or None)

    return report
