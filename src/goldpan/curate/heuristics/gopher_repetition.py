"""``gopher_repetition``: the repetition rules of Gopher (Rae et al. 2021, Table A1).

    duplicate line fraction                 0.30
    duplicate paragraph fraction            0.30
    duplicate line character fraction       0.20
    duplicate paragraph character fraction  0.20
    top 2-gram character fraction           0.20
    top 3-gram character fraction           0.18
    top 4-gram character fraction           0.16
    duplicate 5-gram character fraction     0.15
    duplicate 6-gram character fraction     0.14
    duplicate 7-gram character fraction     0.13
    duplicate 8-gram character fraction     0.12
    duplicate 9-gram character fraction     0.11
    duplicate 10-gram character fraction    0.10

Fractions are of the document's characters. Paragraphs are separated by two or more newlines,
lines by one or more. Duplicated n-grams are counted without overlap: after a repeated n-gram
the scan moves on by n words, as in the reference implementation.
"""

from __future__ import annotations

import re

import numpy as np
from pydantic import Field

from goldpan.curate.hashing import ngram_hashes
from goldpan.curate.heuristics.base import DocumentFilter
from goldpan.curate.text import duplicates, split_words
from goldpan.engine.registry import register_step
from goldpan.engine.step import StepOptions

_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")


class GopherRepetitionOptions(StepOptions):
    dup_line_frac: float | None = Field(0.30, description="Share of lines that are repeats.")
    dup_para_frac: float | None = Field(0.30, description="Share of paragraphs that are repeats.")
    dup_line_char_frac: float | None = Field(0.20, description="Characters in repeated lines.")
    dup_para_char_frac: float | None = Field(0.20, description="Characters in repeated paragraphs.")
    top_ngram_char_frac: dict[int, float] = Field(
        {2: 0.20, 3: 0.18, 4: 0.16}, description="n -> max characters of the top n-gram."
    )
    dup_ngram_char_frac: dict[int, float] = Field(
        {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10},
        description="n -> max characters in repeated n-grams.",
    )


def top_ngram_chars(ids: np.ndarray, prefix: np.ndarray, n: int) -> int:
    """Characters of the most frequent n-gram (words joined by single spaces) times its count;
    ties go to the n-gram seen first, as ``Counter.most_common`` does."""
    hashes = ngram_hashes(ids, n)
    if not len(hashes):
        return 0
    _, first, counts = np.unique(hashes, return_index=True, return_counts=True)
    best = counts.max()
    start = int(first[counts == best].min())
    return int(prefix[start + n] - prefix[start] + n - 1) * int(best)


def duplicated_ngram_chars(ids: np.ndarray, prefix: np.ndarray, n: int) -> int:
    """Characters (words concatenated) inside n-grams that repeat an earlier n-gram; after a
    repeat the scan moves on by n words, so repeats never overlap."""
    hashes = ngram_hashes(ids, n)
    if not len(hashes):
        return 0
    unique, classes = np.unique(hashes, return_inverse=True)
    if len(unique) == len(hashes):  # no n-gram occurs twice: nothing to scan
        return 0
    seen = bytearray(len(unique))
    chars, index, last = 0, 0, len(hashes)
    classes_list = classes.tolist()
    while index < last:
        gram = classes_list[index]
        if seen[gram]:
            chars += int(prefix[index + n] - prefix[index])
            index += n
        else:
            seen[gram] = 1
            index += 1
    return chars


@register_step
class GopherRepetition(DocumentFilter[GopherRepetitionOptions]):
    """Gopher's repetition rules: repeated lines, paragraphs and n-grams."""

    name = "gopher_repetition"
    text_side = "answer"

    def broken_rule(self, text: str) -> str | None:
        o = self.options
        if not text:
            return "empty"
        size = len(text)
        paragraphs = _PARAGRAPHS.split(text.strip())
        repeated, chars = duplicates(paragraphs)
        if o.dup_para_frac is not None and repeated / len(paragraphs) > o.dup_para_frac:
            return "dup_para_frac"
        if o.dup_para_char_frac is not None and chars / size > o.dup_para_char_frac:
            return "dup_para_char_frac"
        lines = _LINES.split(text)
        repeated, chars = duplicates(lines)
        if o.dup_line_frac is not None and repeated / len(lines) > o.dup_line_frac:
            return "dup_line_frac"
        if o.dup_line_char_frac is not None and chars / size > o.dup_line_char_frac:
            return "dup_line_char_frac"
        words = split_words(text)
        vocabulary: dict[str, int] = {}
        ids = np.fromiter(
            (vocabulary.setdefault(w, len(vocabulary) + 1) for w in words),
            dtype=np.uint64,
            count=len(words),
        )
        prefix = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, words), dtype=np.int64, count=len(words)), out=prefix[1:])
        for n, limit in sorted(o.top_ngram_char_frac.items()):
            if top_ngram_chars(ids, prefix, n) / size > limit:
                return f"top_{n}_gram"
        for n, limit in sorted(o.dup_ngram_char_frac.items()):
            if duplicated_ngram_chars(ids, prefix, n) / size > limit:
                return f"duplicated_{n}_gram"
        return None
