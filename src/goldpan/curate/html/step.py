"""``extract_html``: the main text of each HTML page, the boilerplate (navigation, footers,
ads) left behind.

Pages come from the ``warc`` reader (or any input whose text is HTML). Rows whose
``content_type`` says they are not HTML (WET text) pass unchanged. Rejects:
- ``extract_html:too_large``: the page is longer than ``max_html_chars`` (not parsed at all);
- ``extract_html:timeout``: extraction ran past ``timeout_s`` (the process doing it is killed);
- ``extract_html:error``: the extractor raised on the page;
- ``extract_html:empty``: no main text was found.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

import pyarrow as pa
from pydantic import Field

from goldpan.curate.html.extractors import ExtractSettings
from goldpan.data.schema import TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_column, with_reject_reasons, with_texts

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


class ExtractHtmlOptions(StepOptions):
    extractor: Literal["trafilatura", "resiliparse"] = Field(
        "trafilatura", description="trafilatura (FineWeb's, careful) or resiliparse (fast)."
    )
    include_tables: bool = Field(True, description="Keep table text.")
    include_links: bool = Field(False, description="Keep link targets in the text.")
    include_comments: bool = Field(False, description="Keep the comments under an article.")
    include_images: bool = Field(False, description="Keep images' alt texts.")
    favor: Literal["balanced", "precision", "recall"] = Field(
        "balanced", description="trafilatura: fewer doubtful parts (precision) or more (recall)."
    )
    deduplicate: bool = Field(False, description="trafilatura: drop repeated text segments.")
    language: str | None = Field(
        None, description="trafilatura: ISO 639-1 code of the expected language (a hint)."
    )
    math_as_tex: bool = Field(
        True, description="MathML becomes its TeX between $ signs (annotation or alttext)."
    )
    timeout_s: float = Field(5.0, gt=0, description="Most seconds one page may take.")
    max_html_chars: int = Field(
        5_000_000, gt=0, description="Longer pages are rejected as too_large without parsing."
    )
    keep_html: bool = Field(False, description="Keep the page in an html column.")


@register_step
class ExtractHtml(MapStep[ExtractHtmlOptions]):
    """HTML pages to their main text, each page within a time limit and a size cap."""

    name = "extract_html"
    text_side = "all"
    rewrites_text = True

    @cached_property
    def sandbox(self):
        """The process that extracts, started on first use where the step runs."""
        from goldpan.curate.html.sandbox import ExtractionSandbox

        o = self.options
        settings = ExtractSettings(
            extractor=o.extractor, include_tables=o.include_tables,
            include_links=o.include_links, include_comments=o.include_comments,
            include_images=o.include_images, favor=o.favor, deduplicate=o.deduplicate,
            language=o.language, math_as_tex=o.math_as_tex,
        )
        return ExtractionSandbox(settings, o.timeout_s)

    def process(self, batch: pa.Table) -> pa.Table:
        pages = batch.column(TEXT).to_pylist()
        types = (batch.column("content_type").to_pylist() if "content_type" in batch.column_names
                 else ["text/html"] * batch.num_rows)
        texts: list[str | None] = list(pages)
        reasons: list[str | None] = [None] * batch.num_rows
        todo = []
        for row, (page, kind) in enumerate(zip(pages, types, strict=True)):
            if kind is not None and kind not in HTML_TYPES:
                continue  # already text (WET)
            if page is None or len(page) > self.options.max_html_chars:
                reasons[row] = self.reason("too_large" if page else "empty")
                continue
            todo.append(row)
        outcomes = self.sandbox.extract_all([pages[row] for row in todo]) if todo else []
        for row, (status, text) in zip(todo, outcomes, strict=True):
            if status != "ok":
                reasons[row] = self.reason(status)
            elif not text.strip():
                reasons[row] = self.reason("empty")
            else:
                texts[row] = text
        if self.options.keep_html:
            batch = with_column(batch, "html", pa.array(pages, pa.large_string()))
        if "content_type" in batch.column_names:  # what the text is now
            extracted = set(todo)
            types = ["text/plain" if row in extracted else kind for row, kind in enumerate(types)]
            batch = with_column(batch, "content_type", pa.array(types, pa.string()))
        batch = with_texts(batch, texts)
        return with_reject_reasons(batch, reasons)
