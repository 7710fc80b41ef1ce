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
from collections.abc import Sequence
from dataclasses import dataclass

# A sentence ends at ., ! or ? (closing quotes and brackets included) followed by whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n|\n")


@dataclass(frozen=True)
class Pair:
    kind: str  # sentences, paragraphs or markov
    source: str
    original: str
    corrupted: str


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


def _shuffled(text: str, boundary: re.Pattern[str], rng: random.Random) -> str | None:
    """The pieces in another order, the separators where they were; None when the text has
    fewer than three pieces (too little to disorder) or every order equals the original."""
    pieces, separators = split_keeping(text, boundary)
    if len(pieces) < 3 or len(set(pieces)) < 2:
        return None
    order = pieces[:]
    while order == pieces:
        rng.shuffle(order)
    return "".join(p + s for p, s in zip(order, [*separators, ""], strict=False))


def shuffled_sentences(text: str, rng: random.Random) -> str | None:
    return _shuffled(text, _SENTENCE_END, rng)


def shuffled_paragraphs(text: str, rng: random.Random) -> str | None:
    return _shuffled(text, _PARAGRAPH_BREAK, rng)


def markov_counterpart(text: str, markov_texts: Sequence[str], rng: random.Random) -> str | None:
    """Markov-chain text of about the original's length (whole words), from the pool."""
    pool = [t for t in markov_texts if len(t) >= len(text)]
    if not pool:
        return None
    chosen = rng.choice(pool)
    cut = chosen[: len(text)]
    return cut[: cut.rfind(" ")] if " " in cut else cut


def coherence_pairs(
    documents: Sequence[dict[str, str]], markov_texts: Sequence[str], per_kind: int, seed: int = 0
) -> list[Pair]:
    """Up to ``per_kind`` pairs of each kind from ``documents`` (text, source), in order."""
    rng = random.Random(seed)
    builders = {
        "sentences": lambda text: shuffled_sentences(text, rng),
        "paragraphs": lambda text: shuffled_paragraphs(text, rng),
        "markov": lambda text: markov_counterpart(text, markov_texts, rng),
    }
    pairs: list[Pair] = []
    for kind, build in builders.items():
        made = 0
        for document in documents:
            if made >= per_kind:
                break
            corrupted = build(document["text"])
            if corrupted is not None and corrupted != document["text"]:
                pairs.append(Pair(kind, document["source"], document["text"], corrupted))
                made += 1
    return pairs


def pair_accuracy(original: Sequence[float], corrupted: Sequence[float]) -> float:
    """Share of pairs whose original scores higher (ties half); higher score = more coherent,
    so pass minus a loss."""
    if not original:
        return float("nan")
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0
               for a, b in zip(original, corrupted, strict=True))
    return wins / len(original)
