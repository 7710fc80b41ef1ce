"""Padding token sequences into rectangular batches: the one helper every model step uses."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def pad_right(rows: Sequence[Sequence[int]], fill: int, width: int | None = None) -> np.ndarray:
    """Rows of token ids as one int64 matrix, each row left-aligned and padded with ``fill``."""
    width = width if width is not None else max((len(row) for row in rows), default=0)
    matrix = np.full((len(rows), width), fill, dtype=np.int64)
    for index, row in enumerate(rows):
        matrix[index, : len(row)] = row
    return matrix


def attention_mask(rows: Sequence[Sequence[int]], width: int | None = None) -> np.ndarray:
    """1 over each row's tokens, 0 over its padding."""
    width = width if width is not None else max((len(row) for row in rows), default=0)
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
    return (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
