"""The ``goldpan`` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

import goldpan
from goldpan.cli.distill import distill_app
from goldpan.cli.method_options import SetOption, help_config_option
from goldpan.cli.progress import phase_progress
from goldpan.cli.synth import synth_app
from goldpan.errors import GoldpanError, StorageError, storage_error
from goldpan.score.scorer_training import ScorerConfig

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="goldpan: turn raw text into training data for large language models.",
)
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
stdout = Console(width=None if sys.stdout.isatty() else 120)
app.add_typer(synth_app, name="synth")
app.add_typer(distill_app, name="distill")


def _load(
    recipe: Path,
    overrides: list[str],
    executor: str | None,
    ray_address: str | None,
    workers: int | None,
    output: str | None,
) -> Any:
    from goldpan.recipe import load_recipe

    extra = list(overrides)
    if executor:
        extra.append(f"executor={executor}")
    if ray_address:
        extra.append(f"ray_address={ray_address}")
    if workers:
        extra.append(f"workers={workers}")
    if output:
        extra.append(f"output.dir={output}")
    return load_recipe(recipe, extra)


@app.command()
def run(
    recipe: Annotated[Path, typer.Argument(help="The YAML recipe.")],
    set_: Annotated[list[str], typer.Option("--set", help="Override: KEY.PATH=VALUE.")] = [],  # noqa: B006
    executor: Annotated[str | None, typer.Option(help="local or ray.")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
    workers: Annotated[int | None, typer.Option(help="Parallel workers.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Run directory.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or summary.")] = False,
) -> None:
    """Run a recipe; rerunning the same command resumes where it stopped."""

    loaded = _load(recipe, set_, executor, ray_address, workers, output)
    result = run_and_publish(loaded, quiet)
    _report_after_run(loaded, result.run_dir)
    _print_locations(result.run_dir)


def run_and_publish(recipe: Any, quiet: bool) -> Any:
    """A recipe run with the stage bars, then what it did: the summary, the failures to retry,
    the S table, and the output pushed to the Hub when the recipe asks."""
    from goldpan.cli.progress import StageProgress
    from goldpan.cli.summary import print_run
    from goldpan.engine.runner import run_recipe

    result = run_recipe(recipe, StageProgress(console, enabled=not quiet))
    if recipe.output.push_to_hub:
        from goldpan.data.hub import push_output

        url = push_output(result.output_dir, result.output_files,
                          recipe.output.push_to_hub, recipe.output.hub_private)
        if not quiet:
            console.print(f"pushed the output to {url}")
    if not quiet:
        print_run(result, console)
    return result


def _report_after_run(recipe: Any, run_dir: Path) -> None:
    """The run's report.html (unless ``output.report`` is off). The data is safe on disk by now,
    so a failure here costs the page only: it is named in one line, and ``goldpan report`` can
    write the page again."""
    if not recipe.output.report:
        return
    from goldpan.report import write_report

    try:
        write_report(run_dir)
    except Exception as error:  # a bug in the report must not fail a finished run
        console.print(
            f"[yellow]report not written:[/yellow] {type(error).__name__}: {error} "
            f"(retry with: goldpan report {run_dir})"
        )


def _print_locations(run_dir: Path) -> None:
    console.print(f"output:  {run_dir / 'output'}")
    console.print(f"rejects: {run_dir / 'rejects'}")
    console.print(f"stats:   {run_dir / 'stats.json'}")
    if (run_dir / "report.html").exists():
        console.print(f"report:  {run_dir / 'report.html'}")


@app.command()
def verify(run_dir: Annotated[str, typer.Argument(help="A run directory or URL.")]) -> None:
    """Check the ledger: every input record is kept or rejected, exactly once."""
    from goldpan.engine.ledger import verify_run

    problems, totals = verify_run(run_dir)
    if problems:
        for problem in problems:
            console.print(f"[red]ledger broken:[/red] {problem}")
        raise typer.Exit(1)
    console.print(
        f"ledger holds: {totals['read']:,} read = {totals['kept']:,} kept + "
        f"{totals['rejected']:,} rejected"
    )


@app.command()
def report(
    run_dir: Annotated[str, typer.Argument(help="A run directory or URL (run, synth or "
                                               "distill).")],
    out: Annotated[str | None, typer.Option(help="Where to write (default RUN_DIR/report.html).")]
    = None,
) -> None:
    """Write the run's self-contained HTML report: funnel, rejects, sources, distributions."""
    from goldpan.report import write_report

    console.print(f"report:  {write_report(run_dir, out)}")


@app.command()
def inspect(
    run_dir: Annotated[str, typer.Argument(help="A `goldpan run` directory or URL.")],
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    host: Annotated[
        str, typer.Option(help="Address to bind; the default keeps the data on this machine.")
    ] = "127.0.0.1",
) -> None:
    """Browse a run's kept and rejected records in a local web app."""
    from goldpan.report.inspector import serve

    serve(run_dir, host=host, port=port, console=console)


@app.command()
def steps() -> None:
    """List every registered step with its options."""
    from goldpan.engine.registry import registered_steps, step_kind
    from goldpan.engine.views import default_views

    for name, cls in registered_steps().items():
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        kinds = [k for k in ("chat", "preference") if k in cls.record_kinds]
        views = default_views(cls.text_side)
        reads = "; ".join(f"{kind}: {views[kind]}" for kind in kinds) or "text records only"
        table = Table(
            title=escape(f"{name} ({step_kind(cls)}): {doc}\nreads of conversations: {reads}"),
            title_justify="left", show_edge=False,
        )
        table.add_column("option")
        table.add_column("type")
        table.add_column("default")
        table.add_column("meaning")
        for option, field in cls.Options.model_fields.items():
            default = "required" if field.is_required() else repr(field.default)
            annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
            table.add_row(
                escape(option),
                escape(annotation.replace("typing.", "")),
                escape(default),
                escape(field.description or ""),
            )
        stdout.print(table)
        stdout.print()


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Run directory of the demo.")] = Path("runs/demo"),
    data: Annotated[Path, typer.Option(help="Where the demo corpus is written.")] = Path(
        "runs/demo-data/corpus.jsonl"
    ),
    executor: Annotated[str, typer.Option(help="local or ray.")] = "local",
    workers: Annotated[int | None, typer.Option(help="Parallel workers.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    web: Annotated[bool, typer.Option(
        "--web", help="The web path instead: a crawl built from the corpus (WARC), URL "
        "filter, main-text extraction, the filters, tokens for a trainer (recipes/web.yaml)."
    )] = False,
    pages: Annotated[int, typer.Option(help="--web: article pages in the crawl.")] = 2000,
    chat: Annotated[bool, typer.Option(
        "--chat", help="The chat path instead: ShareGPT conversations through chat_filter, PII, "
        "dedup and decontamination on user turns and langid to OpenAI messages JSONL, then to "
        "tokens with assistant-only loss masks (recipes/chat.yaml, recipes/chat-tokens.yaml)."
    )] = False,
) -> None:
    """Build the embedded demo corpus and curate it with recipes/demo.yaml (with --web: from
    a crawl of it to training tokens, recipes/web.yaml; with --chat: conversations)."""
    from goldpan.data.demo_corpus import build_demo_corpus
    from goldpan.recipe import load_recipe

    if chat:
        _chat_demo(Path("runs/demo-chat") if out == Path("runs/demo") else out,
                   executor, workers, quiet)
        return

    if not data.exists():
        count = build_demo_corpus(data)
        console.print(f"demo corpus: {count:,} documents -> {data}")
    recipe_path = Path(goldpan.__file__).parent / "recipes" / "demo.yaml"
    if web:
        from goldpan.data.demo_web import build_demo_warc

        crawl = data.with_name("crawl.warc.gz")
        if not crawl.exists():
            written = build_demo_warc(data, crawl, pages=pages)
            console.print(f"demo crawl: {written:,} article pages -> {crawl}")
        recipe_path, data = recipe_path.with_name("web.yaml"), crawl
        if out == Path("runs/demo"):
            out = Path("runs/demo-web")
    overrides = [f"input.paths=[{data}]", f"output.dir={out}", f"executor={executor}"]
    if workers:
        overrides.append(f"workers={workers}")
    recipe = load_recipe(recipe_path, overrides)
    result = run_and_publish(recipe, quiet)
    _report_after_run(recipe, result.run_dir)
    _print_locations(result.run_dir)
    console.print(f"check:   goldpan verify {result.run_dir}")


def _chat_demo(out: Path, executor: str, workers: int | None, quiet: bool) -> None:
    from goldpan.data.demo_chat import build_chat_demo
    from goldpan.recipe import load_recipe

    recipes = Path(goldpan.__file__).parent / "recipes"
    chats, benchmark = build_chat_demo(out.with_name(out.name + "-data"))
    console.print(f"demo conversations -> {chats}; benchmark -> {benchmark}")
    common = [f"executor={executor}"] + ([f"workers={workers}"] if workers else [])
    curate = load_recipe(recipes / "chat.yaml", [
        f"input.paths=[{chats}]", f"output.dir={out}", f"steps.4.benchmarks.0.path={benchmark}",
        *common])
    result = run_and_publish(curate, quiet)
    _report_after_run(curate, result.run_dir)
    _print_locations(result.run_dir)
    tokens_dir = out.with_name(out.name + "-tokens")
    tokens = load_recipe(recipes / "chat-tokens.yaml", [
        f"input.paths=[{result.run_dir / 'output'}]", f"output.dir={tokens_dir}", *common])
    tokenized = run_and_publish(tokens, quiet)
    _report_after_run(tokens, tokenized.run_dir)
    console.print(f"tokens:  {tokenized.run_dir / 'output'} (ids, loss masks, packs)")
    console.print(f"check:   goldpan verify {result.run_dir}; goldpan verify {tokenized.run_dir}")


@app.command("train-scorers")
def train_scorers_command(
    data: Annotated[list[str], typer.Option("--data", help="Input files, folders or globs.")],
    out: Annotated[Path, typer.Option(help="Where the tokenizer, scorers and curves go.")],
    text_field: Annotated[str, typer.Option(help="Field holding the text.")] = "text",
    steps: Annotated[int | None, typer.Option(help="Optimiser steps per direction.")] = None,
    sample_docs: Annotated[int | None, typer.Option(help="Documents sampled.")] = None,
    hidden_size: Annotated[int | None, typer.Option(help="Model width.")] = None,
    layers: Annotated[int | None, typer.Option(help="Decoder layers.")] = None,
    max_length: Annotated[
        int | None, typer.Option(help="Context: tokens per training chunk (score with the same).")
    ] = None,
    sources: Annotated[
        list[str] | None,
        typer.Option("--source", help="Train only on documents of this source (the input's "
                     "source field); repeat for several, e.g. English prose only."),
    ] = None,
    profile: Annotated[
        str, typer.Option(help="Recipe: paper (about an hour of 2 CPU cores) or gpu.")
    ] = "paper",
    seed: Annotated[int, typer.Option(help="Sampling, data order and init seed.")] = 0,
    joint: Annotated[
        bool,
        typer.Option(
            help="One model for both directions, each chunk led by <fwd> or <rev> "
            "(score it with lm_score start_token: direction)."
        ),
    ] = False,
    init_from: Annotated[
        str | None,
        typer.Option(help="Continue both scorers from this pretrained model and its tokenizer "
                     "(a local spec) instead of from scratch; lower the rate (--set "
                     "learning_rate=1e-4)."),
    ] = None,
    lora: Annotated[
        bool, typer.Option(help="With --init-from: train LoRA adapters, merged when saved.")
    ] = False,
    set_: SetOption = [],  # noqa: B006
    help_config: help_config_option(ScorerConfig) = False,  # type: ignore[valid-type]  # typer reads an Annotated type built at import
) -> None:
    """Train a forward and a reverse scorer LM (reverse-modeling score), from scratch or from a
    pretrained model; writes OUT/steps.yaml, the recipe steps that score with them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from goldpan.data.inputs import expand_inputs
    from goldpan.data.readers import read_input
    from goldpan.recipe import InputConfig
    from goldpan.score.scorer_training import train_scorers

    config = InputConfig(paths=data, text_field=text_field)
    texts: list[str] = []
    for unit in expand_inputs(config.paths, config.format):
        for shaped, _ in read_input(unit, config.model_copy(update={"part_records": 10_000})):
            records = shaped.records
            if sources:
                records = records.filter(pc.is_in(records.column("source"),
                                                  pa.array(sources, records.column("source").type)))
            texts += records.column("text").to_pylist()
    if sources and not texts:
        raise GoldpanError(f"train-scorers: no document has a source in {sources}")
    scorer_config = ScorerConfig.build(
        profile, set_, steps=steps, sample_docs=sample_docs, hidden_size=hidden_size,
        layers=layers, max_length=max_length, seed=seed, joint=joint, init_from=init_from,
        lora=lora or None,
    )
    with phase_progress(console) as progress:
        report = train_scorers(texts, out, scorer_config, progress)
    for name, curve in report["curves"].items():  # a direction, or "forward (member 1)"
        last = curve[-1] if curve else {}
        console.print(
            f"{name}: held-out loss {last.get('held_out_loss', float('nan')):.3f} "
            f"after {last.get('tokens', 0):,} tokens"
        )
    console.print(f"scorers: {out}")
    console.print(f"curves: {out / 'curves.json'}")
    console.print(f"recipe steps that score with them: {out / 'steps.yaml'}")


@app.command("train-classifier")
def train_classifier_command(
    run_dir: Annotated[str, typer.Argument(help="An annotated run directory or URL.")],
    column: Annotated[str, typer.Option(help="The column to learn (a score or a label).")],
    out: Annotated[str, typer.Option(help="Classifier folder (loads with the classify step).")],
    kind: Annotated[str, typer.Option(help="head (on a frozen encoder) or fasttext.")] = "head",
    task: Annotated[
        str, typer.Option(help="auto, regression or classification (auto: a numeric column "
                          "with few integer values is labels, else a score).")
    ] = "auto",
    threshold: Annotated[
        float | None, typer.Option(help="F1 of 'score >= threshold' on the held-out share; "
                                   "fasttext on a continuous score: where to cut it.")
    ] = None,
    held_out: Annotated[float, typer.Option(help="Held-out share.")] = 0.2,
    encoder: Annotated[str, typer.Option(help="Frozen encoder of the head.")] = "all-minilm-l6-v2",
    sources: Annotated[
        list[str] | None, typer.Option("--source", help="Only records of this source (repeat).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Split and training seed.")] = 0,
    buckets: Annotated[
        int | None, typer.Option(min=1, help="fasttext: hash buckets of the word bigrams (the "
                                 "model holds buckets x 64 floats; default 2**18).")
    ] = None,
) -> None:
    """Train a classifier on an annotated run's column (LLM judge scores, labels): a linear
    head on frozen sentence vectors or fastText, with held-out metrics beside the model."""
    from goldpan.score.classifier_training import ClassifierTraining, train_classifier

    if kind not in ("head", "fasttext") or task not in ("auto", "regression", "classification"):
        raise GoldpanError("train-classifier: --kind is head or fasttext; --task is auto, "
                           "regression or classification")
    if not 0 < held_out < 1:
        raise GoldpanError("train-classifier: --held-out is a share between 0 and 1")
    config = ClassifierTraining(column=column, kind=kind, task=task,  # type: ignore[arg-type]  # checked above
                                threshold=threshold, held_out=held_out, seed=seed,
                                encoder=encoder, sources=sources)
    if buckets is not None:
        config.buckets = buckets
    summary = train_classifier(run_dir, out, config)
    shown = ", ".join(f"{name} {value:.3f}" for name, value in summary["metrics"].items())
    cut = (f" (label 1: {config.column} >= {summary['cut']:.4g})"
           if summary["cut"] is not None else "")
    console.print(f"{summary['kind']} {summary['task']}{cut} on {summary['train']:,} records; "
                  f"held out {summary['held_out']:,}: {shown}", highlight=False)
    console.print(f"classifier: {out}  (step: classify, models: [{{path: {out}}}])")


@app.command("score-agreement")
def score_agreement_command(
    run_dir: Annotated[str, typer.Argument(help="A run whose records carry the scores.")],
    signals: Annotated[
        list[str], typer.Option("--signal", help="A score column (repeat); losses count as "
                                "lower-is-better.")
    ],
    include_rejected_by: Annotated[
        str | None, typer.Option(help="Also the records this step rejected (e.g. select).")
    ] = None,
    annotations: Annotated[
        str | None, typer.Option(help="The annotation run: its judge scores, joined by id.")
    ] = None,
    judge_column: Annotated[str, typer.Option(help="The judge's column there.")] = "judge_score",
    out: Annotated[Path | None, typer.Option(help="Write compare.md and compare.json here.")
                   ] = None,
) -> None:
    """Which quality signal agrees with which on the same documents: rank correlations,
    per-source means, and the top half each signal would select."""
    from goldpan.cli.comparison import show_comparison
    from goldpan.experiments.score_agreement import agreement, agreement_table

    result = agreement(run_dir, signals, include_rejected_by, annotations, judge_column)
    show_comparison(console, agreement_table(result), result, out)


@app.command("experiment-reverse-modeling")
def experiment_reverse_modeling(
    out: Annotated[Path, typer.Option(help="Experiment folder.")] = Path("runs/reverse-modeling"),
    corpus: Annotated[Path | None, typer.Option(help="JSONL corpus (default: the demo's).")] = None,
    steps: Annotated[int | None, typer.Option(help="Training steps per model.")] = None,
    sources: Annotated[
        list[str] | None,
        typer.Option("--source", help="Select within these sources only (repeat), e.g. "
                     "wikipedia_en and news: composition cannot explain the result."),
    ] = None,
    selections: Annotated[
        list[str] | None,
        typer.Option("--selection", help="top, random, bottom, perplexity (repeat; default all)."),
    ] = None,
    pool_docs: Annotated[int, typer.Option(help="Pool size (a seeded sample).")] = 4000,
    seeds: Annotated[int, typer.Option(help="Independent runs (seeds 0 .. N-1) in OUT/seed-N, "
                                       "then compared with intervals.")] = 1,
    jobs: Annotated[int, typer.Option(help="Runs at a time (the cores are shared).")] = 1,
    profile: Annotated[str, typer.Option(help="Scorer recipe profile.")] = "paper",
    set_: SetOption = [],  # noqa: B006
    help_config: help_config_option(ScorerConfig) = False,  # type: ignore[valid-type]  # typer reads an Annotated type built at import
) -> None:
    """Reverse-modeling experiment: scorers, S per source, LMs trained on top-S, random,
    bottom-S and lowest-forward-loss selections compared on held-out clean text."""
    from goldpan.cli.comparison import seed_reporter, set_arguments, show_comparison
    from goldpan.experiments.reverse_modeling import run_experiment
    from goldpan.experiments.seeds import run_seeds
    from goldpan.experiments.selection_compare import compare, comparison_table

    if seeds > 1:
        shared = ["--pool-docs", str(pool_docs), "--profile", profile, *set_arguments(set_)]
        shared += ["--corpus", str(corpus)] if corpus else []
        shared += ["--steps", str(steps)] if steps else []
        shared += [a for s in sources or [] for a in ("--source", s)]
        shared += [a for s in selections or [] for a in ("--selection", s)]
        folders = run_seeds(["experiment-reverse-modeling"], list(range(seeds)), out,
                            lambda seed: [*shared, "--set", f"seed={seed}"], jobs,
                            seed_reporter(console))
        comparison = compare(folders)
        show_comparison(console, comparison_table(comparison), comparison, out)
        return
    config = ScorerConfig.build(profile, set_, steps=steps)
    with phase_progress(console) as progress:
        report = run_experiment(out, corpus, config, pool_docs=pool_docs, sources=sources,
                                selections=selections, progress=progress)
    table = Table(title="S = forward loss - reverse loss, by source")
    for name in ("source", "docs", "mean S", "median S", "share S > 0"):
        table.add_column(name)
    for source, stats in report["s_by_source"]["by_source"].items():
        table.add_row(
            source,
            f"{stats['count']:,}",
            f"{stats['mean']:.3f}",
            f"{stats['median']:.3f}",
            f"{stats['share_positive']:.1%}",
        )
    console.print(table)
    lms = Table(title="LMs trained on equal token budgets, loss on held-out clean text")
    for name in ("selection", "docs", "held-out clean loss"):
        lms.add_column(name)
    for mode, result in report["lms"].items():
        lms.add_row(mode, f"{result['docs']:,}", f"{result['clean_held_out_loss']:.4f}")
    console.print(lms)
    console.print(f"report: {out / 'experiment.json'}")


@app.command("compare-reverse-modeling")
def compare_reverse_modeling(
    runs: Annotated[list[Path], typer.Argument(help="Finished experiment-reverse-modeling runs.")],
    out: Annotated[Path | None, typer.Option(help="Write compare.md and .json here.")] = None,
) -> None:
    """The selections' clean losses over several runs (seeds), with 95% intervals."""
    from goldpan.cli.comparison import show_comparison
    from goldpan.experiments.selection_compare import compare, comparison_table

    comparison = compare(runs)
    show_comparison(console, comparison_table(comparison), comparison, out)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        app()
    except GoldpanError as error:
        console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except OSError as error:  # a read or write the machine refused, wherever it happened
        console.print(f"[red]error:[/red] {storage_error(error)}", highlight=False, soft_wrap=True)
        sys.exit(StorageError.exit_code)
    except KeyboardInterrupt:
        console.print("interrupted: rerun the same command to resume")
        sys.exit(130)


if __name__ == "__main__":
    main()
