"""``c4_quality`` and ``c4_badwords``: the C4 rules (Raffel et al. 2020, "Exploring the Limits of
Transfer Learning with a Unified Text-to-Text Transformer", Section 2.2, and the released
``c4_utils`` of tensorflow_datasets).

Line rules: keep only lines ending in a terminal punctuation mark (. ? ! or a closing quote)
and holding at least 3 words; drop lines mentioning "javascript", lines with a word over 1,000
characters, and cookie / terms-of-use lines; strip Wikipedia citation markers. Document rules:
drop pages containing "lorem ipsum" or a curly bracket, pages with fewer than 5 sentences in
their kept lines, and (``c4_badwords``) pages holding a word of the "List of Dirty, Naughty,
Obscene or Otherwise Bad Words". ``c4_quality`` rewrites the text to the kept lines and
records how many lines it removed.
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources

import numpy as np
import pyarrow as pa
from pydantic import Field

from goldpan.curate.text import count_sentences
from goldpan.data.draws import uniform_from_ids
from goldpan.data.schema import ID, TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_column, with_reject_reasons, with_texts

CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY_PHRASES = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


class C4QualityOptions(StepOptions):
    remove_citations: bool = Field(True, description="Strip [1], [edit], [citation needed].")
    require_terminal_punctuation: bool = Field(True, description="Drop lines not ending . ? ! \" '")
    min_words_per_line: int | None = Field(3, description="Drop lines with fewer words.")
    max_word_length: int | None = Field(1000, description="Drop lines with a longer word.")
    min_sentences: int | None = Field(5, description="Drop documents with fewer sentences left.")
    filter_javascript: bool = Field(True, description="Drop lines mentioning javascript.")
    filter_policy: bool = Field(True, description="Drop cookie and terms-of-use lines.")
    filter_lorem_ipsum: bool = Field(True, description="Drop documents with 'lorem ipsum'.")
    filter_curly_bracket: bool = Field(True, description="Drop documents with a '{'.")


@register_step
class C4Quality(MapStep[C4QualityOptions]):
    """C4's line and document rules; kept lines replace the text."""

    name = "c4_quality"
    text_side = "answer"
    rewrites_text = True

    def clean(self, text: str) -> tuple[str | None, str | None, int]:
        """(kept text, broken document rule, lines removed)."""
        o = self.options
        kept: list[str] = []
        sentences = removed = 0
        for raw in text.splitlines():
            line = raw.strip()
            words = line.split()
            if o.max_word_length is not None and any(len(w) > o.max_word_length for w in words):
                removed += 1
                continue
            if o.remove_citations:
                line = CITATION.sub("", line)
            if o.require_terminal_punctuation and (
                not line.endswith(END_PUNCTUATION) or line.endswith("...")
            ):
                removed += 1
                continue
            if o.min_words_per_line is not None and len(words) < o.min_words_per_line:
                removed += 1
                continue
            lowered = line.lower()
            if o.filter_lorem_ipsum and "lorem ipsum" in lowered:
                return None, "lorem_ipsum", removed
            if o.filter_javascript and "javascript" in lowered:
                removed += 1
                continue
            if o.filter_curly_bracket and "{" in line:
                return None, "curly_bracket", removed
            if o.filter_policy and any(p in lowered for p in POLICY_PHRASES):
                removed += 1
                continue
            if o.min_sentences is not None:
                sentences += count_sentences(line)
            kept.append(line)
        if o.min_sentences is not None and sentences < o.min_sentences:
            return None, "too_few_sentences", removed
        return "\n".join(kept).strip(), None, removed

    def process(self, batch: pa.Table) -> pa.Table:
        texts, reasons, removed = [], [], []
        for text in batch.column(TEXT).to_pylist():
            cleaned, rule, lines = self.clean(text)
            texts.append(text if cleaned is None else cleaned)
            reasons.append(None if rule is None else self.reason(rule))
            removed.append(lines)
        batch = with_texts(batch, texts)
        batch = with_column(batch, "c4_lines_removed", pa.array(removed, pa.int32()))
        return with_reject_reasons(batch, reasons)


class C4BadWordsOptions(StepOptions):
    language: str = Field("en", description="Which shipped list to use.")
    language_column: str | None = Field(
        None, description="Per-record language column (e.g. lang from langid); else language."
    )
    keep_fraction: float = Field(0.0, ge=0, le=1, description="Share of matches kept anyway.")


def badwords(language: str) -> list[str]:
    path = resources.files("goldpan.resources") / "badwords" / f"{language}.txt"
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [w.strip() for w in lines if w.strip() and not w.startswith("#")]


@register_step
class C4BadWords(MapStep[C4BadWordsOptions]):
    """Drop documents holding a word from the C4 bad-words list (LDNOOBW, shipped)."""

    name = "c4_badwords"
    text_side = "answer"

    @cached_property
    def _patterns(self) -> dict[str, re.Pattern | None]:
        return {}

    def _pattern(self, language: str) -> re.Pattern | None:
        if language not in self._patterns:
            words = badwords(language)
            alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
            # Whole words only, as in C4 (languages written without spaces aside).
            self._patterns[language] = (
                re.compile(rf"(?:\W|^)(?:{alternatives})(?:\W|$)") if words else None
            )
        return self._patterns[language]

    def process(self, batch: pa.Table) -> pa.Table:
        o = self.options
        texts = batch.column(TEXT).to_pylist()
        if o.language_column and o.language_column in batch.column_names:
            languages = [lang or o.language for lang in batch.column(o.language_column).to_pylist()]
        else:
            languages = [o.language] * len(texts)
        spared = uniform_from_ids(batch.column(ID).to_pylist(), self.seed) < o.keep_fraction
        reasons = np.full(len(texts), None, dtype=object)
        for row, (text, language) in enumerate(zip(texts, languages, strict=True)):
            pattern = self._pattern(language)
            if pattern is not None and not spared[row] and pattern.search(text.lower()):
                reasons[row] = self.reason("badword")
        return with_reject_reasons(batch, pa.array(reasons, pa.string()))
