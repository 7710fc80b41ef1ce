"""``goldpan train-classifier``: learn an annotated run's column, so that a cheap classifier
can score what the annotator (an LLM judge, a human, a source label) never saw.

FineWeb-Edu trained a regression head on a frozen embedding model over 450k Llama-3-70B
annotations and scored billions of pages with it; DCLM used a fastText classifier. Both are
here: ``kind: fasttext`` (bigrams, DCLM's setting) or ``kind: head``, a linear layer over the
frozen packaged all-MiniLM-L6-v2 sentence vectors (ridge regression for scores, multinomial
logistic regression for labels; both in closed form or with L-BFGS, so a seed fixes the
result). A seeded held-out share measures the classifier before anyone relies on it; its
metrics (F1 at a threshold, Spearman for scores) are written beside the model, and the folder
loads with the ``classify`` step.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from goldpan.engine.rundir import RunDir
from goldpan.errors import GoldpanError
from goldpan.score.classifier_models import (
    FASTTEXT_BUCKETS,
    METADATA,
    FastTextModel,
    head_prediction,
    train_fasttext,
)
from goldpan.util.atomic import atomic_write_json
from goldpan.util.storage import is_local, read_parquet, to_path, upload_file

Kind = Literal["fasttext", "head"]
Task = Literal["auto", "regression", "classification"]
DISCRETE_LIMIT = 20  # numeric columns with at most this many integer values are labels


@dataclass
class ClassifierTraining:
    column: str
    kind: Kind = "head"
    task: Task = "auto"
    threshold: float | None = None  # F1 at this score; fastText on continuous scores: the cut
    held_out: float = 0.2
    seed: int = 0
    encoder: str = "all-minilm-l6-v2"
    max_length: int = 256
    l2: float = 1e-3  # ridge / logistic penalty per example
    epochs: int = 25  # fastText
    buckets: int = FASTTEXT_BUCKETS  # fastText's word n-gram hash buckets
    text_column: str = "text"
    sources: list[str] | None = None


def annotated_records(run_dir: str | Path, column: str, text_column: str = "text",
                      sources: list[str] | None = None) -> tuple[list[str], pa.Array]:
    """The texts and values of the run's kept records that have a value in ``column``."""
    parts = RunDir(run_dir).kept_parts()
    if not parts:
        raise GoldpanError(f"train-classifier: {run_dir} has no kept records (is it a run?)")
    tables = []
    for part in parts:
        table = read_parquet(part)
        if column not in table.column_names:
            continue
        table = table.filter(pc.is_valid(table.column(column)))
        if sources and "source" in table.column_names:
            table = table.filter(pc.is_in(table.column("source"),
                                          pa.array(sources, table.column("source").type)))
        tables.append(table.select([text_column, column]))
    if not tables:
        raise GoldpanError(f"train-classifier: no kept record of {run_dir} has a column "
                           f"{column!r}")
    joined = pa.concat_tables(tables, promote_options="permissive")
    if joined.num_rows < 10:
        raise GoldpanError(f"train-classifier: {joined.num_rows} annotated records in "
                           f"{column!r}; at least 10 are needed (a held-out share among them)")
    return joined.column(text_column).to_pylist(), joined.column(column).combine_chunks()


def decide_task(values: pa.Array, task: Task) -> Literal["regression", "classification"]:
    if task != "auto":
        return task
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        numbers = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        integers = bool(np.all(numbers == np.round(numbers)))
        few = len(np.unique(numbers)) <= DISCRETE_LIMIT
        return "classification" if integers and few else "regression"
    return "classification"


def as_labels(values: pa.Array) -> list[str]:
    """Label names: integers without a decimal point, anything else as text."""
    result = []
    for value in values.to_pylist():
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        result.append(str(value))
    return result


def split(count: int, held_out: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(count)
    test = max(1, round(count * held_out))
    return np.sort(order[test:]), np.sort(order[:test])


def f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    true_positive = float(np.sum(truth & predicted))
    denominator = float(np.sum(truth) + np.sum(predicted))
    return 2 * true_positive / denominator if denominator else 0.0


def score_metrics(truth: np.ndarray, predicted: np.ndarray, threshold: float | None
                  ) -> dict[str, float]:
    """Spearman and Pearson correlation, RMSE, and F1 of 'at least threshold'."""
    from scipy.stats import pearsonr, spearmanr

    constant = np.ptp(truth) == 0 or np.ptp(predicted) == 0
    metrics = {
        "spearman": math.nan if constant else float(spearmanr(truth, predicted).statistic),
        "pearson": math.nan if constant else float(pearsonr(truth, predicted).statistic),
        "rmse": float(np.sqrt(np.mean((truth - predicted) ** 2))),
    }
    if threshold is not None:
        metrics["f1_at_threshold"] = f1(truth >= threshold, predicted >= threshold)
    return metrics


def label_metrics(truth: list[str], predicted: list[str], positive: str | None
                  ) -> dict[str, float]:
    labels = sorted(set(truth) | set(predicted))
    t, p = np.array(truth), np.array(predicted)
    per_label = {label: f1(t == label, p == label) for label in labels}
    metrics = {"accuracy": float(np.mean(t == p)),
               "macro_f1": float(np.mean([per_label[label] for label in sorted(set(truth))]))}
    if positive is not None:
        metrics["f1"] = per_label.get(positive, 0.0)
    return metrics


# ---------------------------------------------------------------------- the two kinds
def _fit_ridge(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form ridge regression with an unpenalised bias."""
    mean_x, mean_y = x.mean(axis=0), y.mean()
    centred = x - mean_x
    gram = centred.T @ centred + l2 * len(x) * np.eye(x.shape[1])
    weight = np.linalg.solve(gram, centred.T @ (y - mean_y))
    return weight[None, :].astype(np.float32), np.array([mean_y - mean_x @ weight], np.float32)


def _fit_logistic(x: np.ndarray, y: np.ndarray, classes: int, l2: float, seed: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by L-BFGS (deterministic from the seed)."""
    import torch

    torch.manual_seed(seed)
    features, targets = torch.from_numpy(x).double(), torch.from_numpy(y).long()
    linear = torch.nn.Linear(x.shape[1], classes).double()
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimiser = torch.optim.LBFGS(linear.parameters(), max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(features), targets)
        loss = loss + l2 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return (linear.weight.detach().float().numpy(), linear.bias.detach().float().numpy())


def _train_head(texts: list[str], values: pa.Array, task: str, train: np.ndarray,
                test: np.ndarray, config: ClassifierTraining, folder: Path
                ) -> tuple[dict[str, Any], dict[str, float]]:
    from safetensors.numpy import save_file

    from goldpan.models.embeddings import load_embedder

    vectors = load_embedder(config.encoder, config.max_length).embed(texts)
    meta: dict[str, Any] = {"kind": "embedding_head", "encoder": config.encoder,
                            "max_length": config.max_length, "task": task}
    if task == "regression":
        y = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        weight, bias = _fit_ridge(vectors[train], y[train], config.l2)
        predicted = vectors[test] @ weight[0] + bias[0]
        metrics = score_metrics(y[test], predicted, config.threshold)
    else:
        labels = as_labels(values)
        names = sorted(set(labels), key=_label_order)
        index = np.array([names.index(label) for label in labels])
        weight, bias = _fit_logistic(vectors[train], index[train], len(names), config.l2,
                                     config.seed)
        probabilities = head_prediction(vectors[test] @ weight.T + bias, names,
                                        regression=False).probabilities
        assert probabilities is not None
        predicted = [names[i] for i in np.argmax(probabilities, axis=1)]
        metrics = _classification_metrics([labels[i] for i in test], predicted, names,
                                          probabilities, config)
        meta["labels"] = names
        meta["positive_label"] = _positive(names)
    save_file({"weight": weight, "bias": bias}, str(folder / "head.safetensors"))
    return meta, metrics


def _train_fasttext(texts: list[str], values: pa.Array, task: str, train: np.ndarray,
                    test: np.ndarray, config: ClassifierTraining, folder: Path
                    ) -> tuple[dict[str, Any], dict[str, float]]:
    cut = None
    if task == "regression":  # fastText classifies: a continuous score needs a cut
        numbers = np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)
        cut = config.threshold if config.threshold is not None else float(np.median(numbers))
        labels = ["1" if v >= cut else "0" for v in numbers]
    else:
        labels = as_labels(values)
    names = sorted(set(labels), key=_label_order)
    # wordNgrams 2: DCLM's setting (and this fastText build reports NaN on unigrams alone).
    train_fasttext([(labels[i], texts[i]) for i in train], folder / "model.bin",
                   epochs=config.epochs, learning_rate=0.5, word_ngrams=2, dim=64,
                   buckets=config.buckets, seed=config.seed)
    # Measured as classify will load it.
    prediction = FastTextModel(folder / "model.bin").predict([texts[i] for i in test])
    assert prediction.probabilities is not None
    table = prediction.probabilities[:, [prediction.labels.index(n) for n in names]]
    predicted = [names[i] for i in np.argmax(table, axis=1)]
    metrics = _classification_metrics([labels[i] for i in test], predicted, names, table,
                                      config)
    meta: dict[str, Any] = {"kind": "fasttext", "model": "model.bin", "labels": names,
            "task": "classification",
            "positive_label": _positive(names)}
    if cut is not None:  # label 1: at least the cut (the threshold, or the median)
        meta["cut"] = cut
    return meta, metrics


def _label_order(label: str) -> tuple[int, float | str]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def _positive(names: list[str]) -> str | None:
    """For two labels, the one a score measures: the larger number, or the second name."""
    return names[-1] if len(names) == 2 else None


def _classification_metrics(truth: list[str], predicted: list[str], names: list[str],
                            probabilities: np.ndarray, config: ClassifierTraining
                            ) -> dict[str, float]:
    metrics = label_metrics(truth, predicted, _positive(names))
    numbers = [_label_order(n)[1] for n in names]
    if all(isinstance(n, float) for n in numbers) and len(names) > 2:
        # Graded labels: the expected grade is the continuous score classify gives.
        expected = probabilities @ np.array(numbers)
        metrics.update(score_metrics(np.array([float(t) for t in truth]), expected,
                                     config.threshold))
    return metrics


def train_classifier(run_dir: str | Path, out: str | Path, config: ClassifierTraining
                     ) -> dict[str, Any]:
    """Train on the run's annotated records and write the classifier folder ``out`` (a local
    path or a URL): the model, ``goldpan_classifier.json`` and ``metrics.json``."""
    texts, values = annotated_records(run_dir, config.column, config.text_column, config.sources)
    task = decide_task(values, config.task)
    train, test = split(len(texts), config.held_out, config.seed)
    with tempfile.TemporaryDirectory(prefix="goldpan-classifier-") as scratch:
        folder = Path(scratch)
        trainer = _train_head if config.kind == "head" else _train_fasttext
        meta, metrics = trainer(texts, values, task, train, test, config, folder)
        meta.update(column=config.column, trained_on=str(run_dir))
        summary = {"column": config.column, "kind": config.kind, "task": meta["task"],
                   "cut": meta.get("cut"),
                   "records": len(texts), "train": len(train), "held_out": len(test),
                   "seed": config.seed, "threshold": config.threshold, "metrics": metrics}
        atomic_write_json(folder / METADATA, meta)
        atomic_write_json(folder / "metrics.json", summary)
        target = to_path(out)
        if is_local(target):
            target.mkdir(parents=True, exist_ok=True)
        for path in sorted(folder.iterdir()):
            upload_file(path, target / path.name)
    return summary
