"""JSONL reading with a vectorised fast path and a line-by-line path that explains every failure.

Chunks of whole lines go first to pyarrow's C++ JSON reader. Only when a chunk holds
something that reader cannot take faithfully (a malformed line, invalid UTF-8, a blank line
that would shift line numbers, a text field that is not a string) is the chunk parsed line by
line, where each bad line becomes a reject with its reason and line number.
"""

from __future__ import annotations

import gzip
import io
from collections import Counter
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

from goldpan.data.config import InputConfig
from goldpan.data.inputs import InputFile
from goldpan.data.records import (
    InputReject,
    InvalidId,
    ShapedChunk,
    TextFieldNotString,
    default_source,
    id_as_text,
    read_reason,
    rejects_table,
    shape_conversations,
    shape_records,
    table_from_rows,
)
from goldpan.errors import GoldpanError, storage_error
from goldpan.util.storage import is_url, open_input

CHUNK_BYTES = 32 * 1024 * 1024
# Rejected raw lines are kept for inspection, but not whole when they are enormous.
MAX_REJECTED_LINE_CHARS = 100_000


def open_binary(path: str) -> BinaryIO:
    """The decompressed byte stream of a plain, gzip or zstd file."""
    lower = path.lower()
    if is_url(path):
        codec = "gzip" if lower.endswith(".gz") else "zstd" if lower.endswith(".zst") else None
        return open_input(path, codec)
    if lower.endswith(".gz"):
        return cast(BinaryIO, gzip.GzipFile(path, "rb"))  # a binary stream, typed apart
    if lower.endswith(".zst"):
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    return open(path, "rb")


def iter_line_chunks(
    stream: BinaryIO | Any, chunk_bytes: int = CHUNK_BYTES, first_line: int = 1
) -> Iterator[tuple[bytes, int, int]]:
    """Chunks that end on a line break, with the 1-based number of their first line and the
    number of lines they hold."""
    leftover = b""
    next_line = first_line
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            break
        data = leftover + block
        cut = data.rfind(b"\n")
        if cut < 0:  # one line longer than the block: keep reading until it ends
            leftover = data
            continue
        chunk, leftover = data[: cut + 1], data[cut + 1 :]
        lines = chunk.count(b"\n")
        yield chunk, next_line, lines
        next_line += lines
    if leftover:
        yield leftover, next_line, 1


def _fast_parse(
    chunk: bytes, first_line: int, lines: int, config: InputConfig, label: str
) -> ShapedChunk | None:
    """The vectorised path, or None when the chunk needs line-by-line treatment (always for
    conversations: Arrow's JSON reader would unify differing turns into nullable structs)."""
    if config.kind != "text":
        return None
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return None
    table = None
    # Small blocks parse on all cores; a line longer than a block needs one block for all.
    for block_size in (4 << 20, len(chunk) + 1):
        try:
            table = pa_json.read_json(
                io.BytesIO(chunk),
                read_options=pa_json.ReadOptions(block_size=block_size, use_threads=True),
            )
            break
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OverflowError):
            if block_size > len(chunk):
                return None
    if table is None:
        return None
    if table.num_rows != lines:  # blank lines: positions would not be line numbers
        return None
    positions = pa.array(range(first_line, first_line + table.num_rows), pa.int64())
    try:
        return shape_records(table, positions, config, label)
    except TextFieldNotString:
        return None


def _slow_parse(chunk: bytes, first_line: int, config: InputConfig, label: str) -> ShapedChunk:
    """Line by line: every line that cannot be a record is rejected with its reason."""
    rows: list[dict] = []
    positions: list[int] = []
    rejects: list[InputReject] = []
    for offset, raw in enumerate(chunk.split(b"\n")):
        line_number = first_line + offset
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            if config.on_invalid_utf8 == "reject":
                shown = raw.decode("utf-8", errors="replace")[:MAX_REJECTED_LINE_CHARS]
                rejects.append(InputReject(line_number, read_reason("invalid_utf8"), shown))
                continue
            line = raw.decode("utf-8", errors="replace")
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            rejects.append(
                InputReject(
                    line_number, read_reason("malformed_json"), line[:MAX_REJECTED_LINE_CHARS]
                )
            )
            continue
        if not isinstance(value, dict):
            rejects.append(
                InputReject(
                    line_number, read_reason("not_an_object"), line[:MAX_REJECTED_LINE_CHARS]
                )
            )
            continue
        text = value.get(config.text_field) if config.kind == "text" else None
        if text is not None and not isinstance(text, str):
            rejects.append(
                InputReject(
                    line_number, read_reason("text_not_string"), line[:MAX_REJECTED_LINE_CHARS]
                )
            )
            continue
        if config.id_field is not None and config.id_field in value:
            # Ids become text here, one by one, so that a column mixing strings and integers is
            # not turned into JSON text below ("b1" must stay b1, not "\"b1\"").
            try:
                value[config.id_field] = id_as_text(value[config.id_field])
            except InvalidId:
                rejects.append(
                    InputReject(
                        line_number, read_reason("invalid_id"), line[:MAX_REJECTED_LINE_CHARS]
                    )
                )
                continue
        rows.append(value)
        positions.append(line_number)
    if config.kind != "text":
        shaped = shape_conversations(rows, positions, config, label) if rows else None
    else:
        shaped = (
            shape_records(table_from_rows(rows), pa.array(positions, pa.int64()), config, label)
            if rows
            else None
        )
    own = rejects_table(rejects, label, default_source(config, label))
    counts = Counter(reject.reason for reject in rejects)
    if shaped is None:
        return ShapedChunk(pa.table({}), own, dict(counts), pa.array([], pa.int64()))
    counts.update(shaped.reject_counts)
    both = pa.concat_tables([shaped.rejects, own], promote_options="permissive")
    return ShapedChunk(shaped.records, both, dict(counts), shaped.positions)


class _Range:
    """A read-only view of bytes [start, end) of a file that insists on getting all of them: a
    file that ends early (it shrank since it was listed, or a connection to a store broke and
    the stream looked finished) is an error, not a silently shorter input."""

    def __init__(self, handle: BinaryIO, start: int, end: int) -> None:
        if start:
            handle.seek(start)
        self.handle, self.left = handle, end - start

    def read(self, size: int) -> bytes:
        data = self.handle.read(min(size, self.left))
        self.left -= len(data)
        if not data and self.left > 0 and size > 0:
            raise EOFError(f"the input ended {self.left:,} bytes before its listed size; it "
                           "changed since the run listed it, or the connection broke")
        return data

    def __enter__(self) -> _Range:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


def read_jsonl(unit: InputFile, config: InputConfig) -> Iterator[tuple[ShapedChunk, int]]:
    """Shaped chunks of a JSONL file (or of a byte range of one), each with the number of
    non-blank lines it covered."""
    label = unit.label
    try:
        raw = open_binary(unit.path)
        stream: BinaryIO | _Range = raw
        if unit.end is not None:
            stream = _Range(raw, unit.start, unit.end)
        elif not unit.path.lower().endswith((".gz", ".zst")):  # compressed: its codec checks
            stream = _Range(raw, 0, unit.size)
    except OSError as error:
        raise storage_error(error, unit.path) from None
    with stream:
        try:
            for chunk, first_line, lines in iter_line_chunks(stream, first_line=unit.first_line):
                shaped = _fast_parse(chunk, first_line, lines, config, label)
                if shaped is None:
                    shaped = _slow_parse(chunk, first_line, config, label)
                yield shaped, shaped.records.num_rows + shaped.rejects.num_rows
        except (OSError, EOFError) as error:  # truncated or corrupt compressed file
            raise GoldpanError(f"{label}: cannot read: {error}") from None
        except Exception as error:
            if type(error).__name__ == "ZstdError":
                raise GoldpanError(f"{label}: cannot read: {error}") from None
            raise
