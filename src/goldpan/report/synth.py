"""Reports of `goldpan synth` runs: Self-Instruct (what the filters kept and why they dropped
the rest) and Montessori-Instruct (influence per iteration, preference pairs, evaluation)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from goldpan.data.json_lines import read_json_objects
from goldpan.report.bins import histogram_of
from goldpan.report.figures import histogram_figure
from goldpan.report.page import Document, Figure, Note, Report, Samples, Section, Table, snippet
from goldpan.report.svg import bar_chart
from goldpan.synth.results import (
    Evaluation,
    IterationResult,
    MontessoriSummary,
    SelfInstructStats,
)

SAMPLES = 8



def words(text: str | None) -> int:
    return len((text or "").split())


def _histograms(series: dict[str, dict[str, list[float]]]) -> list[Any]:
    blocks = []
    for name, groups in series.items():
        result = histogram_of(groups)
        if result is not None:
            blocks.append(histogram_figure(*result, name))
    return blocks


def _usage_facts(usage: dict[str, Any]) -> list[tuple[str, str]]:
    if not usage:
        return []
    return [
        ("teacher requests",
         f"{usage.get('requests', 0):,} ({usage.get('cache_hits', 0):,} cached)"),
        ("tokens in / out", f"{usage.get('prompt_tokens', 0):,} / "
                            f"{usage.get('completion_tokens', 0):,}"),
    ]


# ---------------------------------------------------------------------------- Self-Instruct
def is_self_instruct_run(root: Path) -> bool:
    return (root / "tasks.jsonl").exists() and (root / "stats.json").exists()


def self_instruct_report(root: Path) -> Report:
    stats = SelfInstructStats.model_validate_json((root / "stats.json").read_text())
    tasks = read_json_objects(root / "tasks.jsonl")
    rejected = read_json_objects(root / "rejected_instructions.jsonl")
    reasons = dict(sorted(stats.rejected.items(), key=lambda kv: -kv[1]))
    facts = [
        ("instructions", f"{stats.instructions:,}"),
        ("classification tasks", f"{stats.classification_tasks:,}"),
        ("instances", f"{stats.instances:,}"),
        ("generated, before filters", f"{stats.raw_instructions:,}"),
        ("run time", f"{stats.seconds:,.1f} s"),
        *_usage_facts(stats.usage),
    ]
    labels = ["kept", *reasons]
    values = [stats.instructions, *reasons.values()]
    filters = Section(
        "Instruction filters",
        [
            Figure(bar_chart(labels, values, "generated instructions by outcome"),
                   "Generated instructions: kept, or the filter that dropped them."),
            Table(["outcome", "instructions"], [[k, v] for k, v in zip(labels, values,
                                                                        strict=True)]),
        ],
        "Self-Instruct's filters (length, keywords, punctuation, non-English start, ROUGE-L "
        "similarity to the pool) in the order they are applied.",
    )
    instances = [i for t in tasks for i in t.get("instances", [])]
    distributions = Section("Distributions", _histograms({
        "instruction length in words": {"instructions": [words(t["instruction"]) for t in tasks]},
        "instances per task": {"tasks": [len(t.get("instances", [])) for t in tasks]},
        "output length in words": {"instances": [words(i.get("output")) for i in instances]},
        "ROUGE-L of the too-similar instructions": {
            "rejected": [r["rouge_l"] for r in rejected if "rouge_l" in r]
        },
    }) or [Note("No instruction to plot.")])
    samples: list[Any] = [Samples("Kept tasks", [_task_document(t) for t in tasks[:SAMPLES]],
                                  open=True)]
    for reason in reasons:
        chosen = [r for r in rejected if r.get("reason") == reason][:3]
        samples.append(Samples(f"Rejected: {reason}", [
            Document(reason, r["instruction"], {k: v for k, v in r.items()
                                                if k in ("similar_to", "rouge_l")})
            for r in chosen
        ]))
    return Report(
        f"Self-Instruct run {root.name}",
        f"{root.resolve()} · teacher {stats.config.get('teacher', '')}".rstrip(),
        facts,
        [filters, distributions, Section("Samples", samples)],
    )


def _task_document(task: dict[str, Any]) -> Document:
    lines = [task["instruction"]]
    for instance in task.get("instances", []):
        if instance.get("input"):
            lines.append(f"input: {instance['input']}")
        lines.append(f"output: {instance.get('output', '')}")
    text, length = snippet("\n".join(lines))
    kind = "classification" if task.get("is_classification") else "generation"
    return Document(kind, text, {"instances": len(task.get("instances", []))}, length)


# ---------------------------------------------------------------------------- Montessori
def is_montessori_run(root: Path) -> bool:
    if not (root / "summary.json").exists():
        return False
    return "iterations" in json.loads((root / "summary.json").read_text())


def montessori_report(root: Path) -> Report:
    summary = MontessoriSummary.model_validate_json((root / "summary.json").read_text())
    iterations = summary.iterations
    facts = [
        ("iterations", f"{len(iterations)}"),
        ("synthetic examples", f"{sum(i.synthetic for i in iterations):,}"),
        ("influence probes", f"{sum(i.probes for i in iterations):,}"),
        ("preference pairs", f"{sum(i.pairs for i in iterations):,}"),
        ("final data", f"{summary.final_data:,}"),
        ("run time", f"{summary.seconds:,.0f} s"),
    ]
    return Report(
        f"Montessori-Instruct run {root.name}",
        f"{root.resolve()} · teacher after the last iteration: {summary.teacher}",
        facts,
        [influence_section(root, iterations), pairs_section(root, iterations),
         evaluation_section(summary.evaluation)],
    )


def influence_section(root: Path, iterations: list[IterationResult]) -> Section:
    series = {}
    rows = []
    for item in iterations:
        number = item.iteration
        scored = read_json_objects(root / f"iteration-{number}" / "influence.jsonl")
        series[f"iteration {number}"] = [
            r["influence"] for r in scored if r["influence"] is not None
        ]
        dpo = item.dpo_loss
        rows.append([number, item.prompts, item.prompts_with_generated, item.synthetic,
                     item.probes, item.positive, item.negative,
                     item.momentum_influence, item.above_momentum,
                     item.skipped_no_response_tokens, item.pairs,
                     item.reference_loss_after_warmup,
                     dpo[0] if dpo else None, dpo[-1] if dpo else None])
    blocks: list[Any] = []
    result = histogram_of(series)
    if result is not None:
        blocks.append(histogram_figure(*result, "local data influence"))
    blocks.append(Table(["iteration", "prompts", "with generated instructions", "synthetic",
                         "probes", "helpful (> 0)", "harmful (< 0)",
                         "momentum alone", "above the momentum", "no response tokens",
                         "pairs", "reference loss", "DPO loss first", "DPO loss last"], rows))
    intro = ("Influence of one synthetic example = the student's loss on the reference set "
             "before its one optimiser step minus after it; above zero, the example helped. "
             "A probe whose prompt fills the length limit has no response token to learn and "
             "no influence.")
    return Section("Influence", blocks, intro)


def pairs_section(root: Path, iterations: list[IterationResult]) -> Section:
    rows = []
    margins: dict[str, list[float]] = {}
    samples: list[Any] = []
    for item in iterations:
        number = item.iteration
        pairs = read_json_objects(root / f"iteration-{number}" / "preferences.jsonl")
        rows.append([number, len(pairs), len({p["prompt"] for p in pairs}),
                     len({p["chosen"] for p in pairs}), len({p["rejected"] for p in pairs})])
        margins[f"iteration {number}"] = [
            p["chosen_influence"] - p["rejected_influence"] for p in pairs
        ]
        if pairs and not samples:
            samples.append(Samples(f"Pairs of iteration {number}", [
                Document(f"pair {k + 1}", f"chosen: {p['chosen']}\n\nrejected: {p['rejected']}",
                         {"chosen influence": p["chosen_influence"],
                          "rejected influence": p["rejected_influence"]})
                for k, p in enumerate(pairs[:4])
            ]))
    blocks: list[Any] = [Table(["iteration", "pairs", "prompts", "distinct chosen",
                                "distinct rejected"], rows)]
    result = histogram_of(margins)
    if result is not None:
        blocks.insert(0, histogram_figure(*result, "influence margin (chosen − rejected)"))
    return Section("Preference pairs", blocks + samples,
                   "Per prompt, every helpful output is paired with every harmful one.")


def evaluation_section(evaluation: Evaluation | None) -> Section:
    if evaluation is None or not evaluation.students:
        note = evaluation.note if evaluation and evaluation.note else "The run has no evaluation."
        return Section("Evaluation", [Note(note)])
    rows = [[name, values.held_out_loss, values.reference_loss]
            for name, values in evaluation.students.items()]
    judge = evaluation.montessori_vs_self_instruct
    blocks: list[Any] = [Table(
        ["student", "held-out loss", "D_ref loss (diagnostic)"], rows,
        f"{evaluation.examples:,} training examples each; held-out loss on "
        f"{evaluation.held_out:,} examples the teacher never saw; D_ref is the set the teacher "
        "was optimised against.")]
    if judge is not None:
        blocks.append(Table(["wins", "losses", "ties", "win rate", "length-controlled"],
                            [[judge.wins, judge.losses, judge.ties, judge.win_rate,
                              judge.length_controlled_win_rate]],
                            "Montessori student against the Self-Instruct student on held-out "
                            "instructions; a win counts only when the judge agrees in both "
                            "orders; length-controlled: at equal answer lengths."
                            + ("" if judge.informative else " The judge tied every comparison: "
                               "the win rate is uninformative (none), not 0.500.")))
    if evaluation.note:
        blocks.append(Note(evaluation.note))
    return Section("Evaluation", blocks)
