"""``length_filter``: drop documents outside character and word-count bounds."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from goldpan.data.lengths import word_counts
from goldpan.data.schema import TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_reject_reasons


class LengthOptions(StepOptions):
    min_chars: int | None = Field(None, ge=0, description="Fewer characters: reject as min_chars.")
    max_chars: int | None = Field(None, ge=0, description="More characters: reject as max_chars.")
    min_words: int | None = Field(None, ge=0, description="Fewer words: reject as min_words.")
    max_words: int | None = Field(None, ge=0, description="More words: reject as max_words.")

    @model_validator(mode="after")
    def _bounds_in_order(self) -> LengthOptions:
        for low, high in (("min_chars", "max_chars"), ("min_words", "max_words")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{low} ({lo}) is larger than {high} ({hi})")
        return self


@register_step
class LengthFilter(MapStep[LengthOptions]):
    """Keep documents whose character and word counts lie within the given bounds."""

    name = "length_filter"
    text_side = "answer"

    def process(self, batch: pa.Table) -> pa.Table:
        options = self.options
        text = batch.column(TEXT)
        reasons = np.full(batch.num_rows, None, dtype=object)
        free = np.ones(batch.num_rows, dtype=bool)  # no rule has rejected the record yet
        if options.min_chars is not None or options.max_chars is not None:
            chars = pc.utf8_length(text).to_numpy(zero_copy_only=False)
            self._mark(reasons, free, chars, options.min_chars, options.max_chars, "chars")
        if options.min_words is not None or options.max_words is not None:
            self._mark(reasons, free, word_counts(text), options.min_words, options.max_words,
                       "words")
        return with_reject_reasons(batch, pa.array(reasons, pa.string()))

    def _mark(self, reasons: np.ndarray, free: np.ndarray, values: np.ndarray, low: int | None,
              high: int | None, unit: str) -> None:
        for bound, outside, rule in ((low, np.less, "min"), (high, np.greater, "max")):
            if bound is not None:
                hit = free & outside(values, bound)
                reasons[hit] = self.reason(f"{rule}_{unit}")
                free &= ~hit
