"""``classify``: existing classifiers score every document exactly as the models themselves
would, batched by length; several scores combine; the scores are ordinary columns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from goldpan.engine.runner import run_recipe
from goldpan.recipe import parse_recipe
from tests.conftest import read_output, read_rejects, recipe_dict

GOOD = ["The committee approved the budget after a long debate about schools and roads.",
        "Water boils at a lower temperature on a mountain because the air pressure is lower.",
        "The museum opened a new wing for paintings from the early nineteenth century."]
BAD = ["buy now cheap cheap cheap click here best price",
       "lol lol lol omg omg click click",
       "free free free win win win now now"]


def _corpus(path: Path) -> list[dict]:
    rows = [{"id": f"doc-{k}", "text": text * (1 + k % 3), "source": "good" if k < 3 else "bad"}
            for k, text in enumerate(GOOD + BAD)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _fasttext_model(folder: Path) -> Path:
    import fasttext

    training = folder / "train.txt"
    lines = [f"__label__hq {t}" for t in GOOD * 5] + [f"__label__lq {t}" for t in BAD * 5]
    training.write_text("\n".join(lines) + "\n")
    # wordNgrams 2 (DCLM's setting): this fastText build reports NaN on unigrams alone, and
    # now and then on this tiny set too (not reproducibly): a second try.
    for attempt in range(3):
        try:
            model = fasttext.train_supervised(str(training), epoch=10, dim=8, thread=1,
                                              verbose=0, wordNgrams=2, seed=attempt)
            break
        except RuntimeError:
            if attempt == 2:
                raise
    path = folder / "quality.bin"
    model.save_model(str(path))
    return path


def _hf_model(folder: Path, num_labels: int) -> Path:
    """A tiny random BERT classifier with the packaged MiniLM's tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from goldpan.models.embeddings import resolve_embedder

    torch.manual_seed(num_labels)
    tokenizer = AutoTokenizer.from_pretrained(resolve_embedder("all-minilm-l6-v2"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, num_labels=num_labels,
                        id2label={i: f"grade{i}" for i in range(num_labels)},
                        label2id={f"grade{i}": i for i in range(num_labels)})
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _own_predictions(folder: Path, texts: list[str]) -> np.ndarray:
    """The model on each text alone: no batch, no padding."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.inference_mode():
        return np.stack([model(**tokenizer(t, return_tensors="pt")).logits[0].numpy()
                         for t in texts])


def _run(tmp_path: Path, rows_path: Path, **options: object) -> Path:
    out = tmp_path / "run"
    shutil.rmtree(out, ignore_errors=True)
    run_recipe(parse_recipe(recipe_dict([str(rows_path)], out,
                                        steps=[{"name": "classify", **options}])))
    return out


def _column(run: Path, name: str) -> dict[str, float]:
    table = read_output(run)
    return dict(zip(table.column("id").to_pylist(), table.column(name).to_pylist(), strict=True))


def test_a_fasttext_model_gives_its_own_label_probabilities(tmp_path: Path) -> None:
    rows = _corpus(tmp_path / "in.jsonl")
    model_path = _fasttext_model(tmp_path)
    run = _run(tmp_path, tmp_path / "in.jsonl",
               models=[{"path": str(model_path), "label": "hq", "column": "hq"}])
    import fasttext

    model = fasttext.load_model(str(model_path))
    scores = _column(run, "hq")
    for row in rows:
        labels, probabilities = model.predict(" ".join(row["text"].split()), k=2)
        expected = dict(zip(labels, probabilities, strict=True))["__label__hq"]
        assert scores[row["id"]] == pytest.approx(min(float(expected), 1.0), abs=1e-6)
    assert min(scores[f"doc-{k}"] for k in range(3)) > max(scores[f"doc-{k}"] for k in range(3, 6))


def test_a_hugging_face_classifier_batched_by_length_equals_the_model_on_each_text(
    tmp_path: Path,
) -> None:
    rows = _corpus(tmp_path / "in.jsonl")
    folder = _hf_model(tmp_path / "grades", num_labels=3)
    run = _run(tmp_path, tmp_path / "in.jsonl", batch_tokens=40, dtype="float32",
               models=[{"path": str(folder), "label": "grade2", "column": "p2"}])
    logits = _own_predictions(folder, [r["text"] for r in rows])
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    scores = _column(run, "p2")
    for row, probabilities in zip(rows, expected, strict=True):
        assert scores[row["id"]] == pytest.approx(float(probabilities[2]), abs=1e-5)


def test_a_regression_head_gives_its_value_and_scores_combine(tmp_path: Path) -> None:
    rows = _corpus(tmp_path / "in.jsonl")
    regression = _hf_model(tmp_path / "regression", num_labels=1)
    fasttext_path = _fasttext_model(tmp_path)
    models = [{"path": str(regression), "column": "edu"},
              {"path": str(fasttext_path), "label": "hq", "column": "hq", "weight": 3.0}]
    run = _run(tmp_path, tmp_path / "in.jsonl", models=models, combine="weighted",
               combined_column="quality", dtype="float32")  # compared with the fp32 model
    values = _own_predictions(regression, [r["text"] for r in rows])[:, 0]
    edu, hq, quality = (_column(run, c) for c in ("edu", "hq", "quality"))
    for row, value in zip(rows, values, strict=True):
        assert edu[row["id"]] == pytest.approx(float(value), abs=1e-5)
        assert quality[row["id"]] == pytest.approx((edu[row["id"]] + 3 * hq[row["id"]]) / 4)
    run = _run(tmp_path, tmp_path / "in.jsonl", models=models, combine="max", min_score=0.5)
    kept = _column(run, "classifier_score")
    assert all(v >= 0.5 for v in kept.values())
    rejected = read_rejects(run)
    assert set(rejected.column("reject_reason").to_pylist()) <= {"classify:low_score"}
    assert len(kept) + rejected.num_rows == 6


def test_numeric_labels_give_the_expected_grade(tmp_path: Path) -> None:
    from goldpan.score.classifier_models import Prediction, reduce_to_score

    prediction = Prediction(["0", "1", "2"], probabilities=np.array([[0.2, 0.3, 0.5]]))
    assert reduce_to_score(prediction, None, None, "m")[0] == pytest.approx(1.3)
    assert reduce_to_score(prediction, "2", None, "m")[0] == pytest.approx(0.5)
    assert reduce_to_score(prediction, "__label__2", None, "m")[0] == pytest.approx(0.5)


def test_a_path_that_is_no_model_is_a_one_line_error(tmp_path: Path) -> None:
    from goldpan.errors import GoldpanError
    from goldpan.score.classifier_models import load_classifier

    (tmp_path / "empty").mkdir()
    with pytest.raises(GoldpanError, match="not a fastText file"):
        load_classifier(str(tmp_path / "empty"))
    with pytest.raises(GoldpanError, match="no model at"):
        load_classifier(str(tmp_path / "missing.bin"))
