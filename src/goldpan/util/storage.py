"""Where goldpan reads and writes: a local path, or a URL any fsspec filesystem serves
(``s3://``, ``gs://``, ``az://``, ``hf://``, ``memory://``).

A URL becomes a ``UPath`` (universal-pathlib), which has the pathlib API, so code that joins,
lists, reads and writes a run directory works the same on a disk and in a bucket; a plain
string stays a ``pathlib.Path`` and pays nothing for the option. What differs between them is
kept here: Parquet through the URL's filesystem, removing a tree, and whether a write needs a
temporary name (see ``util.atomic``).

Credentials and endpoints come from where each filesystem's own library looks (for S3: the
``AWS_*`` variables, ``AWS_ENDPOINT_URL`` included, and ``~/.aws``), never from a recipe, so no
secret reaches a run directory or a log. Listings are not cached: several processes (Ray
workers on other machines) write the same run directory, and a stale listing would hide their
parts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

# Bytes fetched per request when streaming an object (s3fs reads ahead block by block).
READ_BLOCK_BYTES = 8 << 20
# Either kind of path: both have the pathlib API (``/``, ``open``, ``glob``, ``exists``, ...).
AnyPath: TypeAlias = Any


def is_url(value: str | os.PathLike[str]) -> bool:
    """A location with a scheme other than ``file://`` (those are served by fsspec)."""
    text = str(value)
    return "://" in text and not text.startswith("file://")


def to_path(value: str | os.PathLike[str]) -> AnyPath:
    """A ``Path`` for a local location, a ``UPath`` for a URL; a path given stays as it is."""
    if isinstance(value, Path):
        return value
    text = str(value)
    if not is_url(text):
        return Path(text.removeprefix("file://"))
    if not isinstance(value, str):  # a UPath already
        return value
    try:
        from upath import UPath
    except ImportError:
        from goldpan.errors import GoldpanError

        raise GoldpanError(
            f"{value}: reading and writing URLs needs the cloud extra: pip install "
            "'goldpan[cloud]'"
        ) from None
    return UPath(text, use_listings_cache=False)


def is_local(path: Any) -> bool:
    """Whether a path (or location) is on this machine's filesystem."""
    return isinstance(path, Path) or not is_url(path)


def remove_tree(path: AnyPath) -> None:
    """A folder and everything under it (on an object store: every key under the prefix)."""
    if is_local(path):
        shutil.rmtree(path)
    elif path.exists():
        path.fs.rm(path.path, recursive=True)


def _source(path: AnyPath) -> tuple[str, Any]:
    """What pyarrow opens: the local path, or the URL's path and its fsspec filesystem.

    Not pyarrow's own S3 client, though it reads whole Parquet tables about four times faster:
    the AWS C++ SDK behind it is not safe across fork, and workers forked from a driver that
    had used it read corrupt bytes (a part "without Parquet magic bytes", records missing
    without an error) in benchmarks/storage.py."""
    path = to_path(path)
    if is_local(path):
        return str(path), None
    return path.path, path.fs


def read_parquet(path: AnyPath, columns: list[str] | None = None) -> pa.Table:
    import pyarrow.parquet as pq

    where, filesystem = _source(path)
    return pq.read_table(where, columns=columns, filesystem=filesystem)


def parquet_file(path: AnyPath) -> pq.ParquetFile:
    import pyarrow.parquet as pq

    where, filesystem = _source(path)
    return pq.ParquetFile(where, filesystem=filesystem)


def parquet_schema(path: AnyPath) -> pa.Schema:
    import pyarrow.parquet as pq

    where, filesystem = _source(path)
    return pq.read_schema(where, filesystem=filesystem)


def parquet_rows(path: AnyPath) -> int:
    return parquet_file(path).metadata.num_rows


def _cached_download(path: AnyPath, fingerprint: str, fetch: Any) -> Path:
    """Where ``path``'s download lives in this machine's cache (keyed by the URL and the
    fingerprint, so a rewritten object or folder is fetched again), made by ``fetch(partial)``
    under a temporary name the first time and renamed into place whole."""
    import hashlib
    import tempfile
    import uuid

    key = hashlib.sha1(f"{path}|{fingerprint}".encode()).hexdigest()
    target = Path(tempfile.gettempdir()) / "goldpan-storage-cache" / key[:16] / path.name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{uuid.uuid4().hex[:8]}-{target.name}")
        fetch(partial)
        os.replace(partial, target)
    return target


def local_copy(path: AnyPath) -> Path:
    """A file on this machine with the contents of ``path``: the path itself when local, else a
    download kept in a per-machine cache (keyed by URL, size and ETag) for readers that need a
    real file (``np.load`` with ``mmap_mode``, fastText)."""
    if is_local(path):
        return Path(path)
    info = path.fs.info(path.path)
    return _cached_download(path, f"{info.get('size')}|{info.get('ETag', '')}",
                            lambda partial: path.fs.get_file(path.path, str(partial)))


def load_array(path: AnyPath, mmap_mode: Literal["r", "r+", "c"] | None = None) -> Any:
    import numpy as np

    return np.load(local_copy(path), mmap_mode=mmap_mode)


def upload_file(local: Path, path: AnyPath) -> None:
    """A file written on this machine (by a library that writes only to paths) put at ``path``."""
    if is_local(path):
        if Path(path) != local:
            shutil.copyfile(local, path)
        return
    path.fs.put_file(str(local), path.path)


def open_input(location: str | os.PathLike[str], compression: str | None = None) -> Any:
    """A binary stream of a file or URL, read as it is consumed (an object store serves it in
    ranged blocks: the first record comes before the whole file has been downloaded);
    ``compression`` (gzip, zstd) decompresses a URL's stream on the way."""
    path = to_path(location)
    if is_local(path):
        return open(path, "rb")
    return path.open("rb", block_size=READ_BLOCK_BYTES, compression=compression)


def local_folder(path: AnyPath) -> Path:
    """A folder on this machine with the contents of ``path`` (a model or scorer folder at a
    URL, for libraries that load only from disk): downloaded once per machine into a cache
    keyed by the URL and its files' names, sizes and ETags, so a changed folder is fetched
    again."""
    if is_local(path):
        return Path(path)
    root = path.path.rstrip("/")
    files = path.fs.find(root, detail=True)
    if not files:
        raise FileNotFoundError(f"{path}: no such folder, or it is empty")
    listing = sorted((name, info.get("size"), str(info.get("ETag", "")))
                     for name, info in files.items())

    def fetch(partial: Path) -> None:
        for name, _, _ in listing:
            local = partial / name[len(root):].lstrip("/")
            local.parent.mkdir(parents=True, exist_ok=True)
            path.fs.get_file(name, str(local))

    return _cached_download(path, str(listing), fetch)
