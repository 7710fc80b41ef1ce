"""``exact_dedup``: one record per distinct normalised text.

A global step. The fit phase hashes each part (64-bit xxh3 of the text after case folding and
whitespace collapsing) and remembers the first occurrence of each hash; the merge keeps, for
every hash, the occurrence that comes first in input order (part, then row), so the kept record
is the same on every executor and every run. The apply phase rejects the others and says which
record they duplicate."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import xxhash
from pydantic import Field

from goldpan.data.schema import ID, TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import (
    FitContext,
    GlobalStep,
    StepOptions,
    with_column,
    with_reject_reasons,
)

_SPACES = re.compile(r"\s+")


class ExactDedupOptions(StepOptions):
    normalize: bool = Field(True, description="Case-fold and collapse whitespace before hashing.")
    keep: Literal["first", "longest"] = Field(
        "first", description="Which copy survives: first in input order, or the longest text."
    )


def normalized(text: str) -> str:
    return _SPACES.sub(" ", text.casefold()).strip()


def text_hashes(texts: list[str], normalize: bool) -> np.ndarray:
    prepare = normalized if normalize else (lambda t: t)
    return np.fromiter(
        (xxhash.xxh3_64_intdigest(prepare(t).encode()) for t in texts), np.uint64, count=len(texts)
    )


@register_step
class ExactDedup(GlobalStep[ExactDedupOptions]):
    """Remove exact duplicates (after optional normalisation), keeping one copy of each."""

    name = "exact_dedup"
    text_side = "prompt"

    def _rank(self, length: int, part_index: int, row: int) -> tuple[int, int, int]:
        """Smaller ranks win: input order, or longest first (then input order)."""
        longest_first = -length if self.options.keep == "longest" else 0
        return (longest_first, part_index, row)

    def fit_part(
        self, batch: pa.Table, part_index: int, context: FitContext
    ) -> dict[int, tuple[tuple, str]]:
        texts = batch.column(TEXT).to_pylist()
        ids = batch.column(ID).to_pylist()
        hashes = text_hashes(texts, self.options.normalize)
        best: dict[int, tuple[tuple, str]] = {}
        for row, (value, record_id, text) in enumerate(
            zip(hashes.tolist(), ids, texts, strict=True)
        ):
            candidate = (self._rank(len(text), part_index, row), record_id)
            current = best.get(value)
            if current is None or candidate[0] < current[0]:
                best[value] = candidate
        return best

    def merge(
        self, summaries: Sequence[dict[int, tuple[tuple, str]]], context: FitContext
    ) -> dict[int, str]:
        best: dict[int, tuple[tuple, str]] = {}
        for summary in summaries:
            for value, candidate in summary.items():
                current = best.get(value)
                if current is None or candidate[0] < current[0]:
                    best[value] = candidate
        return {value: record_id for value, (_, record_id) in best.items()}

    def apply(self, batch: pa.Table, state: dict[int, str]) -> pa.Table:
        texts = batch.column(TEXT).to_pylist()
        ids = batch.column(ID).to_pylist()
        hashes = text_hashes(texts, self.options.normalize)
        duplicate_of: list[Any] = []
        reasons: list[str | None] = []
        for value, record_id in zip(hashes.tolist(), ids, strict=True):
            keeper = state[value]
            if keeper == record_id:
                duplicate_of.append(None)
                reasons.append(None)
            else:
                duplicate_of.append(keeper)
                reasons.append(self.reason("duplicate"))
        batch = with_column(batch, "reject_duplicate_of", pa.array(duplicate_of, pa.string()))
        return with_reject_reasons(batch, reasons)
