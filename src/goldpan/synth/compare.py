"""Several Montessori-Instruct runs (seeds) read as one experiment.

The question each run answers: does the student trained on the updated teacher's data do better
on held-out data than the one trained on the original teacher's (Self-Instruct) data? Every
figure weighs the held-out examples equally (each example's mean token loss), so the run-level
and the example-level figures are the same average taken two ways:

- per run, the mean over its examples of the difference (Montessori minus Self-Instruct;
  negative means Montessori is better); across runs, its mean with a t interval over the runs
  (the honest interval: the runs' data, probes and training differ, and that is the noise that
  matters);
- per held-out example, its difference averaged over the runs that measured it (the runs share
  the held-out set: n is the number of examples, not examples x runs); the t interval over
  those averages counts only the examples' noise.

Win rates, raw and length-controlled, per run and averaged over the runs whose judge decided
anything: a judge that tied every comparison is reported as uninformative.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel

from goldpan.errors import GoldpanError
from goldpan.synth.results import MontessoriSummary
from goldpan.util.intervals import Estimate, mean_interval


class RunFigures(BaseModel):
    run: str
    self_instruct_loss: float  # mean over the held-out examples of each one's mean token loss
    montessori_loss: float
    difference: float
    examples: int  # held-out examples with response tokens under both students
    judge_informative: bool | None  # None: no judge ran
    win_rate: float | None
    length_controlled_win_rate: float | None
    helpful_share: float | None  # probes with influence > 0, first iteration
    above_momentum_share: float | None  # probes beating the momentum alone, first iteration


class MontessoriComparison(BaseModel):
    runs: list[RunFigures]
    difference_over_runs: Estimate
    difference_over_examples: Estimate
    win_rate_over_runs: Estimate
    length_controlled_over_runs: Estimate
    judged_runs: int  # runs whose judge decided at least one comparison


def _summary(folder: Path) -> MontessoriSummary:
    path = folder / "summary.json"
    if not path.is_file():
        raise GoldpanError(f"{folder}: no summary.json (not a finished `goldpan synth montessori`)")
    return MontessoriSummary.model_validate(json.loads(path.read_text()))


def _example_differences(summary: MontessoriSummary, folder: Path) -> dict[str, float]:
    """Per held-out example (by its digest, or its position in runs written before digests),
    Montessori's mean token loss minus Self-Instruct's."""
    evaluation = summary.evaluation
    students = evaluation.students if evaluation else {}
    mont, base = students.get("montessori"), students.get("self_instruct")
    if mont is None or base is None or mont.held_out_loss is None or base.held_out_loss is None:
        raise GoldpanError(f"{folder}: the run has no held-out evaluation of both students")
    keys = (evaluation.held_out_keys if evaluation and evaluation.held_out_keys
            else [f"#{i}" for i in range(len(mont.held_out_example_losses))])
    return {key: ours - theirs
            for key, ours, theirs in zip(keys, mont.held_out_example_losses,
                                         base.held_out_example_losses, strict=True)
            if ours is not None and theirs is not None}


def compare(folders: list[Path]) -> MontessoriComparison:
    runs: list[RunFigures] = []
    per_example: dict[str, list[float]] = defaultdict(list)
    for folder in folders:
        summary = _summary(folder)
        differences = _example_differences(summary, folder)
        if not differences:
            raise GoldpanError(f"{folder}: no held-out example has response tokens")
        for key, value in differences.items():
            per_example[key].append(value)
        evaluation = summary.evaluation
        assert evaluation is not None
        students = evaluation.students
        losses = {name: [v for v in students[name].held_out_example_losses if v is not None]
                  for name in ("montessori", "self_instruct")}
        judged = evaluation.montessori_vs_self_instruct
        first = summary.iterations[0] if summary.iterations else None
        probes = first.positive + first.negative if first else 0
        runs.append(RunFigures(
            run=str(folder),
            self_instruct_loss=sum(losses["self_instruct"]) / len(losses["self_instruct"]),
            montessori_loss=sum(losses["montessori"]) / len(losses["montessori"]),
            difference=sum(differences.values()) / len(differences),
            examples=len(differences),
            judge_informative=None if judged is None else judged.informative,
            win_rate=judged.win_rate if judged else None,
            length_controlled_win_rate=judged.length_controlled_win_rate if judged else None,
            helpful_share=first.positive / probes if first and probes else None,
            above_momentum_share=(first.above_momentum / probes
                                  if first and probes and first.above_momentum is not None
                                  else None),
        ))
    rates = [r.win_rate for r in runs if r.win_rate is not None]
    controlled = [r.length_controlled_win_rate for r in runs
                  if r.length_controlled_win_rate is not None]
    return MontessoriComparison(
        runs=runs,
        difference_over_runs=mean_interval([r.difference for r in runs]),
        difference_over_examples=mean_interval(
            [sum(values) / len(values) for values in per_example.values()]),
        win_rate_over_runs=mean_interval(rates),
        length_controlled_over_runs=mean_interval(controlled),
        judged_runs=len(rates),
    )
