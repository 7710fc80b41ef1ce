"""Printing and saving a comparison of runs (``goldpan distill compare``, ``synth compare``)."""

from __future__ import annotations

from pathlib import Path

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
