"""``--set KEY.PATH=VALUE``: command-line overrides of any nested configuration."""

from __future__ import annotations

from typing import Any

from goldpan.errors import GoldpanError
from goldpan.util.yaml_1_2 import load_yaml


def _set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node: Any = data
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise GoldpanError(f"--set {dotted}: no list item {key!r} (length {len(node)})")
            index = int(key)
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        else:
            raise GoldpanError(f"--set {dotted}: {'.'.join(keys[:position])} is not a mapping")


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``key.path=value`` assignments; values are parsed as YAML scalars (``5``, ``true``)."""
    for item in overrides:
        if "=" not in item:
            raise GoldpanError(f"--set {item}: expected KEY.PATH=VALUE")
        dotted, raw = item.split("=", 1)
        _set_path(data, dotted.strip(), load_yaml(raw) if raw else "")
    return data
