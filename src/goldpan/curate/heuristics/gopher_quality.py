"""``gopher_quality``: the quality rules of Gopher (Rae et al. 2021, "Scaling Language Models:
Methods, Analysis & Insights from Training Gopher", Appendix A.1.1, MassiveWeb filters).

    Remove documents that do not contain between 50 and 100,000 words, or whose mean word
    length is outside the range of 3 to 10 characters; documents with a symbol-to-word ratio
    greater than 0.1 for either the hash symbol or the ellipsis; documents with more than 90%
    of lines starting with a bullet point, or more than 30% ending with an ellipsis. We also
    require that 80% of words in a document contain at least one alphabetic character, and
    apply a "stop word" filter, to remove documents that do not contain at least two of the
    following English words: the, be, to, of, and, that, have, with.

Words are counted as in the reference implementation (datatrove): punctuation-only tokens are
not words for the count and the mean length, but ratios are taken over all tokens.
"""

from __future__ import annotations

from pydantic import Field

from goldpan.curate.heuristics.base import DocumentFilter
from goldpan.curate.text import is_symbol, split_words
from goldpan.engine.registry import register_step
from goldpan.engine.step import StepOptions

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
BULLETS = ("•", "-", "*", "‣", "◦", "●", "▪")
ELLIPSES = ("...", "…")


class GopherQualityOptions(StepOptions):
    min_words: int | None = Field(50, description="Fewer non-symbol words: min_words.")
    max_words: int | None = Field(100_000, description="More non-symbol words: max_words.")
    min_mean_word_length: float | None = Field(3, description="Mean word length floor.")
    max_mean_word_length: float | None = Field(10, description="Mean word length ceiling.")
    max_symbol_word_ratio: float | None = Field(
        0.1, description="Hash or ellipsis occurrences per word."
    )
    max_bullet_lines_ratio: float | None = Field(0.9, description="Lines starting with a bullet.")
    max_ellipsis_lines_ratio: float | None = Field(
        0.3, description="Lines ending with an ellipsis."
    )
    min_alpha_words_ratio: float | None = Field(0.8, description="Words holding a letter.")
    min_stop_words: int | None = Field(2, description="Distinct stop words the text must hold.")
    stop_words: list[str] = Field(list(STOP_WORDS), description="The stop word list.")
    stop_words_case_sensitive: bool = Field(
        False, description="Count 'The' as 'the' unless true (datatrove is case-sensitive)."
    )
    bullets: list[str] = Field(list(BULLETS), description="Line starts that count as bullets.")


@register_step
class GopherQuality(DocumentFilter[GopherQualityOptions]):
    """Gopher's quality rules: word counts and lengths, symbols, bullets, ellipses, stop words."""

    name = "gopher_quality"
    text_side = "answer"

    def broken_rule(self, text: str) -> str | None:
        o = self.options
        words = split_words(text)
        if not words:
            return "min_words"
        content = [w for w in words if not is_symbol(w)]
        if o.min_words is not None and len(content) < o.min_words:
            return "min_words"
        if o.max_words is not None and len(content) > o.max_words:
            return "max_words"
        mean_length = sum(map(len, content)) / len(content) if content else 0.0
        if o.min_mean_word_length is not None and mean_length < o.min_mean_word_length:
            return "mean_word_length"
        if o.max_mean_word_length is not None and mean_length > o.max_mean_word_length:
            return "mean_word_length"
        if o.max_symbol_word_ratio is not None:
            if text.count("#") / len(words) > o.max_symbol_word_ratio:
                return "hash_ratio"
            if sum(text.count(e) for e in ELLIPSES) / len(words) > o.max_symbol_word_ratio:
                return "ellipsis_ratio"
        lines = text.splitlines() or [""]
        bullets = tuple(o.bullets)
        if o.max_bullet_lines_ratio is not None:
            bulleted = sum(line.lstrip().startswith(bullets) for line in lines)
            if bulleted / len(lines) > o.max_bullet_lines_ratio:
                return "bullet_lines"
        if o.max_ellipsis_lines_ratio is not None:
            trailing = sum(line.rstrip().endswith(ELLIPSES) for line in lines)
            if trailing / len(lines) > o.max_ellipsis_lines_ratio:
                return "ellipsis_lines"
        if o.min_alpha_words_ratio is not None:
            alpha = sum(any(ch.isalpha() for ch in w) for w in words)
            if alpha / len(words) < o.min_alpha_words_ratio:
                return "alpha_words_ratio"
        if o.min_stop_words is not None:
            present = set(words) if o.stop_words_case_sensitive else {w.lower() for w in words}
            if len(present.intersection(o.stop_words)) < o.min_stop_words:
                return "stop_words"
        return None
