"""Several Montessori-Instruct runs (seeds) read as one experiment.

The question each run answers: does the student trained on the updated teacher's data do better
on held-out data than the one trained on the original teacher's (Self-Instruct) data? Per run
the difference of held-out losses (Montessori minus Self-Instruct: negative means Montessori is
better); across runs its mean with a t interval over the runs (the honest interval: the runs'
data, probes and training differ, and that is the noise that matters), and, narrower, the
per-example paired difference pooled over every run's held-out examples (it counts only the
examples' noise). Win rates, raw and length-controlled, per run and averaged.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from goldpan.errors import GoldpanError
from goldpan.synth.results import MontessoriSummary
from goldpan.util.intervals import Estimate, mean_interval, paired_difference


class RunFigures(BaseModel):
    run: str
    self_instruct_loss: float
    montessori_loss: float
    difference: float
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


def _summary(folder: Path) -> MontessoriSummary:
    path = folder / "summary.json"
    if not path.is_file():
        raise GoldpanError(f"{folder}: no summary.json (not a finished `goldpan synth montessori`)")
    return MontessoriSummary.model_validate(json.loads(path.read_text()))


def compare(folders: list[Path]) -> MontessoriComparison:
    runs: list[RunFigures] = []
    firsts: list[float] = []
    seconds: list[float] = []
    for folder in folders:
        summary = _summary(folder)
        evaluation = summary.evaluation
        students = evaluation.students if evaluation else {}
        mont, base = students.get("montessori"), students.get("self_instruct")
        if mont is None or base is None or mont.held_out_loss is None or base.held_out_loss is None:
            raise GoldpanError(f"{folder}: the run has no held-out evaluation of both students")
        judged = evaluation.montessori_vs_self_instruct if evaluation else None
        first = summary.iterations[0] if summary.iterations else None
        probes = first.positive + first.negative if first else 0
        runs.append(RunFigures(
            run=str(folder), self_instruct_loss=base.held_out_loss,
            montessori_loss=mont.held_out_loss,
            difference=mont.held_out_loss - base.held_out_loss,
            win_rate=judged.win_rate if judged else None,
            length_controlled_win_rate=judged.length_controlled_win_rate if judged else None,
            helpful_share=first.positive / probes if first and probes else None,
            above_momentum_share=(first.above_momentum / probes
                                  if first and probes and first.above_momentum is not None
                                  else None),
        ))
        for ours, theirs in zip(mont.held_out_example_losses, base.held_out_example_losses,
                                strict=True):
            if ours is not None and theirs is not None:  # an example with response tokens
                firsts.append(ours)
                seconds.append(theirs)
    rates = [r.win_rate for r in runs if r.win_rate is not None]
    controlled = [r.length_controlled_win_rate for r in runs
                  if r.length_controlled_win_rate is not None]
    return MontessoriComparison(
        runs=runs,
        difference_over_runs=mean_interval([r.difference for r in runs]),
        difference_over_examples=paired_difference(firsts, seconds),
        win_rate_over_runs=mean_interval(rates),
        length_controlled_over_runs=mean_interval(controlled),
    )
