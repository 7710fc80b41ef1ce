"""Gopher quality and repetition rules on real text, on both sides of every threshold."""

from __future__ import annotations

import statistics

import pytest

from goldpan.curate.heuristics.gopher_quality import GopherQuality
from goldpan.curate.heuristics.gopher_repetition import GopherRepetition
from goldpan.curate.text import is_symbol, split_words
from tests.realtext import (
    article,
    article_with_sentences,
    news_articles,
    python_source,
    reason,
    sentences,
    wikipedia_titles,
)

ALL_OFF = {
    "min_words": None,
    "max_words": None,
    "min_mean_word_length": None,
    "max_mean_word_length": None,
    "max_symbol_word_ratio": None,
    "max_bullet_lines_ratio": None,
    "max_ellipsis_lines_ratio": None,
    "min_alpha_words_ratio": None,
    "min_stop_words": None,
}


def only(**options) -> GopherQuality:
    """The quality filter with every rule off except the given ones."""
    return GopherQuality(GopherQuality.Options(**{**ALL_OFF, **options}))


def test_ordinary_news_articles_pass_every_published_rule() -> None:
    step = GopherQuality()
    kept = [reason(step, text) for text in news_articles()[:50]]
    assert kept.count(None) >= 45


def test_word_count_bounds() -> None:
    text = article(0)
    words = [w for w in split_words(text) if not is_symbol(w)]
    assert reason(only(min_words=len(words)), text) is None
    assert reason(only(min_words=len(words) + 1), text) == "gopher_quality:min_words"
    assert reason(only(max_words=len(words)), text) is None
    assert reason(only(max_words=len(words) - 1), text) == "gopher_quality:max_words"
    first_sentence = sentences(text)[0]
    assert reason(GopherQuality(), first_sentence) == "gopher_quality:min_words"


def test_more_than_100000_words_is_too_long() -> None:
    book = "\n\n".join(news_articles()) * 2  # the Lee corpus twice: about 135k words
    assert reason(GopherQuality(), book) == "gopher_quality:max_words"


def test_mean_word_length_bounds() -> None:
    text = article(1)
    words = [w for w in split_words(text) if not is_symbol(w)]
    mean = statistics.mean(len(w) for w in words)
    assert 3 < mean < 10
    assert reason(only(min_mean_word_length=mean - 0.01), text) is None
    assert reason(only(min_mean_word_length=mean + 0.01), text) == "gopher_quality:mean_word_length"
    assert reason(only(max_mean_word_length=mean + 0.01), text) is None
    assert reason(only(max_mean_word_length=mean - 0.01), text) == "gopher_quality:mean_word_length"


def test_hash_symbols_per_word() -> None:
    text = article(2)
    words = len(split_words(text))
    tags = " ".join(f"#{w}" for w in wikipedia_titles()[:200] if w.isalpha())
    assert reason(GopherQuality(), text) is None
    assert reason(GopherQuality(), text + "\n" + tags) == "gopher_quality:hash_ratio"
    few = " ".join(f"#{w}" for w in wikipedia_titles()[:5000] if w.isalpha())
    few = " ".join(few.split()[: words // 20])
    assert reason(GopherQuality(), text + "\n" + few) is None


def test_ellipses_per_word() -> None:
    teasers = "\n".join(" ".join(s.split()[:5]) + " …" for s in sentences(article(3)))
    assert reason(only(max_symbol_word_ratio=0.1), teasers) == "gopher_quality:ellipsis_ratio"
    assert reason(only(max_symbol_word_ratio=0.1), article(3)) is None


def test_bullet_lines() -> None:
    lines = sentences(article_with_sentences(10))[:10]
    assert len(lines) == 10
    all_bullets = "\n".join(f"- {line}" for line in lines)
    nine = "\n".join(f"• {line}" if i < 9 else line for i, line in enumerate(lines))
    assert reason(only(max_bullet_lines_ratio=0.9), all_bullets) == "gopher_quality:bullet_lines"
    assert reason(only(max_bullet_lines_ratio=0.9), nine) is None


def test_lines_ending_with_an_ellipsis() -> None:
    lines = sentences(article_with_sentences(10, skip=1))[:10]

    def trail(count: int) -> str:
        return "\n".join(
            line.rstrip(".") + "..." if i < count else line for i, line in enumerate(lines)
        )

    assert reason(only(max_ellipsis_lines_ratio=0.3), trail(3)) is None
    assert reason(only(max_ellipsis_lines_ratio=0.3), trail(4)) == "gopher_quality:ellipsis_lines"


def test_words_without_letters() -> None:
    text = article(6)
    table = "\n".join(f"{i}, {i * 37 % 101}, {i * 3.25:.2f}, {i * 11 % 7}" for i in range(60))
    assert reason(only(min_alpha_words_ratio=0.8), text) is None
    assert reason(only(min_alpha_words_ratio=0.8), text + "\n" + table) == (
        "gopher_quality:alpha_words_ratio"
    )


def test_stop_words() -> None:
    stop = {"the", "be", "to", "of", "and", "that", "have", "with"}
    names = [t for t in wikipedia_titles() if not stop & set(t.lower().split())]
    titles = ", ".join(names[:80])  # a list of names: real words, no stop words
    assert reason(only(min_stop_words=2), titles) == "gopher_quality:stop_words"
    assert reason(only(min_stop_words=2), article(7)) is None
    assert reason(only(min_stop_words=2), "The cat of mine") is None
    case_sensitive = GopherQuality(
        GopherQuality.Options(**{**ALL_OFF, "min_stop_words": 2, "stop_words_case_sensitive": True})
    )
    assert reason(case_sensitive, "The cat of mine") == "gopher_quality:stop_words"


def test_code_is_not_prose() -> None:
    assert reason(GopherQuality(), python_source()) is not None


REPETITION_OFF = {
    "dup_line_frac": None,
    "dup_para_frac": None,
    "dup_line_char_frac": None,
    "dup_para_char_frac": None,
    "top_ngram_char_frac": {},
    "dup_ngram_char_frac": {},
}


def repetition(**options) -> GopherRepetition:
    return GopherRepetition(GopherRepetition.Options(**{**REPETITION_OFF, **options}))


def test_original_articles_have_no_repetition() -> None:
    step = GopherRepetition()
    assert [reason(step, text) for text in news_articles()[:40]].count(None) >= 38


def test_duplicate_paragraphs_by_count_and_by_characters() -> None:
    paragraphs = [article(i) for i in range(10, 17)]  # 7 distinct paragraphs
    two_repeats = "\n\n".join(paragraphs + paragraphs[:2])  # 2/9 repeated
    three_repeats = "\n\n".join(paragraphs + paragraphs[:3])  # 3/10 repeated: not above 0.3
    four_repeats = "\n\n".join(paragraphs + paragraphs[:4])  # 4/11 repeated
    step = repetition(dup_para_frac=0.3)
    assert reason(step, two_repeats) is None
    assert reason(step, three_repeats) is None
    assert reason(step, four_repeats) == "gopher_repetition:dup_para_frac"
    chars = sum(len(p) for p in paragraphs[:2]) / len(two_repeats)
    assert reason(repetition(dup_para_char_frac=chars + 0.001), two_repeats) is None
    assert reason(repetition(dup_para_char_frac=chars - 0.001), two_repeats) == (
        "gopher_repetition:dup_para_char_frac"
    )


def test_duplicate_lines_by_count_and_by_characters() -> None:
    lines = sentences(article(20))
    text = "\n".join(lines + lines[:2])
    fraction = 2 / (len(lines) + 2)
    assert reason(repetition(dup_line_frac=fraction), text) is None
    assert reason(repetition(dup_line_frac=fraction - 0.01), text) == (
        "gopher_repetition:dup_line_frac"
    )
    chars = sum(len(line) for line in lines[:2]) / len(text)
    assert reason(repetition(dup_line_char_frac=chars), text) is None
    assert reason(repetition(dup_line_char_frac=chars - 0.001), text) == (
        "gopher_repetition:dup_line_char_frac"
    )


def test_top_ngram_share_with_the_published_thresholds() -> None:
    text = article(21)
    chant = " ".join(["New South Wales"] * 40)
    assert reason(GopherRepetition(), text) is None
    assert reason(GopherRepetition(), text + " " + chant).startswith("gopher_repetition:top_")


@pytest.mark.parametrize("n", [2, 3, 4])
def test_top_ngram_threshold_edges(n: int) -> None:
    text = article(22) + " " + " ".join(["bushfire emergency warning issued"] * 12)
    words = split_words(text)
    grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    top = max(set(grams), key=lambda g: (grams.count(g), -grams.index(g)))
    share = len(top) * grams.count(top) / len(text)
    assert reason(repetition(top_ngram_char_frac={n: share + 1e-6}), text) is None
    assert reason(repetition(top_ngram_char_frac={n: share - 1e-6}), text) == (
        f"gopher_repetition:top_{n}_gram"
    )


@pytest.mark.parametrize("n", [5, 6, 7, 8, 9, 10])
def test_duplicated_ngram_threshold_edges(n: int) -> None:
    lines = sentences(article(23))
    text = " ".join(lines + lines[:1])  # the first sentence told twice
    words = split_words(text)
    seen, chars, index = set(), 0, 0
    while index < len(words) - n + 1:
        gram = tuple(words[index : index + n])
        if gram in seen:
            chars += sum(len(w) for w in gram)
            index += n
        else:
            seen.add(gram)
            index += 1
    share = chars / len(text)
    assert share > 0
    assert reason(repetition(dup_ngram_char_frac={n: share}), text) is None
    assert reason(repetition(dup_ngram_char_frac={n: share - 1e-6}), text) == (
        f"gopher_repetition:duplicated_{n}_gram"
    )
