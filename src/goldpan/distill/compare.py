"""Several distillation runs (seeds, or splits of one test set) read as one experiment.

The primary figures are at seed level: each run trains its own models, so a method's accuracy
is the mean of the runs' accuracies and two methods' difference the mean of the runs'
differences, each with a t interval over the runs (runs - 1 degrees of freedom). This is the
interval a claim about the method needs: it carries the training noise. Secondary, and
labelled so: the runs' problems pooled (a Wilson interval for an accuracy, a paired t interval
over every problem for a difference), which counts only the problems' noise and is too narrow
for separately trained models. Methods missing from any run are left out rather than pooled
over fewer runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from goldpan.distill.results import METHOD_LABELS, VOTE_LABELS, DistillResults
from goldpan.errors import GoldpanError
from goldpan.util.intervals import Estimate, mean_interval, paired_difference, wilson_interval

# The paper's comparisons (Table 2 and its ablations): (better-if-positive, baseline).
GREEDY_PAIRS = [
    ("nat", "cot_kd"), ("nce", "nat"), ("nce", "kd"), ("kd", "nat"), ("mix", "cot_kd"),
    ("nt", "cot_kd"), ("ul", "cot_kd"), ("cl", "cot_kd"), ("cot_kd", "base"),
    # The ablations: negative knowledge against NAT's capacity.
    ("nat", "nat_zero"), ("nat", "nat_dpos"), ("nat", "cot_kd_matched"),
    ("cot_kd_matched", "cot_kd"), ("nat_zero", "cot_kd"),
]
VOTE_PAIRS = [("s", "plain"), ("1+s", "plain"), ("1+2s", "plain"), ("probability", "plain")]


class Row(BaseModel):
    name: str
    label: str
    per_run: list[float]
    over_runs: Estimate  # primary: the runs' accuracies, t interval
    pooled: Estimate  # secondary: every problem of every run, Wilson interval


class Difference(BaseModel):
    first: str
    second: str
    exploratory: bool = False  # not the comparison fixed before the run (ASC's other weights)
    per_run: list[float]
    over_runs: Estimate  # primary: the runs' differences, t interval
    pooled: Estimate  # secondary: per-problem differences pooled over the runs, paired t


class Comparison(BaseModel):
    runs: list[str]
    problems: list[int]
    accuracy: list[Row]
    votes: list[Row]
    greedy_differences: list[Difference]
    vote_differences: list[Difference]


def load_runs(folders: list[Path]) -> list[DistillResults]:
    results = []
    for folder in folders:
        path = folder / "results.json"
        if not path.is_file():
            raise GoldpanError(f"{folder}: no results.json (not a finished `goldpan distill run`)")
        results.append(DistillResults.model_validate(json.loads(path.read_text())))
    return results


def _common(per_run: list[dict[str, list]]) -> list[str]:
    names = [name for name in per_run[0] if all(name in run for run in per_run)]
    return names


def _row(name: str, label: str, per_run: list[list[float]]) -> Row:
    flat = [value for run in per_run for value in run]
    means = [sum(r) / max(1, len(r)) for r in per_run]
    return Row(name=name, label=label, per_run=means, over_runs=mean_interval(means),
               pooled=wilson_interval(sum(flat), len(flat)))


def _differences(
    pairs: list[tuple[str, str]], per_run: list[dict[str, list[float]]]
) -> list[Difference]:
    found = []
    for first, second in pairs:
        if not all(first in run and second in run for run in per_run):
            continue
        firsts = [value for run in per_run for value in run[first]]
        seconds = [value for run in per_run for value in run[second]]
        within = [paired_difference(run[first], run[second]).mean for run in per_run]
        found.append(Difference(first=first, second=second, per_run=within,
                                over_runs=mean_interval(within),
                                pooled=paired_difference(firsts, seconds)))
    return found


def _vote_differences(runs: list[DistillResults],
                      votes: list[dict[str, list[float]]]) -> list[Difference]:
    """ASC against plain self-consistency: the runs' configured weighting first, as the decided
    comparison; the other weightings and weighted-sum SC marked exploratory."""
    primary = {run.config.get("asc_weighting", "s") for run in runs}
    decided = primary.pop() if len(primary) == 1 else None
    differences = _differences(VOTE_PAIRS, votes)
    for difference in differences:
        difference.exploratory = difference.first != decided
    return sorted(differences, key=lambda d: d.exploratory)


def compare(folders: list[Path]) -> Comparison:
    """The pooled accuracies and paired differences of finished runs."""
    runs = load_runs(folders)
    greedy = [{k: [float(x) for x in v] for k, v in r.solved.items()} for r in runs]
    votes = [r.self_consistency_credit for r in runs]
    accuracy = [_row(name, METHOD_LABELS.get(name, name), [run[name] for run in greedy])
                for name in _common(greedy)]
    vote_rows = [_row(name, VOTE_LABELS.get(name, name), [run[name] for run in votes])
                 for name in _common(votes)] if all(votes) else []
    return Comparison(
        runs=[str(f) for f in folders],
        problems=[len(next(iter(r.values()), [])) for r in greedy],
        accuracy=accuracy,
        votes=vote_rows,
        greedy_differences=_differences(GREEDY_PAIRS, greedy),
        vote_differences=_vote_differences(runs, votes) if all(votes) else [],
    )
