"""``classify``: score every document with classifiers people already use.

Each model (see ``score.classifiers``: fastText files, Hugging Face sequence-classification
folders, ``goldpan train-classifier`` folders) writes one score column; ``combine`` joins
several into one more (mean, max, or a weighted mean: Nemotron-CC's ensemble takes the max of
its classifiers' integer scores). Scores are ordinary columns: ``select`` ranks by them, ``mix``
and the report and inspector show them. ``min_score`` rejects documents below a threshold on
the combined score (or on the only model's) as ``classify:low_score``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from goldpan.data.schema import TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_column, with_reject_reasons
from goldpan.models.precision import DtypeChoice
from goldpan.score.classifier_models import load_classifier, reduce_to_score


class ClassifierModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="fastText .bin/.ftz, HF model folder, or train-classifier "
                      "folder (local or a URL).")
    column: str | None = Field(None, description="Score column (default: NAME_score).")
    label: str | None = Field(None, description="Label whose probability is the score.")
    weight: float = Field(1.0, ge=0, description="Weight in combine: weighted.")

    @property
    def score_column(self) -> str:
        return self.column or f"{Path(self.path.rstrip('/')).stem.replace('-', '_')}_score"


class ClassifyOptions(StepOptions):
    models: list[ClassifierModel] = Field(min_length=1, description="Classifiers to run.")
    combine: Literal["mean", "max", "weighted"] | None = Field(
        None, description="Join the models' scores into combined_column."
    )
    combined_column: str = Field("classifier_score", description="Column of the combination.")
    min_score: float | None = Field(None, description="Reject below this (combined) score.")
    max_length: int = Field(512, ge=8, description="Tokens per text (HF models).")
    batch_tokens: int | None = Field(
        None, ge=8, description="Padded tokens per forward pass (default: 4,096 on CPU)."
    )
    device: str | None = Field(None, description="cpu, cuda, ... (default: the best there is).")
    dtype: DtypeChoice = Field(
        "auto", description="auto: bfloat16 where the device computes it natively (about 2x on "
        "CPUs with AMX or AVX512-BF16, and GPUs; 3.5x slower on CPUs without), else float32.",
    )
    compile: bool = Field(
        False, description="torch.compile HF models (a one-off cost per worker; large runs)."
    )

    @model_validator(mode="after")
    def _one_score_to_filter(self) -> ClassifyOptions:
        columns = [m.score_column for m in self.models]
        if len(set(columns)) != len(columns):
            raise ValueError(f"two models write the same column ({columns}): name them")
        if self.min_score is not None and len(self.models) > 1 and self.combine is None:
            raise ValueError("min_score with several models needs combine")
        return self


@register_step
class Classify(MapStep[ClassifyOptions]):
    """Score documents with existing classifiers (fastText, Hugging Face, train-classifier)."""

    name = "classify"
    text_side = "answer"

    def score_columns(self) -> tuple[str, ...]:
        o = self.options
        columns = tuple(m.score_column for m in o.models)
        return columns + ((o.combined_column,) if o.combine else ())

    def model_scores(self, texts: list[str]) -> dict[str, np.ndarray]:
        o = self.options
        scores = {}
        for spec in o.models:
            loaded = load_classifier(spec.path, o.max_length, o.batch_tokens, o.device, o.dtype,
                                     o.compile)
            prediction = loaded.model.predict(texts)
            scores[spec.score_column] = reduce_to_score(prediction, spec.label, loaded.positive,
                                                        spec.path)
        return scores

    def combined(self, scores: dict[str, np.ndarray]) -> np.ndarray:
        o = self.options
        stacked = np.stack([scores[m.score_column] for m in o.models])
        if o.combine == "max":
            return stacked.max(axis=0)
        weights = np.array([m.weight if o.combine == "weighted" else 1.0 for m in o.models])
        return (weights @ stacked) / max(weights.sum(), 1e-12)

    def process(self, batch: pa.Table) -> pa.Table:
        o = self.options
        scores = self.model_scores([t or "" for t in batch.column(TEXT).to_pylist()])
        for column, values in scores.items():
            batch = with_column(batch, column, pa.array(values, pa.float64()))
        final = next(iter(scores.values()))
        if o.combine is not None:
            final = self.combined(scores)
            batch = with_column(batch, o.combined_column, pa.array(final, pa.float64()))
        if o.min_score is None:
            return batch
        reason = self.reason("low_score")
        low = [reason if score < o.min_score else None for score in final.tolist()]
        return with_reject_reasons(batch, pa.array(low, pa.string()))
