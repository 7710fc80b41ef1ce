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


def _cell(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def comparison_table(comparison: MontessoriComparison) -> str:
    lines = [
        "| run | held-out loss, Self-Instruct data | held-out loss, Montessori data | "
        "difference | win rate | length-controlled | helpful probes | above the momentum |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in comparison.runs:
        lines.append(
            f"| {run.run} | {run.self_instruct_loss:.4f} | {run.montessori_loss:.4f} | "
            f"{run.difference:+.4f} | {_cell(run.win_rate, 3)} | "
            f"{_cell(run.length_controlled_win_rate, 3)} | {_cell(run.helpful_share, 2)} | "
            f"{_cell(run.above_momentum_share, 2)} |"
        )
    over_runs, over_examples = comparison.difference_over_runs, comparison.difference_over_examples
    lines += [
        "",
        f"Held-out loss difference (Montessori - Self-Instruct; negative: Montessori better), "
        f"mean over {over_runs.n} runs: {over_runs.mean:+.4f}, 95% interval "
        f"{over_runs.low:+.4f} to {over_runs.high:+.4f} (t over runs); over "
        f"{over_examples.n} held-out examples: {over_examples.mean:+.4f}, 95% interval "
        f"{over_examples.low:+.4f} to {over_examples.high:+.4f} (paired, examples' noise only).",
        f"Win rate of the Montessori student, mean over runs: "
        f"{comparison.win_rate_over_runs.mean:.3f} (95% {comparison.win_rate_over_runs.low:.3f} "
        f"to {comparison.win_rate_over_runs.high:.3f}); length-controlled "
        f"{comparison.length_controlled_over_runs.mean:.3f} (95% "
        f"{comparison.length_controlled_over_runs.low:.3f} to "
        f"{comparison.length_controlled_over_runs.high:.3f}).",
    ]
    return "\n".join(lines) + "\n"
