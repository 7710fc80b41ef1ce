"""Vectorised 64-bit hashing of words, n-grams and signature rows, shared by the repetition
filter, MinHash and decontamination."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import xxhash

MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # an odd constant with well-mixed bits


@lru_cache(maxsize=500_000)
def word_hash(word: str) -> int:
    """A stable 64-bit hash of a word (the same in every process and run)."""
    return xxhash.xxh3_64_intdigest(word.encode("utf-8", "surrogatepass"))


def word_hashes(words: list[str]) -> np.ndarray:
    return np.fromiter(map(word_hash, words), dtype=np.uint64, count=len(words))


def ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """A 64-bit hash of every n-gram of a sequence of 64-bit values, all positions at once."""
    count = len(ids) - n + 1
    if count <= 0:
        return np.empty(0, dtype=np.uint64)
    hashes = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(n):
            hashes = hashes * MULTIPLIER + ids[offset : offset + count]
    return hashes


def row_hashes(matrix: np.ndarray) -> np.ndarray:
    """A 64-bit hash of every row of an integer matrix (an LSH band of a signature)."""
    hashes = np.zeros(matrix.shape[0], dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in range(matrix.shape[1]):
            hashes = (hashes ^ matrix[:, column].astype(np.uint64)) * MULTIPLIER
    return hashes
