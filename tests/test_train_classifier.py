"""``goldpan train-classifier``: from an annotated run to a classifier folder that ``classify``
loads, with held-out metrics that say whether it learned anything."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from goldpan.engine.runner import run_recipe
from goldpan.recipe import parse_recipe
from goldpan.score.classifier_training import ClassifierTraining, train_classifier
from tests.conftest import goldpan, read_output, recipe_dict


@pytest.fixture(scope="module")
def annotated_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wikipedia articles and news stories of the embedded corpus, 100 of each, with a noisy
    numeric annotation (``grade``: about 0.8 for Wikipedia, 0.2 for news) besides the source."""
    folder = tmp_path_factory.mktemp("annotated")
    rows = [json.loads(line) for line in corpus.read_text().split("\n") if line]
    noise = random.Random(0)
    chosen = []
    for source, grade in (("wikipedia_en", 0.8), ("news", 0.2)):
        picked = [r for r in rows if r["source"] == source][:100]
        for row in picked:
            value = round(grade + noise.uniform(-0.15, 0.15), 3)
            chosen.append({"id": row["id"], "text": row["text"], "source": source,
                           "grade": value, "level": round(value * 5)})
    noise.shuffle(chosen)
    (folder / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chosen))
    run_recipe(parse_recipe(recipe_dict([str(folder / "in.jsonl")], folder / "run")))
    return folder / "run"


@pytest.mark.parametrize("kind", ["head", "fasttext"])
def test_two_different_sources_are_separated_on_held_out_records(
    annotated_run: Path, tmp_path: Path, kind: str
) -> None:
    out = tmp_path / f"{kind}-classifier"
    result = goldpan("train-classifier", str(annotated_run), "--column", "source", "--out",
                     str(out), "--kind", kind)
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "classification" and metrics["held_out"] == 40
    assert metrics["metrics"]["f1"] > 0.9, metrics
    assert "f1" in result.stderr
    meta = json.loads((out / "goldpan_classifier.json").read_text())
    assert meta["labels"] == ["news", "wikipedia_en"] and meta["positive_label"] == "wikipedia_en"

    scored = tmp_path / "scored"
    step = {"name": "classify", "models": [{"path": str(out), "column": "wiki"}]}
    run_recipe(parse_recipe(recipe_dict([str(annotated_run / "output")], scored,
                                        steps=[step])))
    table = read_output(scored)
    by_source: dict[str, list[float]] = {}
    for source, score in zip(table.column("source").to_pylist(),
                             table.column("wiki").to_pylist(), strict=True):
        by_source.setdefault(source, []).append(score)
    assert min(by_source["wikipedia_en"]) >= 0 and max(by_source["news"]) <= 1
    wiki = sum(s > 0.5 for s in by_source["wikipedia_en"]) / 100
    news = sum(s <= 0.5 for s in by_source["news"]) / 100
    assert wiki > 0.9 and news > 0.9


def test_a_numeric_annotation_trains_a_regression_head_with_spearman_and_f1(
    annotated_run: Path, tmp_path: Path
) -> None:
    summary = train_classifier(annotated_run, tmp_path / "grade",
                               ClassifierTraining(column="grade", threshold=0.5))
    assert summary["task"] == "regression"
    assert summary["metrics"]["spearman"] > 0.6
    assert summary["metrics"]["f1_at_threshold"] > 0.9
    meta = json.loads((tmp_path / "grade" / "goldpan_classifier.json").read_text())
    assert meta["kind"] == "embedding_head" and meta["encoder"] == "all-minilm-l6-v2"


@pytest.mark.parametrize("kind", ["head", "fasttext"])
def test_graded_labels_are_classes_scored_by_their_expected_grade(
    annotated_run: Path, tmp_path: Path, kind: str
) -> None:
    summary = train_classifier(annotated_run, tmp_path / kind,
                               ClassifierTraining(column="level", kind=kind, threshold=2.5))
    assert summary["task"] == "classification"
    assert summary["metrics"]["spearman"] > 0.6 and summary["metrics"]["f1_at_threshold"] > 0.85
    meta = json.loads((tmp_path / kind / "goldpan_classifier.json").read_text())
    assert meta["labels"] == sorted(meta["labels"], key=int) and len(meta["labels"]) > 2


def test_the_same_seed_trains_the_same_classifier(annotated_run: Path, tmp_path: Path) -> None:
    config = ClassifierTraining(column="source", seed=3)
    first = train_classifier(annotated_run, tmp_path / "a", config)
    second = train_classifier(annotated_run, tmp_path / "b", config)
    assert first["metrics"] == second["metrics"]
    assert (tmp_path / "a" / "head.safetensors").read_bytes() == (
        tmp_path / "b" / "head.safetensors").read_bytes()


def test_a_column_nobody_annotated_is_a_one_line_error(annotated_run: Path,
                                                      tmp_path: Path) -> None:
    result = goldpan("train-classifier", str(annotated_run), "--column", "judge_score",
                     "--out", str(tmp_path / "x"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "no kept record" in result.stderr and "judge_score" in result.stderr
