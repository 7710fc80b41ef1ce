"""Writing JSON lines: one object per line, UTF-8, whole or not at all."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from goldpan.util.atomic import atomic_write_text


def dumps_line(row: Any) -> str:
    """One JSON line. Non-ASCII characters stay readable; U+2028 and U+2029 stay raw too, which
    is why readers must split on newlines only."""
    return json.dumps(row, ensure_ascii=False) + "\n"


def write_json_lines(path: str | Path, rows: Iterable[Any]) -> None:
    atomic_write_text(path, "".join(dumps_line(row) for row in rows))
