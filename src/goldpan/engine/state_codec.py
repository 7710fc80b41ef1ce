"""A global step's merged state as JSON, not pickle: a run directory may sit in a shared
bucket, and unpickling a file someone else could write runs their code.

States are small Python values (thresholds, id maps, cut-offs) but not only JSON's: dicts keyed
by integers (text hashes), tuples, sets, infinities. Every container is written with a tag so
that it reads back as the same type: ``{"m": [[key, value], ...]}`` a dict, ``{"t": [...]}`` a
tuple, ``{"s": [...]}`` a set; lists, strings, numbers, booleans and null are themselves
(infinities and NaN as JSON's common ``Infinity``/``NaN`` extension). Anything else is an error
naming its type, so a step cannot put a value here that would not come back the same.
"""

from __future__ import annotations

import json
from typing import Any


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, tuple):
        return {"t": [_encode(v) for v in value]}
    if isinstance(value, dict):
        return {"m": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, set | frozenset):
        return {"s": [_encode(v) for v in sorted(value, key=repr)]}
    item = getattr(value, "item", None)  # a numpy scalar
    if item is not None and getattr(value, "shape", None) == ():
        return _encode(item())
    raise TypeError(f"a global step's state cannot hold {type(value).__name__}: use numbers, "
                    "text, lists, tuples, sets and dicts, or files in the fit folder")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        (tag, content), = value.items()
        if tag == "m":
            return {_hashable(_decode(k)): _decode(v) for k, v in content}
        if tag == "t":
            return tuple(_decode(v) for v in content)
        return {_hashable(_decode(v)) for v in content}
    return value


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def encode_state(state: Any) -> bytes:
    return json.dumps(_encode(state), separators=(",", ":")).encode()


def decode_state(data: bytes) -> Any:
    return _decode(json.loads(data))
