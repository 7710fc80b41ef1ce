"""``goldpan synth ...``: the synthetic-data commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

synth_app = typer.Typer(
    no_args_is_help=True, help="Synthetic instruction data (Self-Instruct, Montessori-Instruct)."
)
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


def _is_local_cpu(teacher: str) -> bool:
    if teacher.startswith("openai:"):
        return False
    import torch

    return not torch.cuda.is_available()


@synth_app.command("self-instruct")
def self_instruct_command(
    teacher: Annotated[
        str,
        typer.Option(
            help="The teacher: an embedded model name, model folder or .gguf file (local), or "
            "openai:MODEL@BASE_URL for an OpenAI-compatible server."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    n: Annotated[int, typer.Option(help="Instructions to generate.")] = 100,
    seed_tasks: Annotated[
        Path | None, typer.Option(help="Seed tasks (JSONL, Self-Instruct format).")
    ] = None,
    profile: Annotated[
        str,
        typer.Option(
            help="paper: the original's settings; small: shorter generations for a CPU; "
            "auto: small for a local teacher without a GPU, else paper."
        ),
    ] = "auto",
    cache: Annotated[
        Path | None, typer.Option(help="SQLite generation cache (default: OUT/llm-cache.sqlite).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Prompts per batch (local teacher).")] = 8,
    concurrency: Annotated[int, typer.Option(help="Parallel requests (HTTP teacher).")] = 8,
) -> None:
    """Self-Instruct (Wang et al. 2023): bootstrap instructions from seed tasks, filter them,
    and generate their instances; writes alpaca.jsonl, messages.jsonl, tasks.jsonl,
    rejected_instructions.jsonl and stats.json."""
    from rich.progress import Progress

    from goldpan.errors import GoldpanError
    from goldpan.llm import make_llm
    from goldpan.synth.self_instruct import SelfInstructConfig, self_instruct

    if profile not in ("auto", "paper", "small"):
        raise GoldpanError(f"--profile {profile!r}: choose auto, paper or small")
    if n < 1:
        raise GoldpanError("--n must be at least 1")
    small = profile == "small" or (profile == "auto" and _is_local_cpu(teacher))
    options = {"n": n, "seed": seed, "seed_tasks": str(seed_tasks) if seed_tasks else None}
    config = SelfInstructConfig.small(**options) if small else SelfInstructConfig(**options)
    llm = make_llm(
        teacher,
        cache or out / "llm-cache.sqlite",
        batch_size=batch_size,
        concurrency=concurrency,
    )
    with Progress(console=console, transient=True) as progress:
        tasks = {}

        def report(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=total)
            progress.update(tasks[phase], completed=done, total=total)

        stats = self_instruct(llm, config, out, report)
    usage = stats["usage"]
    console.print(
        f"{stats['instructions']} instructions ({stats['classification_tasks']} classification), "
        f"{stats['instances']} instances from {stats['raw_instructions']} generated; "
        f"rejected: {json.dumps(stats['rejected'])}"
    )
    console.print(
        f"teacher: {usage['requests']} requests, {usage['cache_hits']} from the cache, "
        f"{usage['prompt_tokens']:,} prompt and {usage['completion_tokens']:,} completion tokens; "
        f"{stats['seconds']} s -> {out}"
    )
