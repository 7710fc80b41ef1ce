"""``normalize``: repair and tidy text before anything measures it.

ftfy undoes mojibake and other encoding accidents (with its lossy "prettifying" fixes off:
curly quotes, ligatures and full-width characters are kept as written); Unicode is brought to
one normal form; control characters other than newline and tab are dropped; whitespace is
tidied (trailing spaces, runs of blank lines, non-breaking and odd spaces). A text that ends up
empty is rejected as ``normalize:empty``.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cached_property
from typing import Literal

import pyarrow as pa
from pydantic import Field

from goldpan.data.schema import TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_reject_reasons, with_texts

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\ufeff]")
_ODD_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_TRAILING = re.compile(r"[ \t]+$", re.MULTILINE)
_INNER_RUNS = re.compile(r"(?<=\S)[ \t]{2,}(?=\S)")
_BLANK_LINES = re.compile(r"\n{3,}")


class NormalizeOptions(StepOptions):
    fix_encoding: bool = Field(True, description="ftfy: repair mojibake and HTML entities.")
    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = Field(
        "NFC", description="Unicode normal form; null keeps the text's own."
    )
    remove_control_chars: bool = Field(True, description="Drop C0/C1 controls but \\n and \\t.")
    normalize_whitespace: bool = Field(
        True, description="Odd spaces to ' ', no trailing spaces, at most one blank line."
    )
    collapse_inner_spaces: bool = Field(
        False, description="Also squeeze runs of spaces inside lines (breaks code indentation)."
    )


@register_step
class Normalize(MapStep[NormalizeOptions]):
    """Repair encoding accidents, normalise Unicode, drop control characters, tidy whitespace."""

    name = "normalize"
    text_side = "all"
    rewrites_text = True

    @cached_property
    def _ftfy_config(self):
        import ftfy

        return ftfy.TextFixerConfig(
            uncurl_quotes=False,
            fix_latin_ligatures=False,
            fix_character_width=False,
            normalization=None,
            explain=False,
        )

    def normalize(self, text: str) -> str:
        o = self.options
        # Mojibake needs non-ASCII characters and entities need "&": plain ASCII skips ftfy.
        if o.fix_encoding and not (text.isascii() and "&" not in text):
            import ftfy

            text = ftfy.fix_text(text, self._ftfy_config)
        if o.unicode_form:
            text = unicodedata.normalize(o.unicode_form, text)
        if o.remove_control_chars:
            text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
        if o.normalize_whitespace:
            text = _ODD_SPACES.sub(" ", text)
            text = _TRAILING.sub("", text)
            text = _BLANK_LINES.sub("\n\n", text).strip()
        if o.collapse_inner_spaces:
            text = _INNER_RUNS.sub(" ", text)
        return text

    def process(self, batch: pa.Table) -> pa.Table:
        texts = [self.normalize(t) for t in batch.column(TEXT).to_pylist()]
        reasons = [None if t.strip() else self.reason("empty") for t in texts]
        batch = with_texts(batch, texts)
        return with_reject_reasons(batch, reasons)
