"""Report of a `goldpan distill run`: the teacher's correct and wrong rationales (D_pos and
D_neg), and the accuracy of every method on the test problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from goldpan.data.json_lines import read_json_objects
from goldpan.distill.results import METHOD_LABELS, DistillResults, RationaleCounts
from goldpan.report.bins import histogram_of
from goldpan.report.figures import histogram_figure
from goldpan.report.page import Document, Figure, Note, Report, Samples, Section, Table, snippet
from goldpan.report.svg import bar_chart


def is_distill_run(root: Path) -> bool:
    return (root / "results.json").exists() and (root / "data" / "counts.jsonl").exists()


def distill_report(root: Path) -> Report:
    results = DistillResults.model_validate_json((root / "results.json").read_text())
    data = results.data
    facts = [
        ("questions", f"{data.questions:,}"),
        ("D_pos rationales", f"{data.positive:,}"),
        ("D_neg rationales", f"{data.negative:,}"),
        ("questions with both", f"{data.questions_with_both:,}"),
        ("teacher requests", f"{results.teacher_usage.get('requests', 0):,}"),
        ("run time", f"{results.seconds:,.0f} s"),
    ]
    return Report(
        f"distillation run {root.name}",
        f"{root.resolve()} · tasks {', '.join(results.config.get('tasks', []))}",
        facts,
        [rationales_section(root, data), accuracy_section(results)],
    )


def rationales_section(root: Path, data: RationaleCounts) -> Section:
    counts = read_json_objects(root / "data" / "counts.jsonl")
    samples = max((c["positive"] + c["negative"] for c in counts), default=0)
    blocks: list[Any] = [
        Figure(bar_chart(["D_pos (correct)", "D_neg (wrong)"],
                         [data.positive, data.negative],
                         "teacher rationales by correctness"),
               "Teacher rationales whose final answer matched the gold answer, and the rest."),
    ]
    result = histogram_of({"questions": [c["positive"] for c in counts]})
    if result is not None:
        name = f"correct rationales per question (of {samples})"
        blocks.append(histogram_figure(*result, name))
    for name, path in (("D_pos", "d_pos.jsonl"), ("D_neg", "d_neg.jsonl")):
        rows = read_json_objects(root / "data" / path)[:4]
        documents = []
        for row in rows:
            text, length = snippet(row.get("rationale", ""))
            documents.append(Document(f"{row.get('id')} · sample {row.get('sample')}", text,
                                      {"gold": row.get("gold"), "extracted": row.get("extracted")},
                                      length))
        blocks.append(Samples(f"{name} rationales", documents))
    return Section("Teacher rationales", blocks,
                   "Both sets train the student: D_pos directly, D_neg through the negative "
                   "LoRA that NAT and NCE build on.")


def accuracy_section(results: DistillResults) -> Section:
    accuracy = results.accuracy
    if not accuracy:
        return Section("Accuracy", [Note("The run has no evaluation yet.")])
    names = [METHOD_LABELS.get(k, k) for k in accuracy]
    blocks: list[Any] = [
        Figure(bar_chart(names, [100 * v for v in accuracy.values()], "accuracy by method",
                         ["%"] * len(accuracy)),
               "Greedy accuracy on the test problems, in percent."),
        Table(["method", "accuracy"],
              [[n, f"{100 * v:.2f}%"] for n, v in zip(names, accuracy.values(), strict=True)]),
    ]
    votes = results.self_consistency
    if votes:
        blocks.append(Table(["self-consistency weighting", "accuracy"],
                            [[k, f"{100 * v:.2f}%"] for k, v in votes.items()],
                            f"ASC: answers voted with ranker-score weights; the ranker trained "
                            f"on {results.ranker_pairs:,} pairs."))
    return Section("Accuracy", blocks)
