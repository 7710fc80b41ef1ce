"""Stable hashes of configurations: the keys that decide what a rerun can reuse."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def config_hash(payload: Any) -> str:
    """Stable short hash of a JSON-able config: a changed value gives a new stage key."""
    canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
