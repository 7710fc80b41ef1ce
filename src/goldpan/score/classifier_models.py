"""Loading text classifiers and turning their outputs into one score per text (and training
the fastText kind, which ``quality_classifier`` and ``train-classifier`` both do).

Three kinds of model, told apart by what the path holds:
- a fastText ``.bin``/``.ftz`` file (DCLM's, FineWeb's language and quality models, ours);
- a Hugging Face sequence-classification folder (``config.json``; FineWeb-Edu's classifier,
  Nemotron-CC's), loaded with ``trust_remote_code`` off; a regression head (one output, or
  ``problem_type: regression``) gives its value, a classification head its probabilities;
- a folder written by ``goldpan train-classifier`` (``goldpan_classifier.json``): a fastText
  model, or a linear head over a frozen sentence encoder (``head.safetensors``).

A classification model's score is the probability of ``label``; without one, the expected
value when every label is a number (0-5 educational grades: a continuous score), else the
positive label a ``train-classifier`` folder names, else the second of two labels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from goldpan.errors import GoldpanError
from goldpan.models.batching import attention_mask, length_batches, pad_right
from goldpan.models.load import default_device
from goldpan.models.precision import DtypeChoice, resolve_dtype
from goldpan.util.storage import is_local, local_copy, local_folder, to_path

METADATA = "goldpan_classifier.json"
FASTTEXT_PREFIX = "__label__"


@dataclass
class Prediction:
    """A model's outputs for a batch of texts: per-label probabilities (classification) or
    one value per text (regression), and the label names."""

    labels: list[str]
    probabilities: np.ndarray | None = None  # (texts, labels)
    values: np.ndarray | None = None  # (texts,)


def _numeric(labels: list[str]) -> np.ndarray | None:
    try:
        return np.array([float(label) for label in labels])
    except ValueError:
        return None


def reduce_to_score(prediction: Prediction, label: str | None, positive: str | None,
                    where: str) -> np.ndarray:
    """One number per text: see the module's docstring for the order of the rules."""
    if prediction.values is not None:
        return prediction.values.astype(np.float64)
    assert prediction.probabilities is not None
    labels = prediction.labels
    if label is not None:
        label = label if label in labels else label.removeprefix(FASTTEXT_PREFIX)
        if label not in labels:
            raise GoldpanError(f"classify {where}: no label {label!r} (it has {labels})")
        return prediction.probabilities[:, labels.index(label)].astype(np.float64)
    values = _numeric(labels)
    if values is not None:
        return (prediction.probabilities @ values).astype(np.float64)
    if positive is not None and positive in labels:
        return prediction.probabilities[:, labels.index(positive)].astype(np.float64)
    if len(labels) == 2:
        return prediction.probabilities[:, 1].astype(np.float64)
    raise GoldpanError(f"classify {where}: name the label to score (one of {labels})")


def head_prediction(outputs: np.ndarray, labels: list[str], regression: bool) -> Prediction:
    """A head's raw outputs: the value of a regression head, else softmax probabilities."""
    if regression:
        return Prediction(labels, values=outputs[:, 0].astype(np.float64))
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return Prediction(labels, probabilities=shifted / shifted.sum(axis=1, keepdims=True))


def one_line(text: str) -> str:
    """fastText predicts one line: newlines would end the text early."""
    return " ".join(text.split())


# Hash buckets of the word n-grams. fastText's own default (2,000,000) makes a 64-dimension model
# 512 MB, loaded by every worker that scores; 2**18 rows (64 MB) serve corpora of a few
# thousand training documents, and the option is there for larger ones.
FASTTEXT_BUCKETS = 1 << 18


def train_fasttext(examples: Sequence[tuple[str, str]], path: Path, *, epochs: int,
                   learning_rate: float, word_ngrams: int, dim: int,
                   buckets: int = FASTTEXT_BUCKETS, seed: int = 0) -> None:
    """A supervised fastText model of (label, text) examples saved at ``path`` (local: fastText
    writes only files). The examples are shuffled with ``seed`` and trained on one thread, so
    the same examples give the same model."""
    import fasttext

    training = path.with_suffix(".train.txt")
    order = np.random.default_rng(seed).permutation(len(examples))
    training.write_text("".join(f"{FASTTEXT_PREFIX}{examples[i][0]} {one_line(examples[i][1])}\n"
                                for i in order), encoding="utf-8")
    # This fastText build now and then stops with "Encountered NaN" on small training sets
    # (seen in the suite, not reproducible run to run): try again, with half the rate after
    # the second failure, before giving up.
    for attempt in range(4):
        rate = learning_rate / (2 ** max(0, attempt - 1))
        try:
            model = fasttext.train_supervised(input=str(training), epoch=epochs, lr=rate,
                                              wordNgrams=word_ngrams, dim=dim, bucket=buckets,
                                              thread=1, seed=seed, verbose=0)
            break
        except RuntimeError as error:
            if "NaN" not in str(error) or attempt == 3:
                raise
    training.unlink()
    model.save_model(str(path))


class FastTextModel:
    def __init__(self, path: Path) -> None:
        from goldpan.models.fasttext import load_fasttext

        self.model = load_fasttext(str(path))
        self.labels = [label.removeprefix(FASTTEXT_PREFIX) for label in self.model.get_labels()]

    def predict(self, texts: list[str]) -> Prediction:
        names, probabilities = self.model.predict([one_line(t) for t in texts],
                                                  k=len(self.labels))
        table = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        index = {label: position for position, label in enumerate(self.labels)}
        for row, (row_names, row_values) in enumerate(zip(names, probabilities, strict=True)):
            for name, value in zip(row_names, row_values, strict=True):
                table[row, index[name.removeprefix(FASTTEXT_PREFIX)]] = min(float(value), 1.0)
        return Prediction(self.labels, probabilities=table)


class SequenceClassifier:
    """An HF sequence-classification model, batched by length, padded on the right."""

    def __init__(self, folder: Path, max_length: int, batch_tokens: int | None,
                 device: str | None, dtype: DtypeChoice, compile_model: bool = False) -> None:
        import torch
        import transformers
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        transformers.utils.logging.disable_progress_bar()
        self.device = device or default_device()
        self.tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            folder, trust_remote_code=False,
            dtype=getattr(torch, resolve_dtype(dtype, self.device)),
        ).to(self.device).eval()
        config = self.model.config
        if compile_model:  # tens of seconds once per process, then ~1.3x on CPU
            self.model = torch.compile(self.model, dynamic=True)
        self.regression = config.problem_type == "regression" or config.num_labels == 1
        self.labels = [str(config.id2label[i]) for i in range(config.num_labels)]
        self.max_length = min(max_length, getattr(self.tokenizer, "model_max_length", max_length))
        # On CPU small batches are fastest (a 2-core machine: about 16 rows of 230 tokens).
        self.batch_tokens = batch_tokens or (4096 if self.device == "cpu" else 131072)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def logits(self, texts: list[str]) -> np.ndarray:
        import torch

        encoded = self.tokenizer([t or " " for t in texts], truncation=True,
                                 max_length=self.max_length)["input_ids"]
        outputs = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        with torch.inference_mode():
            for group in length_batches([len(ids) for ids in encoded], self.batch_tokens):
                rows = [encoded[i] for i in group]
                ids = torch.from_numpy(pad_right(rows, self.pad_id)).to(self.device)
                mask = torch.from_numpy(attention_mask(rows)).to(self.device)
                logits = self.model(input_ids=ids, attention_mask=mask).logits
                outputs[group] = logits.float().cpu().numpy()
        return outputs

    def predict(self, texts: list[str]) -> Prediction:
        return head_prediction(self.logits(texts), self.labels, self.regression)


class EmbeddingHead:
    """``train-classifier``'s head: a linear layer over a frozen sentence encoder's unit
    vectors (mean pooling, as the encoder was trained)."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        from safetensors.numpy import load_file

        from goldpan.models.embeddings import load_embedder

        tensors = load_file(str(folder / "head.safetensors"))
        self.weight, self.bias = tensors["weight"], tensors["bias"]
        self.regression = meta["task"] == "regression"
        self.labels = [str(label) for label in meta.get("labels", ["score"])]
        self.embedder = load_embedder(meta["encoder"], int(meta.get("max_length", 256)))

    def predict(self, texts: list[str]) -> Prediction:
        outputs = self.embedder.embed(texts) @ self.weight.T + self.bias
        return head_prediction(outputs, self.labels, self.regression)


@dataclass
class LoadedClassifier:
    model: Any  # FastTextModel | SequenceClassifier | EmbeddingHead
    positive: str | None  # the label a train-classifier folder names as the one to score


def _local(path: str) -> Path:
    where = to_path(path)
    if is_local(where):
        if not where.exists():
            raise GoldpanError(f"classify: no model at {path}")
        return Path(where)
    return local_copy(where) if where.suffix in {".bin", ".ftz"} else local_folder(where)


@lru_cache(maxsize=8)
def load_classifier(path: str, max_length: int = 512, batch_tokens: int | None = None,
                    device: str | None = None, dtype: DtypeChoice = "auto",
                    compile_model: bool = False) -> LoadedClassifier:
    """One copy per worker process."""
    local = _local(path)
    if local.is_file():
        return LoadedClassifier(FastTextModel(local), None)
    meta_file = local / METADATA
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        positive = meta.get("positive_label")
        if meta["kind"] == "fasttext":
            return LoadedClassifier(FastTextModel(local / meta["model"]), positive)
        if meta["kind"] == "embedding_head":
            return LoadedClassifier(EmbeddingHead(local, meta), positive)
        raise GoldpanError(f"classify: {path}: unknown classifier kind {meta['kind']!r}")
    if (local / "config.json").is_file():
        return LoadedClassifier(
            SequenceClassifier(local, max_length, batch_tokens, device, dtype, compile_model), None
        )
    raise GoldpanError(
        f"classify: {path} is not a fastText file, a Hugging Face model folder (config.json) "
        "or a train-classifier folder"
    )
