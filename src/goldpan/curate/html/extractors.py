"""Main text from HTML with a maintained extractor: trafilatura (the default, the one
datatrove and FineWeb use) or Resiliparse (the fast option). Pure functions of a page and the
settings, so the sandbox process (``sandbox``) can run them.

Math survives either way: a MathML element becomes its TeX (the ``application/x-tex``
annotation, else the ``alttext`` attribute) between ``$...$``, or ``$$...$$`` when displayed
as a block, before the extractor sees the page; TeX already in the text is text and is kept.
"""

from __future__ import annotations

import html as html_entities
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

Extractor = Literal["trafilatura", "resiliparse"]

_MATH = re.compile(r"<math\b([^>]*)>(.*?)</math\s*>", re.IGNORECASE | re.DOTALL)
_TEX_ANNOTATION = re.compile(
    r"<annotation\b[^>]*encoding\s*=\s*[\"']application/x-tex[\"'][^>]*>(.*?)</annotation\s*>",
    re.IGNORECASE | re.DOTALL,
)
_ALTTEXT = re.compile(r"\balttext\s*=\s*(\"([^\"]*)\"|'([^']*)')", re.IGNORECASE)
_BLOCK = re.compile(r"\bdisplay\s*=\s*[\"']block[\"']", re.IGNORECASE)


@dataclass(frozen=True)
class ExtractSettings:
    extractor: Extractor = "trafilatura"
    include_tables: bool = True
    include_links: bool = False
    include_comments: bool = False
    include_images: bool = False
    favor: Literal["balanced", "precision", "recall"] = "balanced"
    deduplicate: bool = False
    language: str | None = None
    math_as_tex: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def math_as_tex(page: str) -> str:
    """Every MathML element replaced by its TeX between dollars, where it carries TeX; one
    without any is left for the extractor to read as text."""
    if "<math" not in page and "<MATH" not in page:
        return page

    def replaced(match: re.Match[str]) -> str:
        attributes, inner = match.group(1), match.group(2)
        found = _TEX_ANNOTATION.search(inner)
        tex = found.group(1) if found else None
        if tex is None:
            alt = _ALTTEXT.search(attributes)
            tex = (alt.group(2) if alt.group(2) is not None else alt.group(3)) if alt else None
        if tex is None:
            return match.group(0)
        tex = html_entities.escape(html_entities.unescape(tex).strip(), quote=False)
        return f"$${tex}$$" if _BLOCK.search(attributes) else f"${tex}$"

    return _MATH.sub(replaced, page)


def extract(page: str, settings: ExtractSettings) -> str:
    """The page's main text ('' when the extractor finds none)."""
    if settings.math_as_tex:
        page = math_as_tex(page)
    if settings.extractor == "resiliparse":
        return _resiliparse(page, settings)
    return _trafilatura(page, settings)


def _trafilatura(page: str, settings: ExtractSettings) -> str:
    import trafilatura

    text = trafilatura.extract(
        page,
        include_tables=settings.include_tables,
        include_links=settings.include_links,
        include_comments=settings.include_comments,
        include_images=settings.include_images,
        favor_precision=settings.favor == "precision",
        favor_recall=settings.favor == "recall",
        deduplicate=settings.deduplicate,
        target_language=settings.language,
        with_metadata=False,
    )
    return text or ""


def _resiliparse(page: str, settings: ExtractSettings) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    skipped = None if settings.include_tables else ["table"]
    return extract_plain_text(
        page,
        main_content=True,
        preserve_formatting=True,
        list_bullets=True,
        alt_texts=settings.include_images,
        links=settings.include_links,
        comments=settings.include_comments,
        skip_elements=skipped,
    ).strip()
