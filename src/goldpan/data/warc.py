"""Web archives as input: WARC (plain or gzip, per-record members as Common Crawl writes them)
and WET files, read with FastWARC.

One document per ``response`` record (an HTTP response; its body decoded from the charset the
HTTP header names, else the page's meta tag, else detection) and per ``conversion`` or
``resource`` record (WET text, stored files). Request, metadata and warcinfo records describe
other records and are not documents. Every document is kept or rejected with a reason:
- ``read:not_html``: a response whose content is not HTML (images, PDFs, scripts);
- ``read:malformed_warc``: a record whose WARC or HTTP head cannot be parsed, or bytes that are
  no record at all; reading resumes at the next record start found after them.
Ids are ``FILE:OFFSET`` (the record's byte offset in the file, compressed for .gz) unless
``input.id_field`` names a column (``warc_record_id``). Columns kept: ``url``, ``date``,
``warc_record_id``, ``content_type``, ``http_status``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import IO, Any

import pyarrow as pa

from goldpan.data.config import InputConfig
from goldpan.data.inputs import InputFile
from goldpan.data.records import (
    InputReject,
    ShapedChunk,
    default_source,
    read_reason,
    rejects_table,
    shape_records,
)
from goldpan.errors import GoldpanError, storage_error
from goldpan.util.storage import open_input

HTML_TYPES = ("text/html", "application/xhtml+xml")
# Where a record may start after bytes that were no record: a gzip member or a WARC version line.
_GZIP_MEMBER = b"\x1f\x8b\x08"
_WARC_LINE = re.compile(rb"(?:^|\n)WARC/1\.[01]\r?\n")
_RESYNC_BLOCK = 1 << 20


@dataclass
class _Document:
    offset: int
    url: str | None
    date: str | None
    record_id: str | None
    content_type: str
    status: int | None
    text: str


def _decoded(body: bytes, declared: str | None) -> str:
    """The page as text: the charset the HTTP header names, else the page's meta tag, else
    UTF-8 when the bytes are valid UTF-8 (detectors take short UTF-8 pages for Windows-1250 or
    -1252), else detection (uchardet); undecodable bytes fall back to UTF-8 and Windows-1252,
    then are replaced."""
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    encoding = declared or _meta_charset(body)
    if encoding is None:
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            encoding = detect_encoding(body) or "utf-8"
    try:
        return bytes_to_str(body, encoding, errors="replace")
    except LookupError:  # a charset name no codec knows: detect instead
        return bytes_to_str(body, detect_encoding(body) or "utf-8", errors="replace")


_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE
)


def _meta_charset(body: bytes) -> str | None:
    """The charset a meta tag in the page's first 1,024 bytes names (the HTML5 prescan's
    window), or None."""
    found = _META_CHARSET.search(body[:1024])
    return found.group(1).decode("ascii") if found else None


def _content_type(record: Any, body: bytes) -> str:
    declared = record.http_content_type if record.is_http else record.headers.get("Content-Type")
    if declared:
        return declared.split(";", 1)[0].strip().lower()
    from resiliparse.parse.encoding import detect_mime

    return detect_mime(body[:4096]) or "application/octet-stream"


def _next_record_start(handle: IO[bytes], after: int, gzipped: bool) -> int | None:
    """The first offset past ``after`` where a record could start, or None at the end."""
    position = after + 1
    handle.seek(position)
    tail = b""
    while True:
        block = handle.read(_RESYNC_BLOCK)
        if not block:
            return None
        data = tail + block
        start = position - len(tail)
        if gzipped:
            found = data.find(_GZIP_MEMBER)
            if found >= 0:
                return start + found
        else:
            match = _WARC_LINE.search(data)
            if match is not None:
                return start + match.start() + (1 if data[match.start()] == 0x0A else 0)
        tail = data[-16:]
        position += len(block)


def _records(
    handle: IO[bytes], gzipped: bool, wanted: Any, start: int = 0, end: int | None = None
) -> Iterator[Any]:
    """FastWARC records of the types ``wanted`` that start in [start, end), in file order, and
    an ``InputReject`` for each stretch of bytes that is no record. Reading resumes at the
    next place a record could start; a stretch is one reject however many of those places
    fail before a record is read again."""
    from fastwarc.warc import ArchiveIterator

    offset, resyncing = start, False
    while end is None or offset < end:
        handle.seek(offset)
        last = None
        try:
            for record in ArchiveIterator(handle, record_types=wanted, parse_http=False):
                if end is not None and record.stream_pos >= end:
                    return
                last, resyncing = record.stream_pos, False
                yield record
            return
        except OSError as error:
            failed_at = offset if last is None else last + 1
            if not resyncing:
                yield InputReject(failed_at, read_reason("malformed_warc"),
                                  f"no WARC record after offset {failed_at - 1}: {error}")
            resume = _next_record_start(handle, failed_at, gzipped)
            if resume is None:
                return
            offset, resyncing = resume, True


def _is_gzipped(handle: Any) -> bool:
    """Whether a WARC file is gzip members, from its first bytes (``_records`` seeks to where it
    reads, so the position this leaves does not matter)."""
    return handle.read(3) == _GZIP_MEMBER


def record_starts(path: str) -> list[int]:
    """The byte offset of every readable record of a WARC file (one pass, bodies skipped)."""
    from fastwarc.warc import WarcRecordType

    with open_input(path) as handle:
        gzipped = _is_gzipped(handle)
        return [item.stream_pos for item in _records(handle, gzipped, WarcRecordType.any_type)
                if not isinstance(item, InputReject)]


def _document_or_reject(record: Any) -> _Document | InputReject:
    from fastwarc.warc import WarcRecordType

    position = record.stream_pos
    url = record.headers.get("WARC-Target-URI")
    record_id = record.record_id
    is_response = record.record_type == WarcRecordType.response
    status = None
    if is_response:
        record.parse_http()
        if not record.is_http_parsed or record.http_headers is None:
            return InputReject(position, read_reason("malformed_warc"),
                               "a response record without a readable HTTP head")
        status = record.http_headers.status_code
    body = record.reader.read()
    content_type = _content_type(record, body)
    if is_response and content_type not in HTML_TYPES:
        return InputReject(position, read_reason("not_html"), f"{content_type} {url or ''}".strip())
    charset = record.http_charset if is_response else None
    text = body.decode("utf-8", "replace") if content_type == "text/plain" and not is_response \
        else _decoded(body, charset)
    date = record.headers.get("WARC-Date")
    return _Document(position, url, date, record_id, content_type, status, text)


def _chunk(
    documents: list[_Document], rejects: list[InputReject], label: str, config: InputConfig
) -> tuple[ShapedChunk, int]:
    table = pa.table({
        config.text_field: pa.array([d.text for d in documents], pa.large_string()),
        "url": pa.array([d.url for d in documents], pa.string()),
        "date": pa.array([d.date for d in documents], pa.string()),
        "warc_record_id": pa.array([d.record_id for d in documents], pa.string()),
        "content_type": pa.array([d.content_type for d in documents], pa.string()),
        "http_status": pa.array([d.status for d in documents], pa.int32()),
    })
    shaped = shape_records(table, pa.array([d.offset for d in documents], pa.int64()), config,
                           label)
    if rejects:
        read_rejects = rejects_table(rejects, label, default_source(config, label))
        shaped = ShapedChunk(
            shaped.records,
            pa.concat_tables([shaped.rejects, read_rejects]),
            _merged(shaped.reject_counts, rejects),
            shaped.positions,
        )
    return shaped, len(documents) + len(rejects)


def _merged(counts: dict[str, int], rejects: list[InputReject]) -> dict[str, int]:
    merged = dict(counts)
    for reject in rejects:
        merged[reject.reason] = merged.get(reject.reason, 0) + 1
    return merged


def split_by_records(unit: InputFile, target_bytes: int) -> list[InputFile]:
    """A big WARC cut into byte ranges of about ``target_bytes`` that start at records (one
    pass over the file), so several workers read one file; ids stay FILE:OFFSET."""
    if unit.size <= target_bytes:
        return [unit]
    ranges: list[InputFile] = []
    start = 0
    for offset in record_starts(unit.path):
        if offset - start >= target_bytes:
            ranges.append(replace(unit, start=start, end=offset))
            start = offset
    ranges.append(replace(unit, start=start, end=unit.size))
    return ranges


def read_warc(unit: InputFile, config: InputConfig) -> Iterator[tuple[ShapedChunk, int]]:
    """A WARC or WET file (or the records starting in its byte range) in chunks of
    ``part_records`` documents and rejects."""
    try:
        import fastwarc  # noqa: F401
        import resiliparse  # noqa: F401
        from fastwarc.warc import WarcRecordType
    except ImportError:
        raise GoldpanError(
            "reading web archives needs the web extra: pip install 'goldpan[web]'"
        ) from None
    label = unit.label
    wanted = WarcRecordType.response | WarcRecordType.conversion | WarcRecordType.resource
    try:
        handle = open_input(unit.path)
    except OSError as error:
        raise storage_error(error, unit.path) from None
    with handle:
        gzipped = _is_gzipped(handle)
        documents: list[_Document] = []
        rejects: list[InputReject] = []
        found: _Document | InputReject
        size = config.part_records or 2_000
        try:
            for item in _records(handle, gzipped, wanted, unit.start, unit.end):
                found = item if isinstance(item, InputReject) else _document_or_reject(item)
                if isinstance(found, _Document):
                    documents.append(found)
                else:
                    rejects.append(found)
                if len(documents) + len(rejects) >= size:
                    yield _chunk(documents, rejects, label, config)
                    documents, rejects = [], []
        except OSError as error:
            raise GoldpanError(f"{label}: cannot read the web archive: {error}") from None
        if documents or rejects:
            yield _chunk(documents, rejects, label, config)
