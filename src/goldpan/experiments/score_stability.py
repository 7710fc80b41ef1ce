"""How much a score's selection depends on the seed its scorers were trained with (issue 34).

Two scorer pairs trained alike but for the seed each give every document an S; a selection
keeps the top share of documents by S. ``top_overlap`` is the share of one selection's
documents that the other keeps too (1: the seed does not matter; the keep share itself: no
better than two random selections). Averaging S over k seeds (``train-scorers --set
members=K``) should raise it, if the seeds' disagreement is noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np


def top_set(scores: Sequence[float], share: float) -> set[int]:
    """Indices of the top ``share`` of documents by score (ties broken by position)."""
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    count = max(1, round(len(scores) * share))
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    return {int(i) for i in order[:count]}


def top_overlap(first: Sequence[float], second: Sequence[float], share: float = 0.3) -> float:
    """Share of the first score's top documents that the second score keeps too."""
    if len(first) != len(second):
        raise ValueError("the scores must cover the same documents")
    kept = top_set(first, share)
    return len(kept & top_set(second, share)) / len(kept)


def pairwise_overlaps(scores: Sequence[Sequence[float]], share: float = 0.3) -> list[float]:
    """``top_overlap`` of every pair of seeds' scores."""
    return [top_overlap(a, b, share) for a, b in combinations(scores, 2)]
