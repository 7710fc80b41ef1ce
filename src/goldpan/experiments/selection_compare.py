"""Several reverse-modeling experiments (seeds) read as one: which selection trains the best LM?

Each run trained one LM per selection (top-S, random, bottom-S, lowest forward loss) on the same
token budget and measured it on the same held-out clean documents. Per run, the difference of
clean losses of two selections (negative: the first is better); across runs its mean with a t
interval over the runs (the honest interval: scorers, selections and LM training all change
with the seed) and, narrower, the per-document paired difference pooled over every run (it
counts only the documents' noise).
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from goldpan.errors import GoldpanError
from goldpan.util.intervals import Estimate, mean_interval, paired_difference

# The comparisons the paper's claim and its natural baselines call for: first minus second.
CONTRASTS = [("top", "random"), ("top", "bottom"), ("random", "bottom"), ("top", "perplexity"),
             ("perplexity", "random")]


class Contrast(BaseModel):
    first: str
    second: str
    per_run: list[float]
    over_runs: Estimate
    over_documents: Estimate


class SelectionComparison(BaseModel):
    runs: list[str]
    losses: dict[str, list[float]]  # selection -> clean held-out loss per run
    contrasts: list[Contrast]


def _report(folder: Path) -> dict:
    path = folder / "experiment.json"
    if not path.is_file():
        raise GoldpanError(f"{folder}: no experiment.json (not a finished reverse-modeling run)")
    return json.loads(path.read_text())


def compare(folders: list[Path]) -> SelectionComparison:
    reports = [_report(f) for f in folders]
    shared = set.intersection(*(set(r["lms"]) for r in reports)) if reports else set()
    losses = {name: [r["lms"][name]["clean_held_out_loss"] for r in reports]
              for name in ("top", "random", "bottom", "perplexity") if name in shared}
    contrasts = []
    for first, second in CONTRASTS:
        if first not in shared or second not in shared:
            continue
        firsts, seconds = [], []
        for report in reports:
            a = report["lms"][first].get("clean_document_losses")
            b = report["lms"][second].get("clean_document_losses")
            if a is None or b is None:
                raise GoldpanError("a run has no per-document clean losses (made before they "
                                   "were recorded): rerun it")
            for x, y in zip(a, b, strict=True):
                if x is not None and y is not None:
                    firsts.append(x)
                    seconds.append(y)
        per_run = [r["lms"][first]["clean_held_out_loss"] - r["lms"][second]["clean_held_out_loss"]
                   for r in reports]
        contrasts.append(Contrast(first=first, second=second, per_run=per_run,
                                  over_runs=mean_interval(per_run),
                                  over_documents=paired_difference(firsts, seconds)))
    return SelectionComparison(runs=[str(f) for f in folders], losses=losses,
                               contrasts=contrasts)


def _interval(estimate: Estimate) -> str:
    return f"{estimate.mean:+.4f} ({estimate.low:+.4f} to {estimate.high:+.4f})"


def comparison_table(comparison: SelectionComparison) -> str:
    names = list(comparison.losses)
    lines = ["| run | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for index, run in enumerate(comparison.runs):
        cells = " | ".join(f"{comparison.losses[n][index]:.4f}" for n in names)
        lines.append(f"| {run} | {cells} |")
    lines += ["", "Clean held-out loss of the LM trained on each selection (lower is better).", "",
              "| first - second | per run | mean over runs, 95% t | per document, 95% paired |",
              "|---|---|---|---|"]
    for contrast in comparison.contrasts:
        per_run = ", ".join(f"{d:+.4f}" for d in contrast.per_run)
        lines.append(f"| {contrast.first} - {contrast.second} | {per_run} | "
                     f"{_interval(contrast.over_runs)} | {_interval(contrast.over_documents)} "
                     f"(n={contrast.over_documents.n}) |")
    lines += ["", "Negative: the first selection trained the better LM."]
    return "\n".join(lines) + "\n"
