"""``goldpan distill ...``: negative-data reasoning distillation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from goldpan.cli.comparison import (
    ExperimentOut,
    JobsOption,
    SeedsOption,
    seed_reporter,
    set_arguments,
    show_comparison,
)
from goldpan.cli.method_options import SetOption, help_config_option
from goldpan.distill.config import DistillConfig
from goldpan.report import write_report

distill_app = typer.Typer(
    no_args_is_help=True,
    help="Reasoning distillation from positive and negative rationales (NAT, NCE, ASC).",
)
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


@distill_app.command("run")
def run_command(
    out: Annotated[Path, typer.Option(help="Output folder.")],
    student: Annotated[str, typer.Option(help="Student model (local spec).")] = (
        "smollm2-135m-instruct"
    ),
    teacher: Annotated[
        str | None,
        typer.Option(help="Teacher (any llm spec, e.g. openai:MODEL@URL); default: the student."),
    ] = None,
    profile: Annotated[str, typer.Option(help="paper or small (CPU minutes).")] = "small",
    problems: Annotated[
        Path | None, typer.Option(help="Training problems, JSONL with question and answer.")
    ] = None,
    test_problems: Annotated[
        Path | None, typer.Option(help="Held-out problems, JSONL with question and answer.")
    ] = None,
    rationales: Annotated[
        Path | None,
        typer.Option(help="Teacher rationales already generated (JSONL: id, question, answer, "
                     "rationale); no teacher is asked. `goldpan distill import-tdg` converts the "
                     "paper authors' release."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Stop after this phase: data, base, cot_kd, negative, nat, "
                     "nat_samples, nce, 'baseline NAME', asc (data loads no student model)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    set_: SetOption = [],  # noqa: B006
    help_config: help_config_option(DistillConfig) = False,  # type: ignore[valid-type]  # typer reads an Annotated type built at import
) -> None:
    """Collect rationales, train CoT KD, the negative LoRA, NAT, NCE and the ASC ranker, and
    evaluate them all on held-out problems (results.md, results.json)."""
    from goldpan.cli.progress import phase_progress, phase_reporter
    from goldpan.distill.pipeline import run_distillation
    from goldpan.report.markdown import distill_results_table
    from goldpan.util.atomic import atomic_write_text

    config = DistillConfig.build(
        profile,
        set_,
        seed=seed,
        train_file=str(problems) if problems else None,
        test_file=str(test_problems) if test_problems else None,
        rationales_file=str(rationales) if rationales else None,
    )
    with phase_progress(console) as progress:
        results = run_distillation(
            config, out, student, teacher, phase_reporter(progress), until=until
        )
    table = distill_results_table(results)
    atomic_write_text(out / "results.md", table)
    console.print(table, highlight=False)
    console.print(f"{results.seconds} s -> {out}")
    console.print(f"report: {write_report(out)}")


@distill_app.command("import-tdg")
def import_tdg_command(
    sources: Annotated[
        list[Path],
        typer.Argument(help="Files or folders of the TDG release (e.g. GPT4-MATH/train_gpt4_*)."),
    ],
    out: Annotated[Path, typer.Option(help="The rationales file to write (JSONL).")],
) -> None:
    """Convert the rationales released with "Turning Dust into Gold" (one question a line:
    question, answer = gold solution, generated_answer = rationales) to goldpan's format."""
    from goldpan.data.json_lines import write_json_lines
    from goldpan.distill.imported import tdg_rows

    skipped: list[str] = []
    rows = list(tdg_rows(sources, skipped))
    write_json_lines(out, rows)
    questions = len({row["id"] for row in rows})
    console.print(f"{len(rows):,} rationales of {questions:,} questions -> {out}")
    if skipped:
        console.print(f"{len(skipped)} question(s) left out, their solution boxes no answer: "
                      f"{', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}")


@distill_app.command("eval")
def eval_command(
    run_dir: Annotated[Path, typer.Argument(help="A finished `goldpan distill run` folder.")],
) -> None:
    """Print the results table of a finished run."""
    from goldpan.distill.results import DistillResults
    from goldpan.errors import GoldpanError
    from goldpan.report.markdown import distill_results_table

    path = run_dir / "results.json"
    if not path.is_file():
        raise GoldpanError(f"{run_dir}: no results.json (run `goldpan distill run` first)")
    results = DistillResults.model_validate_json(path.read_text())
    console.print(distill_results_table(results), highlight=False)


@distill_app.command("compare")
def compare_command(
    runs: Annotated[
        list[Path], typer.Argument(help="Finished `goldpan distill run` folders (e.g. seeds).")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Also write compare.md and compare.json here.")
    ] = None,
) -> None:
    """Pool several runs: each method's accuracy over all their test problems with a 95%
    interval, and the paper's comparisons as paired differences with 95% intervals."""
    from goldpan.distill.compare import compare
    from goldpan.report.markdown import distill_comparison_table as comparison_table

    comparison = compare(runs)
    show_comparison(console, comparison_table(comparison), comparison, out)


@distill_app.command("experiment")
def experiment_command(
    out: ExperimentOut,
    seeds: SeedsOption = 3,
    jobs: JobsOption = 1,
    student: Annotated[str, typer.Option(help="Student model (local spec).")] = (
        "smollm2-135m-instruct"
    ),
    teacher: Annotated[
        str | None, typer.Option(help="Teacher (any llm spec, or simulated:RATE).")
    ] = None,
    profile: Annotated[str, typer.Option(help="paper or small.")] = "small",
    set_: SetOption = [],  # noqa: B006
) -> None:
    """The distillation run once per seed, each with its own training and test problems
    (reasoning-gym seeds 2s+1 and 2s+2) and training seed s, then `distill compare` over them:
    pooled accuracies and the paper's comparisons with 95% intervals (OUT/compare.md)."""
    from goldpan.distill.compare import compare
    from goldpan.experiments.seeds import run_seeds
    from goldpan.report.markdown import distill_comparison_table as comparison_table

    shared = ["--student", student, "--profile", profile]
    shared += ["--teacher", teacher] if teacher else []
    shared += set_arguments(set_)

    def for_seed(seed: int) -> list[str]:
        return [*shared, "--seed", str(seed), "--set", f"train_seed={2 * seed + 1}",
                "--set", f"test_seed={2 * seed + 2}"]

    folders = run_seeds(["distill", "run"], list(range(seeds)), out, for_seed, jobs,
                        seed_reporter(console))
    comparison = compare(folders)
    show_comparison(console, comparison_table(comparison), comparison, out)
