"""ROUGE-L against a growing pool of instructions, fast enough for tens of thousands.

Self-Instruct keeps a new instruction only if its ROUGE-L F-measure against every instruction
already in the pool is at most 0.7. Done naively (``rouge_score`` against each pool member)
that is quadratic in Python. Here each pool member's tokens sit in an inverted index, so one
vectorised pass gives, for every member, the size of its token-multiset overlap with the
candidate: an upper bound on their longest common subsequence, hence on F = 2 LCS / (m + n).
Only members whose bound exceeds the threshold get the exact LCS (bit-parallel, Hyyro 2004),
and F is computed with ``rouge_score``'s own formula, so decisions are the same as the
reference implementation's.

Tokens follow ``rouge_score``'s default tokenizer without stemming: lower-case, every run of
characters other than a-z and 0-9 is a separator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's tokenisation (``tokenize.tokenize`` with no stemmer)."""
    return [t for t in _NON_ALNUM.sub(" ", text.lower()).split() if t]


def lcs_length(left: list[int], right: list[int]) -> int:
    """Longest common subsequence by the bit-parallel algorithm: one big-integer step per
    token of ``right``, each over len(left) bits."""
    if not left or not right:
        return 0
    masks: dict[int, int] = {}
    for position, token in enumerate(left):
        masks[token] = masks.get(token, 0) | (1 << position)
    full = (1 << len(left)) - 1
    row = full
    for token in right:
        match = row & masks.get(token, 0)
        row = ((row + match) | (row - match)) & full
    return len(left) - bin(row).count("1")


def f_measure(lcs: int, target_length: int, prediction_length: int) -> float:
    """rouge_score's F: precision lcs/prediction, recall lcs/target, harmonic mean."""
    if not target_length or not prediction_length:
        return 0.0
    precision, recall = lcs / prediction_length, lcs / target_length
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


@dataclass
class _Postings:
    """The pool members holding one token, with its count in each (grown by doubling)."""

    members: np.ndarray = field(default_factory=lambda: np.empty(4, dtype=np.int64))
    counts: np.ndarray = field(default_factory=lambda: np.empty(4, dtype=np.int32))
    size: int = 0

    def add(self, member: int, count: int) -> None:
        if self.size == len(self.members):
            self.members = np.resize(self.members, 2 * self.size)
            self.counts = np.resize(self.counts, 2 * self.size)
        self.members[self.size] = member
        self.counts[self.size] = count
        self.size += 1


class RougeLPool:
    """The instructions seen so far, answering "is this one too close to any of them?"."""

    def __init__(self, texts: list[str] | None = None) -> None:
        self.texts: list[str] = []
        self._tokens: list[list[int]] = []
        self._lengths = np.empty(16, dtype=np.int64)
        self._vocabulary: dict[str, int] = {}
        self._postings: list[_Postings] = []
        for text in texts or []:
            self.add(text)

    def __len__(self) -> int:
        return len(self.texts)

    def _ids(self, text: str, grow: bool) -> list[int]:
        ids = []
        for token in rouge_tokens(text):
            index = self._vocabulary.get(token)
            if index is None:
                if not grow:
                    index = -1  # unseen: matches nothing in the pool
                else:
                    index = self._vocabulary[token] = len(self._postings)
                    self._postings.append(_Postings())
            ids.append(index)
        return ids

    def add(self, text: str) -> None:
        member = len(self.texts)
        ids = self._ids(text, grow=True)
        self.texts.append(text)
        self._tokens.append(ids)
        if member == len(self._lengths):
            self._lengths = np.resize(self._lengths, 2 * member)
        self._lengths[member] = len(ids)
        for token, count in zip(*np.unique(ids, return_counts=True), strict=True) if ids else ():
            self._postings[int(token)].add(member, int(count))

    def scores_above(self, text: str, threshold: float) -> list[tuple[int, float]]:
        """(member, F) for every pool member whose ROUGE-L F with ``text`` exceeds
        ``threshold``, exactly as ``rouge_score`` computes F (``text`` as the target)."""
        ids = self._ids(text, grow=False)
        size = len(self.texts)
        if not ids or not size:
            return []
        overlap = np.zeros(size, dtype=np.int64)
        tokens, counts = np.unique(ids, return_counts=True)
        for token, count in zip(tokens.tolist(), counts.tolist(), strict=True):
            if token < 0:
                continue
            postings = self._postings[token]
            members = postings.members[: postings.size]
            overlap[members] += np.minimum(postings.counts[: postings.size], count)
        bound = 2 * overlap / (len(ids) + self._lengths[:size])
        # A small slack keeps float rounding in the bound from hiding a true exceedance.
        result = []
        for member in np.flatnonzero(bound > threshold - 1e-9).tolist():
            other = self._tokens[member]
            score = f_measure(lcs_length(ids, other), len(ids), len(other))
            if score > threshold:
                result.append((member, score))
        return result

    def max_score(self, text: str) -> tuple[float, int | None]:
        """The highest F against any member (exhaustive: for reporting, not for the filter)."""
        best, best_member = 0.0, None
        ids = self._ids(text, grow=False)
        for member, other in enumerate(self._tokens):
            score = f_measure(lcs_length(ids, other), len(ids), len(other))
            if score > best:
                best, best_member = score, member
        return best, best_member

    def too_similar(self, text: str, threshold: float = 0.7) -> tuple[int, float] | None:
        """The most similar member above ``threshold``, or None when ``text`` is novel."""
        found = self.scores_above(text, threshold)
        return max(found, key=lambda item: item[1]) if found else None
