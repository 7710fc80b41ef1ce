"""One progress style for every training phase: steps, loss, tokens per second and ETA.

The trainer calls ``on_step`` with a ``StepLog`` after every optimiser step; ``phase_steps``
turns those into the ``report(phase, done, total, loss=..., rate=...)`` calls the command
line's phase bars take (``goldpan.cli.progress.phase_reporter``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


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


def phase_steps(report: Callable[..., Any] | None, phase: str) -> OnStep | None:
    """An ``on_step`` callback reporting a phase's steps, its last loss and its running
    tokens per second; None when there is nothing to report to."""
    if report is None:
        return None
    totals = {"tokens": 0, "seconds": 0.0}

    def on_step(log: StepLog) -> None:
        totals["tokens"] += log.tokens
        totals["seconds"] += log.seconds
        rate = totals["tokens"] / totals["seconds"] if totals["seconds"] else 0.0
        loss = "" if log.loss is None else f"{log.loss:.4f}"
        report(phase, log.step, log.total_steps, loss=loss, rate=f"{rate:,.0f}")

    return on_step
