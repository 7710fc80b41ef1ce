"""One progress style for every training phase: steps, loss, tokens per second and ETA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@dataclass
class StepLog:
    """What one optimiser step did."""

    step: int  # 1-based
    total_steps: int
    loss: float | None  # mean response-token loss; None when the step had no such tokens
    learning_rate: float
    tokens: int  # tokens processed (prompt and response, no padding)
    seconds: float


OnStep = Callable[[StepLog], None]


@contextmanager
def training_bar(
    description: str, console: Console | None = None, enabled: bool = True
) -> Iterator[OnStep]:
    """A rich bar; the ``on_step`` callback it yields advances it with the step's figures."""
    if not enabled:
        yield lambda log: None
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("{task.fields[rate]} tok/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=False,
    )
    totals = {"tokens": 0, "seconds": 0.0}
    with progress:
        task = progress.add_task(description, total=None, loss="–", rate="–")

        def on_step(log: StepLog) -> None:
            totals["tokens"] += log.tokens
            totals["seconds"] += log.seconds
            rate = totals["tokens"] / totals["seconds"] if totals["seconds"] else 0.0
            progress.update(
                task,
                total=log.total_steps,
                completed=log.step,
                loss="–" if log.loss is None else f"{log.loss:.4f}",
                rate=f"{rate:,.0f}",
            )

        yield on_step
