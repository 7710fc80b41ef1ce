"""JSON lines of goldpan's own files and of small inputs (seed tasks, reference sets, problems,
a method's data, principles): written whole or not at all; read with every line a JSON object
turned into a row, or one clear line naming the file, the line and what was expected. The one
place such files are read and written. Corpora go through ``data.jsonl`` and ``data.writers``
instead, which record bad lines as rejects and stream."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from goldpan.errors import GoldpanError
from goldpan.util.atomic import atomic_write_text
from goldpan.util.storage import AnyPath, to_path

Row = TypeVar("Row")


def json_object(row: Any, line: int) -> dict[str, Any]:
    """The converter for lines that must be JSON objects (and nothing more is checked)."""
    if not isinstance(row, dict):
        raise TypeError("not an object")
    return row


def read_json_lines(
    path: str | Path, label: str, convert: Callable[[Any, int], Row], expected: str
) -> list[Row]:
    """``convert(parsed, line_number)`` for each non-blank line; it raises KeyError,
    TypeError or AttributeError for a line that is not what ``expected`` describes."""
    where: AnyPath = to_path(path)
    if not where.is_file():
        raise GoldpanError(f"{label} {where}: no such file")
    try:
        text = where.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GoldpanError(f"{label} {where}: not UTF-8 text") from None
    rows = []
    # Split on newlines only: str.splitlines also breaks at U+2028, U+2029 and U+0085, which
    # JSON written with ensure_ascii=False carries raw inside its strings.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rows.append(convert(json.loads(line), number))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError):
            raise GoldpanError(f"{label} {where}:{number}: expected {expected}") from None
    return rows


def read_json_objects(path: str | Path, label: str = "run file") -> list[dict[str, Any]]:
    """Every line of a file goldpan wrote, as a dict; a missing file has none (a run cut
    short before writing it)."""
    if not to_path(path).exists():
        return []
    return read_json_lines(path, label, json_object, "a JSON object")


def dumps_line(row: Any) -> str:
    """One JSON line. Non-ASCII characters stay readable; U+2028 and U+2029 stay raw too, which
    is why the reader splits on newlines only."""
    return json.dumps(row, ensure_ascii=False) + "\n"


def write_json_lines(path: str | Path, rows: Iterable[Any]) -> None:
    atomic_write_text(path, "".join(dumps_line(row) for row in rows))
