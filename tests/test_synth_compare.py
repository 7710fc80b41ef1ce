"""Montessori runs of several seeds pooled: the students' held-out loss difference with its
intervals, win rates raw and length-controlled."""

from __future__ import annotations

from pathlib import Path

import pytest

from goldpan.report.markdown import montessori_comparison_table as comparison_table
from goldpan.synth.compare import compare
from goldpan.synth.results import (
    Evaluation,
    IterationResult,
    JudgedComparison,
    MontessoriSummary,
    StudentResult,
)
from goldpan.util.intervals import mean_interval, paired_difference
from tests.conftest import goldpan


def _run(folder: Path, base: list, mont: list, rate: float) -> Path:
    folder.mkdir(parents=True)
    students = {
        name: StudentResult(held_out_loss=sum(x for x in losses if x is not None)
                            / sum(x is not None for x in losses),
                            reference_loss=1.0, held_out_example_losses=losses)
        for name, losses in (("self_instruct", base), ("montessori", mont))
    }
    summary = MontessoriSummary(
        config={},
        iterations=[IterationResult(iteration=0, synthetic=10, probes=8, positive=6,
                                    negative=2, pairs=4, above_momentum=3)],
        evaluation=Evaluation(examples=4, held_out=len(base), students=students,
                              montessori_vs_self_instruct=JudgedComparison(
                                  wins=1, losses=1, ties=0, win_rate=rate,
                                  length_controlled_win_rate=rate - 0.1)),
    )
    (folder / "summary.json").write_text(summary.model_dump_json())
    return folder


def test_seeds_pool_into_a_difference_with_intervals_over_runs_and_examples(
    tmp_path: Path,
) -> None:
    runs = [_run(tmp_path / "s0", [2.0, 3.0], [1.9, 2.9], 0.6),
            _run(tmp_path / "s1", [2.5, 2.5], [2.5, 2.3], 0.5),
            _run(tmp_path / "s2", [1.0, 3.0, None], [1.2, 2.9, None], 0.4)]  # no tokens: skipped
    comparison = compare(runs)
    differences = [-0.1, -0.1, 0.05]
    assert [r.difference for r in comparison.runs] == pytest.approx(differences)
    assert comparison.difference_over_runs == mean_interval(
        [r.difference for r in comparison.runs])
    assert comparison.difference_over_examples == paired_difference(
        [1.9, 2.9, 2.5, 2.3, 1.2, 2.9], [2.0, 3.0, 2.5, 2.5, 1.0, 3.0])
    assert comparison.runs[0].helpful_share == 0.75
    assert comparison.runs[0].above_momentum_share == 0.375
    assert comparison.win_rate_over_runs.mean == pytest.approx(0.5)
    table = comparison_table(comparison)
    assert "mean over 3 runs: -0.0500" in table and "over 6 held-out examples" in table


def test_the_command_names_a_folder_that_is_no_run(tmp_path: Path) -> None:
    run = _run(tmp_path / "s0", [2.0], [1.5], 0.5)
    shown = goldpan("synth", "compare", str(run), check=True)
    assert "| 2.0000 | 1.5000 | -0.5000 |" in shown.stderr
    missing = goldpan("synth", "compare", str(run), str(tmp_path / "none"))
    assert missing.returncode == 2 and "no summary.json" in missing.stderr
    assert "Traceback" not in missing.stderr
