"""Atomic writes: a file is either whole under its final name or not there at all.

Each write goes to a temporary sibling (``.tmp-<random>-NAME``), is flushed to disk, and is
renamed into place. A failed write (a full disk, a vanished folder, a permission) removes the
temporary file and becomes one ``StorageError`` line naming the final path, so a rerun finds
nothing half-written and resumes.

An object store has no atomic rename, and needs none: an object appears under its key only
once its upload (one PUT, or a multipart upload's completion) has succeeded, so a URL is written
in place and a killed writer leaves no object. Completion markers, written after what they
vouch for, stay the commit points on both.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from goldpan.errors import storage_error
from goldpan.util.storage import AnyPath, is_local, to_path

TEMPORARY_PREFIX = ".tmp-"


def temporary_sibling(path: AnyPath) -> AnyPath:
    return path.with_name(f"{TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}-{path.name}")


@contextmanager
def atomically(path: str | Path) -> Iterator[AnyPath]:
    """A temporary name to write to, renamed to ``path`` once the block succeeded (a URL: the
    final key itself; its upload completes only when the block did)."""
    path = to_path(path)
    if not is_local(path):
        try:
            yield path
        except OSError as error:
            raise storage_error(error, path) from None
        return
    tmp = temporary_sibling(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise storage_error(error, path) from None
    except BaseException:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes | memoryview, fsync: bool = True) -> None:
    """``data`` whole at ``path`` or nothing; ``fsync=False`` for files a later marker vouches
    for (the marker is what must reach the disk)."""
    with atomically(path) as tmp, tmp.open("wb") as handle:
        handle.write(data)
        if fsync and is_local(tmp):
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_parquet(table: Any, path: str | Path) -> None:
    """A ``pyarrow.Table`` as a zstd-compressed Parquet file."""
    import pyarrow.parquet as pq

    with atomically(path) as tmp:
        if is_local(tmp):
            pq.write_table(table, tmp, compression="zstd")
        else:  # one upload through the store's filesystem: the object appears when it is done
            with tmp.open("wb") as handle:
                pq.write_table(table, handle, compression="zstd")


def atomic_write_json(path: str | Path, payload: Any, sort_keys: bool = False) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=sort_keys, default=str))


def atomic_write_array(path: str | Path, array: Any) -> None:
    """A numpy array as an ``.npy`` file, whole or absent (not fsynced: fit files are scratch
    that the stage's state, written after them, vouches for)."""
    import numpy as np

    with atomically(path) as tmp, tmp.open("wb") as handle:
        np.save(handle, array)
