"""Small JSONL files given on the command line (seed tasks, reference sets, problems): every
line a JSON object turned into a row, or one clear line naming the file, the line and what was
expected. Corpora go through ``data.jsonl`` instead, which records bad lines as rejects."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from goldpan.errors import GoldpanError
from goldpan.util.storage import to_path

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
    path = to_path(path)
    if not path.is_file():
        raise GoldpanError(f"{label} {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise GoldpanError(f"{label} {path}: not UTF-8 text") from None
    rows = []
    # Split on newlines only: str.splitlines also breaks at U+2028, U+2029 and U+0085, which
    # JSON written with ensure_ascii=False carries raw inside its strings.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rows.append(convert(json.loads(line), number))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError):
            raise GoldpanError(f"{label} {path}:{number}: expected {expected}") from None
    return rows
