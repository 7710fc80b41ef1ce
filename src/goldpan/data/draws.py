"""A seeded, reproducible number per record id: the draws behind ``sample``, ``select``'s tie
breaks, ``mix`` and ``llm_judge``'s fractions, the same on every executor and in every batch."""

from __future__ import annotations

import numpy as np
import xxhash


def uniform_from_ids(ids: list[str], seed: int) -> np.ndarray:
    """A deterministic number in [0, 1) per id."""
    hashes = np.fromiter(
        (xxhash.xxh3_64_intdigest(i.encode(), seed=seed) for i in ids), np.uint64, count=len(ids)
    )
    return (hashes >> np.uint64(11)).astype(np.float64) / float(1 << 53)
