"""Coherence pairs: a document against a less coherent version of itself (issue 18).

A quality score that tracks coherence should prefer the original to the same document with its
sentences shuffled, with its paragraphs shuffled, or to Markov-chain text of the same length
(fluent locally, incoherent globally). Each pair keeps the words and differs only in order
(shuffles) or in meaning (Markov), so topic and vocabulary cannot decide it. ``pair_accuracy``
is the share of pairs a score orders the right way (ties count half): 0.5 is chance.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# A sentence ends at ., ! or ? (closing quotes and brackets included) followed by whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\n")


@dataclass(frozen=True)
class Pair:
    kind: str  # sentences, paragraphs, markov, or a probe: interior, first_swap, short
    source: str
    original: str
    corrupted: str
    moved: tuple[int, ...] = ()  # original positions of the pieces that changed place
    pieces: int = 0  # sentences (or paragraphs) in the original


# Probes of what drives a scorer's preference (issue 34): which sentences move, and whether the
# pair fits one scoring window.
PROBES = ("interior", "first_swap", "short")


def split_keeping(text: str, boundary: re.Pattern[str]) -> tuple[list[str], list[str]]:
    """The pieces between the boundaries and the boundaries themselves, so that
    ``pieces[0] + seps[0] + pieces[1] + ...`` is the text again, character for character."""
    pieces: list[str] = []
    separators: list[str] = []
    start = 0
    for match in boundary.finditer(text):
        if match.start() == start:  # a boundary right after another: part of the separator
            if separators:
                separators[-1] += match.group(0)
            start = match.end()
            continue
        pieces.append(text[start : match.start()])
        separators.append(match.group(0))
        start = match.end()
    pieces.append(text[start:])
    if pieces[-1] == "" and separators:
        pieces.pop()
        separators.pop()
    return pieces, separators


Reordered = tuple[str, tuple[int, ...], int]  # text, moved positions, pieces


def _reordered(pieces: list[str], separators: list[str], order: list[int]) -> Reordered:
    text = "".join(pieces[i] + s for i, s in zip(order, [*separators, ""], strict=False))
    moved = tuple(position for position, i in enumerate(order) if i != position)
    return text, moved, len(pieces)


def _shuffled(text: str, boundary: re.Pattern[str], rng: random.Random,
              fixed_ends: bool = False) -> Reordered | None:
    """The pieces in another order, the separators where they were (with ``fixed_ends`` the
    first and last stay); None when there is too little to disorder."""
    pieces, separators = split_keeping(text, boundary)
    inner = range(1, len(pieces) - 1) if fixed_ends else range(len(pieces))
    if len(inner) < (2 if fixed_ends else 3) or len({pieces[i] for i in inner}) < 2:
        return None
    order = list(range(len(pieces)))
    while [pieces[i] for i in order] == pieces:
        middle = [order[i] for i in inner]
        rng.shuffle(middle)
        for position, i in zip(inner, middle, strict=True):
            order[position] = i
    return _reordered(pieces, separators, order)


def shuffled_sentences(text: str, rng: random.Random) -> str | None:
    shuffled = _shuffled(text, _SENTENCE_END, rng)
    return shuffled[0] if shuffled else None


def shuffled_paragraphs(text: str, rng: random.Random) -> str | None:
    shuffled = _shuffled(text, _PARAGRAPH_BREAK, rng)
    return shuffled[0] if shuffled else None


def interior_shuffle(text: str, rng: random.Random) -> Reordered | None:
    """The sentences between the first and the last shuffled; both ends stay in place."""
    return _shuffled(text, _SENTENCE_END, rng, fixed_ends=True)


def first_swap(text: str, rng: random.Random) -> Reordered | None:
    """The first sentence swapped with one later sentence; every other stays in place."""
    pieces, separators = split_keeping(text, _SENTENCE_END)
    later = [i for i in range(1, len(pieces)) if pieces[i] != pieces[0]]
    if len(pieces) < 3 or not later:
        return None
    other = rng.choice(later)
    order = list(range(len(pieces)))
    order[0], order[other] = other, 0
    return _reordered(pieces, separators, order)


def leading_sentences(text: str, characters: int) -> str:
    """The document's leading whole sentences that fit in ``characters``."""
    pieces, separators = split_keeping(text, _SENTENCE_END)
    short = pieces[0] if len(pieces[0]) <= characters else ""
    for piece, separator in zip(pieces[1:], separators, strict=False):
        if len(short) + len(separator) + len(piece) > characters:
            break
        short += separator + piece
    return short


def short_shuffle(text: str, rng: random.Random,
                  characters: int = 350) -> tuple[str, Reordered] | None:
    """The document's leading sentences that fit in ``characters`` (short enough for one
    scoring window of 128 tokens), and their shuffle: (the short original, its shuffle)."""
    short = leading_sentences(text, characters)
    shuffled = _shuffled(short, _SENTENCE_END, rng) if short else None
    return (short, shuffled) if shuffled else None


def markov_counterpart(text: str, markov_texts: Sequence[str], rng: random.Random) -> str | None:
    """Markov-chain text of about the original's length (whole words), from the pool."""
    pool = [t for t in markov_texts if len(t) >= len(text)]
    if not pool:
        return None
    chosen = rng.choice(pool)
    cut = chosen[: len(text)]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def coherence_pairs(
    documents: Sequence[dict[str, str]], markov_texts: Sequence[str], per_kind: int, seed: int = 0,
    probes: bool = False,
) -> list[Pair]:
    """Up to ``per_kind`` pairs of each kind from ``documents`` (text, source), in order; with
    ``probes`` also the probe kinds, drawn after the others so that those stay the same."""
    rng = random.Random(seed)
    builders: dict[str, Callable[[str], tuple[str, Reordered] | None]] = {
        "sentences": lambda text: _whole(text, _shuffled(text, _SENTENCE_END, rng)),
        "paragraphs": lambda text: _whole(text, _shuffled(text, _PARAGRAPH_BREAK, rng)),
        "markov": lambda text: _whole(text, _as_reordered(
            markov_counterpart(text, markov_texts, rng))),
    }
    if probes:
        builders |= {
            "interior": lambda text: _whole(text, interior_shuffle(text, rng)),
            "first_swap": lambda text: _whole(text, first_swap(text, rng)),
            "short": lambda text: short_shuffle(text, rng),
        }
    pairs: list[Pair] = []
    for kind, build in builders.items():
        made = 0
        for document in documents:
            if made >= per_kind:
                break
            built = build(document["text"])
            if built is None:
                continue
            original, (corrupted, moved, pieces) = built
            if corrupted != original:
                pairs.append(Pair(kind, document["source"], original, corrupted, moved, pieces))
                made += 1
    return pairs


def _whole(text: str, reordered: Reordered | None) -> tuple[str, Reordered] | None:
    return (text, reordered) if reordered else None


def _as_reordered(text: str | None) -> Reordered | None:
    return (text, (), 0) if text is not None else None


def accuracy_by_position(pairs: Sequence[Pair], original: Sequence[float],
                         corrupted: Sequence[float]) -> dict[str, tuple[float, int]]:
    """Pair accuracy of reorderings split by whether the first or the last sentence moved:
    (accuracy, pairs) per group."""
    groups: dict[str, list[int]] = {}
    for index, pair in enumerate(pairs):
        if not pair.pieces:
            continue
        first = "first moved" if 0 in pair.moved else "first in place"
        last = "last moved" if pair.pieces - 1 in pair.moved else "last in place"
        for name in (first, last):
            groups.setdefault(name, []).append(index)
    return {name: (pair_accuracy([original[i] for i in index], [corrupted[i] for i in index]),
                   len(index)) for name, index in sorted(groups.items())}


def pair_accuracy(original: Sequence[float], corrupted: Sequence[float]) -> float:
    """Share of pairs whose original scores higher (ties half); higher score = more coherent,
    so pass minus a loss."""
    if not original:
        return float("nan")
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0
               for a, b in zip(original, corrupted, strict=True))
    return wins / len(original)
