"""``goldpan score-agreement``: how quality signals of one run agree, over every scored record
(the ones a selection dropped too), and the annotation loop's recipes parse."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from goldpan.engine.runner import run_recipe
from goldpan.experiments.score_agreement import agreement, agreement_table
from goldpan.recipe import parse_recipe
from tests.conftest import goldpan, recipe_dict

TEXT = "A plain sentence that is long enough to pass the filters of a recipe."


def _scored_run(tmp_path: Path) -> Path:
    rows, draws = [], random.Random(3)
    for k in range(40):
        good = k / 40
        rows.append({"id": f"d{k}", "text": f"{TEXT} {k}", "source": "wiki" if k % 2 else "web",
                     "quality": good, "fwd_loss": 5 - good, "noise": draws.random()})
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    step = {"name": "select", "by": "quality", "mode": "top", "fraction": 0.5}
    run_recipe(parse_recipe(recipe_dict([str(tmp_path / "in.jsonl")], tmp_path / "run",
                                        steps=[step])))
    return tmp_path / "run"


def test_signals_are_compared_over_kept_and_selected_away_records(tmp_path: Path) -> None:
    run = _scored_run(tmp_path)
    result = agreement(run, ["quality", "fwd_loss", "noise"], include_rejected_by="select")
    assert result.documents == 40
    assert result.spearman["quality"]["fwd_loss"] == pytest.approx(1.0)  # a loss is negated
    assert abs(result.spearman["quality"]["noise"]) < 0.5
    assert result.overlap["quality"]["fwd_loss"] == 1.0
    assert result.source_counts == {"web": 20, "wiki": 20}
    assert result.selected_share["quality"]["wiki"] == pytest.approx(0.5)
    assert result.within_source["wiki"]["fwd_loss"] == pytest.approx(1.0)
    only_kept = agreement(run, ["quality", "fwd_loss"])
    assert only_kept.documents == 20
    table = agreement_table(result)
    assert "| quality | 1 | 1.00 (1.00 to 1.00) |" in table
    assert "Mean of each signal per source" in table and "Within each source" in table
    low, high = result.spearman_interval["quality"]["noise"]
    assert low < result.spearman["quality"]["noise"] < high and high - low > 0.3


def test_the_judges_scores_are_joined_by_id(tmp_path: Path) -> None:
    run = _scored_run(tmp_path)
    judged = tmp_path / "judged"
    judged.mkdir()
    rows = [{"id": f"d{k}", "text": f"{TEXT} {k}", "judge_score": k // 4}
            for k in range(0, 40, 4)]
    (judged / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_recipe(parse_recipe(recipe_dict([str(judged / "in.jsonl")], judged / "run")))
    result = agreement(run, ["quality"], "select", judged / "run")
    assert result.judged_documents == 10
    assert result.judge is not None and result.judge["quality"] > 0.5
    out = tmp_path / "compare"
    command = goldpan("score-agreement", str(run), "--signal", "quality", "--signal", "noise",
                      "--include-rejected-by", "select", "--out", str(out))
    assert command.returncode == 0, command.stderr
    assert json.loads((out / "compare.json").read_text())["documents"] == 40


@pytest.mark.parametrize("name", ["annotate.yaml", "annotated-selection.yaml"])
def test_the_annotation_loop_recipes_are_valid(name: str) -> None:
    path = Path(__file__).parent.parent / "recipes" / name
    recipe = parse_recipe(yaml.safe_load(path.read_text()))
    assert recipe.steps
