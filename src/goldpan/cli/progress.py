"""What the command line shows while work runs: a bar per stage of a recipe (records done,
rate, ETA) and a bar per phase of a method (its count, loss, tokens per second, ETA). The
engine and the methods only report; these draw."""

from __future__ import annotations

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

from goldpan.train.method_run import Progress as ProgressReport


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
        return int(self.progress.add_task(description, total=total, completed=done, unit=unit))

    def advance(self, task: int, amount: int) -> None:
        self.progress.advance(TaskID(task), amount)


class FigureColumn(ProgressColumn):
    """A figure a phase reports beside its count (a training loss, tokens per second); blank
    for phases that report none."""

    def __init__(self, field: str, label: str) -> None:
        super().__init__()
        self.field, self.label = field, label

    def render(self, task: Task) -> Text:
        value = task.fields.get(self.field)
        return Text(f"{self.label} {value}" if value else "", style="progress.data.speed")


def phase_progress(console: Console | None = None, transient: bool = False) -> Progress:
    """The one progress style of long jobs (synthesis, influence, training, distillation): a bar
    per phase with its count, its loss and tokens per second when it trains, and an ETA."""
    return Progress(
        TextColumn("[bold]{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        FigureColumn("loss", "loss"),
        FigureColumn("rate", "tok/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )


def phase_reporter(progress: Progress) -> ProgressReport:
    """A ``report(phase, done, total, **figures)`` callback for long jobs: one bar per phase,
    created on its first report; a total of 0 means not known yet; ``figures`` (``loss``,
    ``rate``) are shown beside the count."""
    tasks: dict[str, TaskID] = {}

    def report(phase: str, done: int, total: int, /, **figures: str) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase, total=total or None, loss="", rate="")
        fields: dict[str, Any] = dict(figures)
        progress.update(tasks[phase], completed=done, total=total or None, **fields)

    return report
