"""``line_dedup``: remove boilerplate lines, as CCNet does (Wenzek et al. 2020, Section 3.1).

Lines are normalised (lower case, digits to 0, punctuation and symbols removed, whitespace
collapsed) and hashed. A line whose normalised hash occurs more than ``max_count`` times in the
whole corpus is boilerplate (menus, cookie notices, signatures, licence headers): its first
occurrence in input order stays, the others are cut. A document left with no text is rejected
as ``line_dedup:empty``; ``lines_removed`` counts the cuts.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import regex
from pydantic import Field

from goldpan.curate.hashing import word_hash
from goldpan.data.schema import ID, TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import (
    FitContext,
    GlobalStep,
    StepOptions,
    with_column,
    with_reject_reasons,
    with_texts,
)

_DIGITS = regex.compile(r"\d")
_PUNCTUATION = regex.compile(r"[\p{P}\p{S}]+")
_SPACES = regex.compile(r"\s+")


class LineDedupOptions(StepOptions):
    max_count: int = Field(
        1, ge=1, description="A line seen more often than this is cut after its first occurrence."
    )
    min_chars: int = Field(
        1, ge=1, description="Lines shorter than this once normalised are never cut."
    )


def normalize_line(line: str) -> str:
    line = _DIGITS.sub("0", line.lower())
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", line)).strip()


def line_hashes(text: str, min_chars: int) -> list[int]:
    """One hash per line of the text; 0 for a line too short to count."""
    hashes = []
    for line in text.split("\n"):
        normal = normalize_line(line)
        counted = len(normal) >= min_chars
        hashes.append((word_hash(normal) or 1) if counted else 0)
    return hashes


@register_step
class LineDedup(GlobalStep[LineDedupOptions]):
    """Cut lines repeated across the corpus (boilerplate), keeping their first occurrence."""

    name = "line_dedup"
    text_side = "prompt"
    rewrites_text = True

    def fit_part(
        self, batch: pa.Table, part_index: int, context: FitContext
    ) -> tuple[np.ndarray, np.ndarray, list]:
        min_chars = self.options.min_chars
        hashes: list[int] = []
        owners: list[int] = []
        for row, text in enumerate(batch.column(TEXT).to_pylist()):
            for number, value in enumerate(line_hashes(text, min_chars)):
                if value:
                    hashes.append(value)
                    owners.append(row << 20 | min(number, (1 << 20) - 1))
        return (
            np.array(hashes, dtype=np.uint64),
            np.array(owners, dtype=np.int64),
            batch.column(ID).to_pylist(),
        )

    def merge(
        self, summaries: Sequence[tuple[np.ndarray, np.ndarray, list]], context: FitContext
    ) -> dict:
        """Frequent hashes with the (record id, line number) of their first occurrence."""
        if not summaries:
            return {}
        values = np.concatenate([s[0] for s in summaries])
        if not len(values):
            return {}
        parts = np.concatenate(
            [np.full(len(s[0]), i, dtype=np.int64) for i, s in enumerate(summaries)]
        )
        owners = np.concatenate([s[1] for s in summaries])
        unique, first, counts = np.unique(values, return_index=True, return_counts=True)
        frequent = counts > self.options.max_count
        state = {}
        for value, index in zip(unique[frequent].tolist(), first[frequent].tolist(), strict=True):
            ids = summaries[parts[index]][2]
            owner = int(owners[index])
            state[value] = (ids[owner >> 20], owner & ((1 << 20) - 1))
        return state

    def apply(self, batch: pa.Table, state: dict) -> pa.Table:
        min_chars = self.options.min_chars
        texts, removed, reasons = [], [], []
        for record_id, text in zip(
            batch.column(ID).to_pylist(), batch.column(TEXT).to_pylist(), strict=True
        ):
            lines = text.split("\n")
            kept = []
            for number, (line, value) in enumerate(
                zip(lines, line_hashes(text, min_chars), strict=True)
            ):
                first = state.get(value) if value else None
                if first is None or first == (record_id, min(number, (1 << 20) - 1)):
                    kept.append(line)
            cleaned = "\n".join(kept).strip("\n")
            texts.append(cleaned if cleaned.strip() else text)
            removed.append(len(lines) - len(kept))
            reasons.append(None if cleaned.strip() else self.reason("empty"))
        batch = with_texts(batch, texts)
        batch = with_column(batch, "lines_removed", pa.array(removed, pa.int32()))
        return with_reject_reasons(batch, reasons)
