"""How long records are: words of a text column (Arrow's kernels), tokens where counted."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from goldpan.data.schema import TEXT


def arrow_words(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Whitespace-separated words of every text, split in Arrow's C++ kernels (no empty words:
    Arrow's splitter yields "" for an empty text and at the ends, so texts are trimmed and
    empty ones made null first)."""
    trimmed = pc.utf8_trim_whitespace(texts)
    trimmed = pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, trimmed.type), trimmed)
    words = pc.utf8_split_whitespace(trimmed)
    return words.combine_chunks() if isinstance(words, pa.ChunkedArray) else words


def word_counts(text: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Whitespace-separated words per document, computed in Arrow's C++ kernels."""
    return pc.fill_null(pc.list_value_length(arrow_words(text)), 0).to_numpy(zero_copy_only=False)


def token_counts(batch: pa.Table, column: str) -> np.ndarray:
    """Tokens per record from a token-count column, or its words where there is none."""
    if column in batch.column_names:
        return pc.fill_null(batch.column(column), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    return word_counts(batch.column(TEXT)).astype(np.int64)
