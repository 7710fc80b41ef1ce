"""Montessori runs of several seeds pooled: the students' held-out loss difference with its
intervals, each held-out example weighing the same at both levels and counted once however
many runs measured it; win rates raw and length-controlled, and none from a judge that tied
everything."""

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
from goldpan.util.intervals import mean_interval
from tests.conftest import goldpan


def _run(folder: Path, base: list, mont: list, rate: float | None,
         keys: list[str] | None = None) -> Path:
    folder.mkdir(parents=True)
    students = {
        # held_out_loss is token-weighted; the comparison must not mix it with example means.
        name: StudentResult(held_out_loss=9.9, reference_loss=1.0,
                            held_out_example_losses=losses)
        for name, losses in (("self_instruct", base), ("montessori", mont))
    }
    judged = (JudgedComparison(wins=1, losses=1, ties=0, win_rate=rate,
                               length_controlled_win_rate=rate - 0.1) if rate is not None
              else JudgedComparison(wins=0, losses=0, ties=len(base), win_rate=None))
    summary = MontessoriSummary(
        config={},
        iterations=[IterationResult(iteration=0, synthetic=10, probes=8, positive=6,
                                    negative=2, pairs=4, above_momentum=3)],
        evaluation=Evaluation(examples=4, held_out=len(base), held_out_keys=keys or [],
                              students=students, montessori_vs_self_instruct=judged),
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
    assert [r.difference for r in comparison.runs] == pytest.approx([-0.1, -0.1, 0.05])
    assert [r.self_instruct_loss for r in comparison.runs] == pytest.approx([2.5, 2.5, 2.0])
    assert comparison.difference_over_runs == mean_interval(
        [r.difference for r in comparison.runs])
    # Two held-out examples measured by three runs: n = 2, each averaged over the runs.
    first, second = (-0.1 + 0.0 + 0.2) / 3, (-0.1 - 0.2 - 0.1) / 3
    expected = mean_interval([first, second])
    pooled = comparison.difference_over_examples
    assert (pooled.mean, pooled.low, pooled.high) == pytest.approx(
        (expected.mean, expected.low, expected.high))
    assert pooled.n == 2
    # Both levels weigh each example the same: with every run measuring the same examples the
    # two centres are one average taken two ways.
    assert comparison.difference_over_examples.mean == pytest.approx(
        comparison.difference_over_runs.mean)
    assert comparison.runs[0].helpful_share == 0.75
    assert comparison.runs[0].above_momentum_share == 0.375
    assert comparison.win_rate_over_runs.mean == pytest.approx(0.5)
    table = comparison_table(comparison)
    assert "mean over 3 runs: -0.0500" in table and "over the 2 held-out examples" in table


def test_runs_pair_their_examples_by_digest_not_position(tmp_path: Path) -> None:
    runs = [_run(tmp_path / "s0", [2.0, 3.0], [1.0, 3.0], 0.6, keys=["a", "b"]),
            _run(tmp_path / "s1", [3.0, 2.0], [3.0, 1.0], 0.6, keys=["b", "a"])]
    comparison = compare(runs)
    assert comparison.difference_over_examples.n == 2
    assert comparison.difference_over_examples.mean == pytest.approx(-0.5)
    # By digest "a" is -1 in both runs and "b" 0 in both: two different averages. Paired by
    # position, both positions would average -0.5 and the interval would have no width.
    pooled = comparison.difference_over_examples
    assert pooled.high - pooled.low > 1


def test_a_judge_that_tied_everything_is_reported_as_uninformative(tmp_path: Path) -> None:
    runs = [_run(tmp_path / "s0", [2.0, 3.0], [1.9, 2.9], None),
            _run(tmp_path / "s1", [2.5, 2.5], [2.5, 2.3], None)]
    comparison = compare(runs)
    assert comparison.judged_runs == 0
    assert [r.win_rate for r in comparison.runs] == [None, None]
    table = comparison_table(comparison)
    assert "| uninformative |" in table and "0.500" not in table
    assert "Win rate: uninformative" in table


def test_the_command_names_a_folder_that_is_no_run(tmp_path: Path) -> None:
    run = _run(tmp_path / "s0", [2.0], [1.5], 0.5)
    shown = goldpan("synth", "compare", str(run), check=True)
    assert "| 2.0000 | 1.5000 | -0.5000 | 1 |" in shown.stderr
    missing = goldpan("synth", "compare", str(run), str(tmp_path / "none"))
    assert missing.returncode == 2 and "no summary.json" in missing.stderr
    assert "Traceback" not in missing.stderr
