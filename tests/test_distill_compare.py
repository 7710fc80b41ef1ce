"""Runs of several seeds read as one experiment: accuracies and the paper's comparisons with
t intervals over the runs (primary), and, secondary, over their pooled problems."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from goldpan.distill.compare import compare
from goldpan.distill.results import DistillResults, RationaleCounts
from goldpan.report.markdown import distill_comparison_table as comparison_table
from goldpan.util.intervals import mean_interval, paired_difference, wilson_interval
from tests.conftest import goldpan


def test_the_wilson_interval_matches_its_formula() -> None:
    estimate = wilson_interval(15, 32)
    z = 1.959963984540054
    p, n = 15 / 32, 32
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (estimate.low, estimate.high) == pytest.approx((centre - half, centre + half))
    assert wilson_interval(0, 10).low == 0.0
    assert wilson_interval(10, 10).high == pytest.approx(1.0)


def test_a_mean_of_three_seeds_gets_students_t_interval() -> None:
    estimate = mean_interval([1.0, 2.0, 3.0])
    assert estimate.mean == 2.0
    assert estimate.high - estimate.mean == pytest.approx(4.302652729911275 * 1.0 / math.sqrt(3))
    assert math.isnan(mean_interval([1.0]).low)
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([1.0], [1.0, 2.0])


def _run(folder: Path, solved: dict[str, list[bool]], credit: dict[str, list[float]]) -> Path:
    folder.mkdir(parents=True)
    results = DistillResults(
        data=RationaleCounts(questions=1, positive=1, negative=1, questions_with_both=1),
        accuracy={k: sum(v) / len(v) for k, v in solved.items()},
        solved=solved, self_consistency_credit=credit,
    )
    (folder / "results.json").write_text(results.model_dump_json())
    return folder


def test_runs_pool_their_problems_and_methods_are_compared_on_the_same_ones(
    tmp_path: Path,
) -> None:
    first = _run(tmp_path / "s0", {"cot_kd": [True, False, False, False],
                                   "nat": [True, True, False, False], "mix": [True] * 4},
                 {"plain": [1.0, 0.0, 0.5, 0.0], "s": [1.0, 1.0, 0.5, 0.0]})
    second = _run(tmp_path / "s1", {"cot_kd": [False, False, True, False],
                                    "nat": [True, False, True, True]},
                  {"plain": [0.0, 0.0, 1.0, 0.0], "s": [0.0, 1.0, 1.0, 0.0]})
    comparison = compare([first, second])
    assert comparison.problems == [4, 4]
    rows = {row.name: row for row in comparison.accuracy}
    assert set(rows) == {"cot_kd", "nat"}  # MIX is missing from one run: not pooled
    assert rows["nat"].per_run == [0.5, 0.75] and rows["nat"].pooled.mean == 5 / 8
    assert rows["nat"].pooled.n == 8
    difference = next(d for d in comparison.greedy_differences
                      if (d.first, d.second) == ("nat", "cot_kd"))
    assert difference.per_run == [0.25, 0.5]
    # Primary: the runs' differences, t with 1 degree of freedom; much wider than the pooled
    # problems' interval, which counts 8 problems of 2 separately trained pairs of models.
    assert difference.over_runs == mean_interval([0.25, 0.5])
    assert difference.pooled == paired_difference([1, 1, 0, 0, 1, 0, 1, 1],
                                                  [1, 0, 0, 0, 0, 0, 1, 0])
    assert difference.over_runs.high - difference.over_runs.low > (
        difference.pooled.high - difference.pooled.low)
    assert rows["nat"].over_runs == mean_interval([0.5, 0.75])
    votes = {row.name: row for row in comparison.votes}
    assert votes["s"].pooled.mean == pytest.approx(4.5 / 8)  # a split tie counts half
    table = comparison_table(comparison)
    assert "2 runs, 8 test problems (4, 4)." in table
    assert "| NAT (greedy) - CoT KD (greedy) | +0.250 | +0.500 | +0.375 |" in table
    assert "95% over runs | separated | 95% pooled problems (secondary) |" in table


def test_the_command_writes_the_comparison_and_names_a_folder_that_is_no_run(
    tmp_path: Path,
) -> None:
    run = _run(tmp_path / "s0", {"cot_kd": [True, False], "nat": [True, True]}, {})
    result = goldpan("distill", "compare", str(run), "--out", str(tmp_path / "cmp"), check=True)
    assert "| NAT (greedy) |" in result.stderr
    assert (tmp_path / "cmp" / "compare.md").read_text().startswith("1 runs, 2 test problems")
    missing = goldpan("distill", "compare", str(run), str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "no results.json" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_seeds_run_as_separate_processes_each_with_its_own_settings(tmp_path: Path) -> None:
    import json

    from goldpan.errors import GoldpanError
    from goldpan.experiments.seeds import run_seeds

    rationales = tmp_path / "rationales.jsonl"
    rationales.write_text(json.dumps({"id": "q1", "question": "2 + 2?", "answer": "4",
                                      "rationale": "The answer is 4."}) + "\n")
    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"question": "3 + 4?", "answer": "7"}) + "\n")
    finished: list[tuple[int, int]] = []

    def arguments(seed: int) -> list[str]:
        return ["--rationales", str(rationales), "--test-problems", str(test), "--until",
                "data", "--student", "/no/such/model", "--seed", str(seed), "--set",
                f"train_seed={2 * seed + 1}"]

    folders = run_seeds(["distill", "run"], [0, 1], tmp_path / "exp", arguments, jobs=2,
                        on_done=lambda seed, code, _: finished.append((seed, code)))
    assert folders == [tmp_path / "exp" / "seed-0", tmp_path / "exp" / "seed-1"]
    for seed, folder in enumerate(folders):
        config = json.loads((folder / "results.json").read_text())["config"]
        assert (config["seed"], config["train_seed"]) == (seed, 2 * seed + 1)
        assert (folder / "log.txt").is_file()
    assert sorted(finished) == [(0, 0), (1, 0)]
    with pytest.raises(GoldpanError, match=r"seed 0 failed .*seed-0/log\.txt"):
        run_seeds(["distill", "run"], [0], tmp_path / "bad", lambda seed: ["--no-such-option"])


def test_asc_is_decided_on_the_configured_weighting_and_the_others_are_exploratory(
    tmp_path: Path,
) -> None:
    credits = {"plain": [1.0, 0.0], "s": [1.0, 1.0], "1+s": [1.0, 0.5], "1+2s": [1.0, 0.0]}
    runs = [_run(tmp_path / f"s{i}", {"nat": [True, False]}, credits) for i in range(2)]
    vote = compare(runs).vote_differences
    assert (vote[0].first, vote[0].exploratory) == ("s", False)  # the default: the paper's s
    assert all(d.exploratory for d in vote[1:])
    assert "NAT + ASC (1 + s) - NAT + self-consistency (weight 1) (exploratory)" in (
        comparison_table(compare(runs)))
