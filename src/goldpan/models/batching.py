"""Packing and padding token sequences into rectangular batches: the helpers every model
step uses (``lm_score``, ``classify``)."""

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


def length_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Indices grouped for batched forward passes: sorted by length, so that rows of a batch
    need little padding, and packed while the padded size (rows x longest) stays within
    ``budget`` tokens (a longer row than the budget goes alone)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = lengths[index]  # the longest so far, since sorted
        if current and width * (len(current) + 1) > budget:
            groups.append(current)
            current = []
        current.append(index)
    if current:
        groups.append(current)
    return groups
