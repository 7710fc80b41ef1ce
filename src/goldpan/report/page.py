"""The report as data (sections of figures, tables, samples and notes) and its one HTML page.

Section builders for each kind of run fill these blocks; only this module knows HTML. The
page is self-contained: styles inline, charts as inline SVG, no script and no external
request, so it opens from a laptop's disk, an e-mail attachment or an air-gapped cluster.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from goldpan.util.atomic import atomic_write_bytes

SNIPPET_CHARS = 600


@dataclass
class Figure:
    svg: str
    caption: str = ""
    kind: str = "figure"

    @property
    def markup(self) -> Markup:
        return Markup(self.svg)  # built by report.svg, which escapes every label


@dataclass
class Table:
    headers: list[str]
    rows: list[list[Any]]
    caption: str = ""
    kind: str = "table"


@dataclass
class Document:
    """One sample record: a heading line, a few facts, its text (cut to a snippet)."""

    title: str
    text: str
    facts: dict[str, Any] = field(default_factory=dict)
    length: int | None = None  # full length in characters, when the text was cut

    @property
    def truncated(self) -> bool:
        return self.length is not None and self.length > len(self.text)


@dataclass
class Samples:
    title: str
    documents: list[Document]
    open: bool = False
    kind: str = "samples"


@dataclass
class Note:
    text: str
    kind: str = "note"


Block = Figure | Table | Samples | Note


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)
    intro: str = ""

    @property
    def anchor(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.title.lower()).strip("-")


@dataclass
class Report:
    title: str
    subtitle: str
    facts: list[tuple[str, str]]
    sections: list[Section]


def snippet(text: str | None, limit: int = SNIPPET_CHARS) -> tuple[str, int | None]:
    """The first ``limit`` characters and the full length when cut (None when whole)."""
    text = text or ""
    return (text, None) if len(text) <= limit else (text[:limit], len(text))


def format_cell(value: Any) -> str:
    """Table cells: thousands separators for counts, four significant digits for measures."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "nan"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    return str(value)


# The report's and the inspector's templates; every .j2 template is autoescaped.
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("goldpan.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["cellformat"] = format_cell


def render(report: Report) -> str:
    template = TEMPLATES.get_template("report.html.j2")
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return template.render(report=report, generated=generated)


def write_page(report: Report, path: Path) -> Path:
    atomic_write_bytes(path, render(report).encode("utf-8"))
    return path
