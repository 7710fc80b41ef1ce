"""``fineweb_quality``: the FineWeb custom filters (Penedo et al. 2024, "The FineWeb Datasets:
Decanting the Web for the Finest Text Data at Scale", Section 3.5, and the released pipeline).

Remove documents where fewer than 12% of the lines end in terminal punctuation, where more than
67% of the lines are 30 characters or shorter, where characters in duplicated lines exceed 1%
of all characters, and list-like documents with more than 0.3 newlines per word. Only non-blank
lines count; terminal punctuation is any Unicode Sentence_Terminal character.
"""

from __future__ import annotations

from pydantic import Field

from goldpan.curate.heuristics.base import DocumentFilter
from goldpan.curate.text import duplicates, ends_with_terminal, split_words
from goldpan.engine.registry import register_step
from goldpan.engine.step import StepOptions


class FineWebQualityOptions(StepOptions):
    min_terminal_lines_ratio: float | None = Field(
        0.12, description="Lines ending in terminal punctuation, at least."
    )
    max_short_lines_ratio: float | None = Field(0.67, description="Short lines, at most.")
    short_line_length: int = Field(30, description="A line this long or shorter is short.")
    max_duplicate_line_chars_ratio: float | None = Field(
        0.01, description="Characters in repeated lines, at most."
    )
    max_newlines_per_word: float | None = Field(0.3, description="Newlines per word, at most.")


@register_step
class FineWebQuality(DocumentFilter[FineWebQualityOptions]):
    """FineWeb's rules: terminal punctuation, short lines, repeated lines, list documents."""

    name = "fineweb_quality"
    text_side = "answer"

    def broken_rule(self, text: str) -> str | None:
        o = self.options
        lines = [line for line in text.split("\n") if line.strip()]
        if not lines:
            return "empty"
        if o.min_terminal_lines_ratio is not None:
            ratio = sum(ends_with_terminal(line) for line in lines) / len(lines)
            if ratio < o.min_terminal_lines_ratio:
                return "terminal_punctuation"
        if o.max_short_lines_ratio is not None:
            short = sum(len(line) <= o.short_line_length for line in lines) / len(lines)
            if short > o.max_short_lines_ratio:
                return "short_lines"
        if o.max_duplicate_line_chars_ratio is not None:
            characters = len(text) - text.count("\n")
            repeated = duplicates(lines)[1]
            if characters and repeated / characters > o.max_duplicate_line_chars_ratio:
                return "duplicate_lines"
        if o.max_newlines_per_word is not None:
            words = split_words(text)
            if not words or text.count("\n") / len(words) > o.max_newlines_per_word:
                return "list_like"
        return None
