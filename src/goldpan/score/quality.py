"""``quality_classifier``: a fastText classifier of good versus poor text (Joulin et al. 2017).

GPT-3 scored Common Crawl with a classifier trained to tell curated text (WebText, Wikipedia,
books) from raw crawl; DCLM's fastText classifier (bigrams, positives from instruction data,
negatives from crawl) made the strongest filter in its comparison. Positive and negative
example sets are JSONL files named in the recipe; the classifier is trained once, in the merge
phase (single-threaded, so it is the same on every run), saved in the stage's work folder, and
every record gets ``quality_score``, the probability of the positive label. With ``min_score``
set, records below it are rejected as ``quality_classifier:low_score``.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from goldpan.data.json_lines import json_object, read_json_lines
from goldpan.data.schema import TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import (
    FitContext,
    GlobalStep,
    StepOptions,
    with_column,
    with_reject_reasons,
)
from goldpan.errors import GoldpanError
from goldpan.score.classifier_models import (
    FASTTEXT_BUCKETS,
    load_classifier,
    one_line,
    reduce_to_score,
    train_fasttext,
)
from goldpan.util.storage import upload_file

POSITIVE, NEGATIVE = "hq", "lq"  # fastText's __label__hq and __label__lq


class ExampleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: list[str] = Field(description="JSONL files or globs.")
    field: str = Field("text", description="Field holding the example text.")
    limit: int | None = Field(None, gt=0, description="Use at most this many examples.")


class QualityOptions(StepOptions):
    positive: ExampleSet = Field(description="Examples of the text to keep.")
    negative: ExampleSet = Field(description="Examples of the text to drop.")
    min_score: float | None = Field(
        None, ge=0, le=1, description="Reject below this quality_score; null annotates only."
    )
    epochs: int = Field(20, ge=1, description="fastText epochs (its tutorial: 25).")
    learning_rate: float = Field(0.5, gt=0, description="fastText learning rate.")
    word_ngrams: int = Field(2, ge=1, description="DCLM used bigrams.")
    dim: int = Field(64, ge=2)
    buckets: int = Field(FASTTEXT_BUCKETS, ge=1, description="Hash buckets of the word n-grams "
                         "(fastText's -bucket; the model holds buckets x dim floats).")


def read_examples(examples: ExampleSet) -> list[str]:
    texts: list[str] = []
    for pattern in examples.paths:
        matches = sorted(glob.glob(pattern)) or [pattern]
        for path in matches:
            if not Path(path).is_file():
                raise GoldpanError(f"quality_classifier: no example file {path}")
            rows = read_json_lines(path, "quality_classifier: examples", json_object, "an object")
            for row in rows:
                value = row.get(examples.field)
                if isinstance(value, str) and value.strip():
                    texts.append(one_line(value))
    return texts[: examples.limit] if examples.limit else texts


def train_classifier(
    positive: list[str], negative: list[str], path: Path, options: QualityOptions
) -> Path:
    """Train on this machine (fastText reads and writes only local files) and put the model
    at ``path``, which may be a URL."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="goldpan-quality-") as scratch:
        local = Path(scratch) / path.name
        _train_fasttext(positive, negative, local, options)
        upload_file(local, path)
    return path


def _train_fasttext(
    positive: list[str], negative: list[str], path: Path, options: QualityOptions
) -> None:
    if not positive or not negative:
        raise GoldpanError("quality_classifier: both example sets need at least one text")
    examples = [(POSITIVE, t) for t in positive] + [(NEGATIVE, t) for t in negative]
    train_fasttext(examples, path, epochs=options.epochs, learning_rate=options.learning_rate,
                   word_ngrams=options.word_ngrams, dim=options.dim, buckets=options.buckets)


@register_step
class QualityClassifier(GlobalStep[QualityOptions]):
    """Train a fastText quality classifier on example sets, then score (and filter) records."""

    name = "quality_classifier"
    text_side = "answer"
    fit_reads_data = False

    def score_columns(self) -> tuple[str, ...]:
        return ("quality_score",)

    def fit_part(self, batch: pa.Table, part_index: int, context: FitContext) -> None:
        return None

    def merge(self, summaries: Sequence[None], context: FitContext) -> str:
        o = self.options
        path = context.file("quality.ftz")
        train_classifier(read_examples(o.positive), read_examples(o.negative), path, o)
        return str(path)

    def scores(self, texts: list[str], model_path: str) -> np.ndarray:
        loaded = load_classifier(model_path)
        return reduce_to_score(loaded.model.predict(texts), POSITIVE, None, self.name)

    def apply(self, batch: pa.Table, state: str) -> pa.Table:
        o = self.options
        scores = self.scores(batch.column(TEXT).to_pylist(), state)
        batch = with_column(batch, "quality_score", pa.array(scores.round(5), pa.float64()))
        if o.min_score is None:
            return batch
        reasons = [None if s >= o.min_score else self.reason("low_score") for s in scores]
        return with_reject_reasons(batch, reasons)
