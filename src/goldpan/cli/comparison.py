"""What the commands comparing runs share (``distill compare`` and ``experiment``, ``synth
compare`` and ``experiment``): their options, progress lines, and the printed and saved table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.console import Console

from goldpan.util.atomic import atomic_write_text


def show_comparison(console: Console, table: str, comparison: BaseModel, out: Path | None) -> None:
    """The Markdown table on the console; with ``out``, compare.md and compare.json there."""
    console.print(table, highlight=False)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "compare.md", table)
        atomic_write_text(out / "compare.json", comparison.model_dump_json(indent=2))
        console.print(f"-> {out / 'compare.md'}")


ExperimentOut = Annotated[Path, typer.Option(help="Output folder: seed-N runs and compare.md.")]
SeedsOption = Annotated[int, typer.Option(help="Independent runs (seeds 0 .. N-1).")]
JobsOption = Annotated[int, typer.Option(help="Runs at a time (the cores are shared).")]


def set_arguments(overrides: list[str]) -> list[str]:
    """``--set`` overrides passed on to each seed's command."""
    return [part for override in overrides for part in ("--set", override)]


def seed_reporter(console: Console) -> Callable[[int, int, float], None]:
    def done(seed: int, code: int, seconds: float) -> None:
        console.print(f"seed {seed}: {'done' if code == 0 else f'failed ({code})'} "
                      f"in {seconds / 60:.1f} min")

    return done
