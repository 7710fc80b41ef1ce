"""pydantic's complaints as one line, each with the key path a user would edit."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def key_path(loc: tuple[Any, ...]) -> str:
    """``("steps", 2, "threshold")`` as ``steps[2].threshold``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def format_validation_error(origin: str, error: ValidationError, prefix: tuple = ()) -> str:
    """All of pydantic's complaints on one line, each with its key path."""
    parts = []
    for item in error.errors():
        where = key_path(prefix + tuple(item["loc"]))
        message = item["msg"]
        if item["type"] not in ("missing", "extra_forbidden"):
            message += f", got {item['input']!r}"
        elif item["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{where}: {message}")
    return f"{origin}: " + "; ".join(parts)
