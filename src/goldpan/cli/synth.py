"""``goldpan synth ...``: the synthetic-data commands."""

from __future__ import annotations

import json
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
from goldpan.report import write_report
from goldpan.synth.config import MontessoriConfig, SelfInstructConfig

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
    set_: SetOption = [],  # noqa: B006
    help_config: help_config_option(SelfInstructConfig) = False,  # type: ignore[valid-type]  # typer reads an Annotated type built at import
) -> None:
    """Self-Instruct (Wang et al. 2023): bootstrap instructions from seed tasks, filter them,
    and generate their instances; writes alpaca.jsonl, messages.jsonl, tasks.jsonl,
    rejected_instructions.jsonl and stats.json."""
    from goldpan.cli.progress import phase_progress, phase_reporter
    from goldpan.errors import GoldpanError
    from goldpan.llm import make_llm
    from goldpan.synth.self_instruct import self_instruct

    if profile == "auto":
        profile = "small" if _is_local_cpu(teacher) else "paper"
    if n < 1:
        raise GoldpanError("--n must be at least 1")
    seeds = str(seed_tasks) if seed_tasks else None
    config = SelfInstructConfig.build(profile, set_, n=n, seed=seed, seed_tasks=seeds)
    llm = make_llm(
        teacher,
        cache or out / "llm-cache.sqlite",
        batch_size=batch_size,
        concurrency=concurrency,
    )
    with phase_progress(console, transient=True) as progress:
        stats = self_instruct(llm, config, out, phase_reporter(progress))
    usage = stats.usage
    console.print(
        f"{stats.instructions} instructions ({stats.classification_tasks} classification), "
        f"{stats.instances} instances from {stats.raw_instructions} generated; "
        f"rejected: {json.dumps(stats.rejected)}"
    )
    console.print(
        f"teacher: {usage['requests']} requests, {usage['cache_hits']} from the cache, "
        f"{usage['prompt_tokens']:,} prompt and {usage['completion_tokens']:,} completion tokens; "
        f"{stats.seconds} s -> {out}"
    )
    console.print(f"report: {write_report(out)}")


@synth_app.command("montessori")
def montessori_command(
    out: Annotated[Path, typer.Option(help="Output folder.")],
    teacher: Annotated[str, typer.Option(help="Teacher model (local spec).")] = (
        "smollm2-135m-instruct"
    ),
    student: Annotated[str, typer.Option(help="Student model (local spec).")] = (
        "smollm2-135m-instruct"
    ),
    reference: Annotated[
        Path | None,
        typer.Option(help="D_ref JSONL: instruction with response, or output (Alpaca-Eval's "
                     "layout), drawn by a seeded shuffle (--reference-seed); default: packaged "
                     "ShareGPT first turns the demo does not use."),
    ] = None,
    reference_seed: Annotated[
        int, typer.Option(help="Seed of the shuffled draws of D_ref and the held-out set "
                          "(reference: 42).")
    ] = 42,
    reference_filter: Annotated[
        str, typer.Option(help="Default sets only: none (every ShareGPT first turn) or short "
                          "(instructions under 500, responses under 1,500 characters: "
                          "'helpful' then means 'short').")
    ] = "none",
    held_out: Annotated[
        Path | None,
        typer.Option(help="Evaluation set JSONL (instruction, response) the teacher never sees; "
                     "default: ShareGPT first turns disjoint from D_ref."),
    ] = None,
    seed_tasks: Annotated[
        Path | None,
        typer.Option(help="Seed tasks JSONL, Self-Instruct's or Alpaca's format (instruction, "
                     "input, output); default: goldpan's own 175, written for this project in "
                     "Self-Instruct's format (not Self-Instruct's seed tasks)."),
    ] = None,
    teacher_server: Annotated[
        str | None,
        typer.Option(help="Sample the teacher through this OpenAI-compatible server (base URL, "
                     "e.g. http://127.0.0.1:8000/v1) instead of in-process; --teacher still "
                     "names its weights, which DPO updates. Needs --serve-command when the "
                     "teacher is updated (both arms from one sampler)."),
    ] = None,
    serve_command: Annotated[
        str | None,
        typer.Option(help="Command that serves {model_path} at --teacher-server, started on each "
                     "iteration's teacher (the DPO-updated ones too) and stopped after its "
                     "sampling, e.g. 'vllm serve {model_path} --served-model-name teacher'."),
    ] = None,
    served_model: Annotated[
        str, typer.Option(help="The model name the teacher server answers to.")
    ] = "teacher",
    judge: Annotated[
        str | None, typer.Option(help="Judge for the win rate (any llm spec; default: teacher).")
    ] = None,
    profile: Annotated[str, typer.Option(help="paper or small (CPU minutes).")] = "small",
    iterations: Annotated[int | None, typer.Option(help="Teacher updates.")] = None,
    prompts: Annotated[int | None, typer.Option(help="Bootstrap prompts per iteration.")] = None,
    until: Annotated[
        str | None,
        typer.Option(help="Stop after this phase: 'iteration-N data', 'iteration-N influence', "
                     "'iteration-N teacher' or evaluation. A rerun resumes from the last "
                     "finished phase."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    set_: SetOption = [],  # noqa: B006
    help_config: help_config_option(MontessoriConfig) = False,  # type: ignore[valid-type]  # typer reads an Annotated type built at import
) -> None:
    """Montessori-Instruct (Li, Yu and Xiong 2025): synthesize, measure each example's local
    influence on the student, DPO the teacher towards helpful data, repeat; then compare
    students trained on Self-Instruct and Montessori data."""
    from goldpan.cli.progress import phase_progress, phase_reporter
    from goldpan.errors import GoldpanError
    from goldpan.report.markdown import montessori_evaluation_table
    from goldpan.synth.instruction_sets import montessori_sets
    from goldpan.synth.montessori import montessori
    from goldpan.synth.serving import TeacherServer
    from goldpan.util.atomic import atomic_write_text

    config = MontessoriConfig.build(
        profile, set_, iterations=iterations, prompts=prompts, seed=seed,
        seed_tasks=str(seed_tasks) if seed_tasks else None,
    )
    if reference_filter not in ("none", "short"):
        raise GoldpanError(f"--reference-filter {reference_filter!r}: none or short")
    rows, evaluation_rows = montessori_sets(
        reference, held_out, config.reference_examples, config.held_out_examples,
        reference_seed, reference_filter,  # type: ignore[arg-type]  # checked above
    )
    if serve_command and not teacher_server:
        raise GoldpanError("--serve-command needs --teacher-server (the URL it serves at)")
    server = TeacherServer(teacher_server, served_model, serve_command) if teacher_server else None
    with phase_progress(console) as progress:
        summary = montessori(teacher, student, rows, config, out, judge, phase_reporter(progress),
                             held_out=evaluation_rows, server=server, until=until)
    for entry in summary.iterations:
        console.print(
            f"iteration {entry.iteration}: {entry.prompts} prompts ({entry.prompts_with_generated} "
            f"with generated instructions), {entry.synthetic} examples, {entry.probes} probes "
            f"({entry.positive} helpful, {entry.negative} harmful), {entry.pairs} preference pairs"
        )
    table = montessori_evaluation_table(summary.evaluation)
    atomic_write_text(out / "evaluation.md", table)
    console.print(table, highlight=False)
    console.print(f"{summary.seconds} s -> {out}")
    console.print(f"report: {write_report(out)}")


@synth_app.command("compare")
def compare_command(
    runs: Annotated[
        list[Path], typer.Argument(help="Finished `goldpan synth montessori` folders (seeds).")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Also write compare.md and compare.json here.")
    ] = None,
) -> None:
    """Pool Montessori runs: held-out loss difference of the two students with 95% intervals
    (over runs, and paired over examples), win rates raw and length-controlled."""
    from goldpan.report.markdown import montessori_comparison_table as comparison_table
    from goldpan.synth.compare import compare

    comparison = compare(runs)
    show_comparison(console, comparison_table(comparison), comparison, out)


@synth_app.command("experiment")
def experiment_command(
    out: ExperimentOut,
    seeds: SeedsOption = 3,
    jobs: JobsOption = 1,
    teacher: Annotated[str, typer.Option(help="Teacher model (local spec).")] = (
        "smollm2-135m-instruct"
    ),
    student: Annotated[str, typer.Option(help="Student model (local spec).")] = (
        "smollm2-135m-instruct"
    ),
    judge: Annotated[str | None, typer.Option(help="Judge (any llm spec).")] = None,
    profile: Annotated[str, typer.Option(help="paper or small.")] = "small",
    set_: SetOption = [],  # noqa: B006
) -> None:
    """Montessori-Instruct once per seed (sampling, warm-up, probes and students all seeded;
    D_ref and the held-out set fixed), then `synth compare` over the runs: the held-out loss
    difference of the two students with 95% intervals (OUT/compare.md)."""
    from goldpan.experiments.seeds import run_seeds
    from goldpan.report.markdown import montessori_comparison_table as comparison_table
    from goldpan.synth.compare import compare

    shared = ["--teacher", teacher, "--student", student, "--profile", profile]
    shared += ["--judge", judge] if judge else []
    shared += set_arguments(set_)

    folders = run_seeds(["synth", "montessori"], list(range(seeds)), out,
                        lambda seed: [*shared, "--seed", str(seed)], jobs,
                        seed_reporter(console))
    comparison = compare(folders)
    show_comparison(console, comparison_table(comparison), comparison, out)


@synth_app.command("mechanism-seed", hidden=True)
def mechanism_seed_command(
    out: Annotated[Path, typer.Option(help="Output folder.")],
    teacher: Annotated[str, typer.Option(help="Teacher.")] = "gemma3-270m",
    student: Annotated[str, typer.Option(help="Student.")] = "smollm2-135m-instruct",
    prompts: Annotated[int, typer.Option(help="Prompts asked of both teachers.")] = 24,
    probe_reference: Annotated[int, typer.Option(help="Second reference set.")] = 32,
    estimate: Annotated[str, typer.Option(help="exact or first_order.")] = "exact",
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    set_: SetOption = [],  # noqa: B006
) -> None:
    """One seed of `goldpan synth mechanism`."""
    from goldpan.experiments.montessori_mechanism import MECHANISM_SETTINGS, run_mechanism_seed

    config = MontessoriConfig.build("small", set_, **{**MECHANISM_SETTINGS, "seed": seed})
    result = run_mechanism_seed(teacher, student, config, out, prompts, probe_reference, estimate)
    console.print(f"seed {seed}: {result.paired_prompts} paired prompts, mean difference "
                  f"{result.mean_difference}; {result.seconds} s {result.note}")


@synth_app.command("mechanism")
def mechanism_command(
    out: ExperimentOut,
    seeds: SeedsOption = 3,
    jobs: JobsOption = 1,
    teacher: Annotated[str, typer.Option(help="Teacher (larger than the student).")] = (
        "gemma3-270m"
    ),
    student: Annotated[str, typer.Option(help="Student.")] = "smollm2-135m-instruct",
    prompts: Annotated[int, typer.Option(help="Fresh prompts asked of both teachers.")] = 24,
    probe_reference: Annotated[
        int, typer.Option(help="Second reference set (disjoint from D_ref) the two teachers' "
                          "outputs are measured against.")
    ] = 32,
    estimate: Annotated[
        str, typer.Option(help="How the mechanism's own probes are measured: exact or "
                          "first_order.")
    ] = "exact",
    accumulation_check: Annotated[
        bool, typer.Option(help="Also the D1 check on seed 0's pairs: DPO with accumulation 1 "
                           "against 8, the held-out pairs' margin change.")
    ] = True,
    set_: SetOption = [],  # noqa: B006
) -> None:
    """Montessori-Instruct's mechanism without final students: one iteration per seed up to the
    teacher's DPO update, then the same fresh prompts to the original and the updated teacher,
    and the local influence of both outputs on a fresh warmed-up student against a second
    reference set, paired by prompt; the mean difference with a t interval over seeds
    (OUT/mechanism.md, OUT/mechanism.json, each seed's OUT/seed-N/mechanism.json)."""
    from goldpan.experiments import montessori_mechanism as experiment
    from goldpan.experiments.seeds import run_seeds
    from goldpan.util.atomic import atomic_write_json, atomic_write_text

    shared = ["--teacher", teacher, "--student", student, "--prompts", str(prompts),
              "--probe-reference", str(probe_reference), "--estimate", estimate,
              *set_arguments(set_)]
    folders = run_seeds(["synth", "mechanism-seed"], list(range(seeds)), out,
                        lambda seed: [*shared, "--seed", str(seed)], jobs,
                        seed_reporter(console))
    comparison = experiment.compare_mechanism(folders)
    table = experiment.mechanism_table(comparison, [experiment.read_seed(f) for f in folders])
    if accumulation_check:
        config = MontessoriConfig.build("small", set_, **{**experiment.MECHANISM_SETTINGS,
                                                          "seed": 0})
        check = experiment.accumulation_check(folders[0] / "run", teacher, config, out)
        table += (f"\nD1 check (seed 0's pairs: {check.train_pairs} trained, "
                  f"{check.held_out_pairs} held out): log p(chosen) - log p(rejected) change, "
                  + ", ".join(f"accumulation {k}: {v:+.4f} held out, "
                              f"{check.train_margin_change[k]:+.4f} trained"
                              for k, v in check.margin_change.items()) + "\n")
    atomic_write_json(out / "mechanism.json", comparison.model_dump(mode="json"))
    atomic_write_text(out / "mechanism.md", table)
    console.print(table, highlight=False)


@synth_app.command("probe-numerics")
def probe_numerics_command(
    run: Annotated[Path, typer.Option(help="A Montessori run folder (its iteration-0 data).")],
    out: Annotated[Path, typer.Option(help="Output folder.")],
    student: Annotated[str, typer.Option(help="Student.")] = "smollm2-135m-instruct",
    probes: Annotated[int, typer.Option(help="Probes after the warm-up examples.")] = 40,
    reference: Annotated[int, typer.Option(help="D_ref examples (the default draw).")] = 32,
    set_: SetOption = [],  # noqa: B006
) -> None:
    """The probe step's arithmetic measured: fp32 or bf16, g or g/8 (the reference's), exact or
    first order, on one warmed-up student and the same probes; sign agreement, within-prompt
    Kendall tau and shared pairs against fp32/g (OUT/probe_numerics.md and .json)."""
    from goldpan.experiments.montessori_mechanism import MECHANISM_SETTINGS
    from goldpan.experiments.probe_numerics import probe_numerics, probe_numerics_table
    from goldpan.synth.instruction_sets import montessori_sets
    from goldpan.util.atomic import atomic_write_text

    config = MontessoriConfig.build("small", set_, **MECHANISM_SETTINGS)
    d_ref, _ = montessori_sets(None, None, reference, 0)
    result = probe_numerics(run, student, config, d_ref, probes, out)
    table = probe_numerics_table(result)
    atomic_write_text(out / "probe_numerics.md", table)
    console.print(table, highlight=False)
