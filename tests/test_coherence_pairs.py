"""The coherence benchmark's pairs: a shuffle keeps every sentence (or paragraph) exactly once
and only changes their order; Markov counterparts match the original's length."""

from __future__ import annotations

import random
from collections import Counter

from goldpan.experiments.coherence import (
    _PARAGRAPH_BREAK,
    _SENTENCE_END,
    coherence_pairs,
    markov_counterpart,
    pair_accuracy,
    shuffled_paragraphs,
    shuffled_sentences,
    split_keeping,
)

TEXT = (
    "The river rises in the hills. It flows west for 40 km! Does it flood? "
    "Rarely, said the survey (in 2019).\n\nA second paragraph starts here. It ends here.\n"
    "A third one is short."
)


def test_splitting_keeps_every_character() -> None:
    for boundary in (_SENTENCE_END, _PARAGRAPH_BREAK):
        pieces, separators = split_keeping(TEXT, boundary)
        assert "".join(p + s for p, s in zip(pieces, [*separators, ""], strict=False)) == TEXT


def test_a_sentence_shuffle_keeps_every_sentence_exactly_once() -> None:
    sentences = Counter(s.strip() for s in split_keeping(TEXT, _SENTENCE_END)[0])
    assert len(sentences) == 7
    for seed in range(20):
        shuffled = shuffled_sentences(TEXT, random.Random(seed))
        assert shuffled is not None and shuffled != TEXT
        assert Counter(s.strip() for s in split_keeping(shuffled, _SENTENCE_END)[0]) == sentences
        assert sorted(shuffled.split()) == sorted(TEXT.split())


def test_a_paragraph_shuffle_keeps_every_paragraph_exactly_once() -> None:
    paragraphs = Counter(split_keeping(TEXT, _PARAGRAPH_BREAK)[0])
    shuffled = shuffled_paragraphs(TEXT, random.Random(1))
    assert shuffled is not None and Counter(split_keeping(shuffled, _PARAGRAPH_BREAK)[0]) \
        == paragraphs
    assert shuffled_paragraphs("One paragraph only.", random.Random(0)) is None


def test_markov_counterparts_have_the_originals_length_in_whole_words() -> None:
    pool = ["word " * 100, "tiny"]
    counterpart = markov_counterpart("x" * 42, pool, random.Random(0))
    assert counterpart is not None and 35 <= len(counterpart) <= 42
    assert not counterpart.endswith("wor")
    assert markov_counterpart("x" * 1000, pool, random.Random(0)) is None


def test_pairs_of_each_kind_and_the_accuracy_of_a_score() -> None:
    documents = [{"text": TEXT, "source": "wiki"}] * 3
    pairs = coherence_pairs(documents, ["word " * 200], per_kind=2)
    assert Counter(p.kind for p in pairs) == {"sentences": 2, "paragraphs": 2, "markov": 2}
    assert all(p.original == TEXT and p.source == "wiki" for p in pairs)
    assert pair_accuracy([3.0, 1.0, 2.0, 5.0], [1.0, 2.0, 2.0, 4.0]) == 0.625


TEN = " ".join(f"Sentence number {i} says something {i}." for i in range(10))


def test_an_interior_shuffle_keeps_the_first_and_last_sentences_in_place() -> None:
    from goldpan.experiments.coherence import interior_shuffle

    text, moved, pieces = interior_shuffle(TEN, random.Random(0))  # type: ignore[misc]
    assert pieces == 10 and 0 not in moved and 9 not in moved and moved
    assert text.startswith("Sentence number 0 ") and text.endswith("something 9.")
    assert sorted(text.split(". ")) == sorted(TEN.split(". "))


def test_a_first_swap_moves_only_the_first_sentence_and_one_other() -> None:
    from goldpan.experiments.coherence import first_swap

    text, moved, _ = first_swap(TEN, random.Random(1))  # type: ignore[misc]
    assert len(moved) == 2 and moved[0] == 0
    assert not text.startswith("Sentence number 0 ")


def test_a_short_pair_is_the_leading_sentences_within_the_limit_shuffled() -> None:
    from goldpan.experiments.coherence import short_shuffle

    original, (shuffled, moved, pieces) = short_shuffle(TEN, random.Random(0), 120)  # type: ignore[misc]
    assert len(original) <= 120 and TEN.startswith(original) and pieces == 3
    def sentences(text: str) -> list[str]:
        return sorted(piece.rstrip(".") for piece in text.split(". "))

    assert sentences(shuffled) == sentences(original) and moved


def test_probes_come_after_the_standard_pairs_which_stay_the_same() -> None:
    from goldpan.experiments.coherence import accuracy_by_position

    documents = [{"text": TEN.replace("number", word), "source": "s"}
                 for word in ("one", "two", "three", "four")]
    standard = coherence_pairs(documents, ["word " * 400], per_kind=2)
    probed = coherence_pairs(documents, ["word " * 400], per_kind=2, probes=True)
    assert probed[: len(standard)] == standard
    assert {p.kind for p in probed[len(standard):]} == {"interior", "first_swap", "short"}
    split = accuracy_by_position(probed, [1.0] * len(probed), [0.0] * len(probed))
    assert split["first moved"][0] == 1.0 and split["first in place"][1] > 0
