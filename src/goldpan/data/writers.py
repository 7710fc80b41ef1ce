"""Writing the kept records: Parquet, JSONL (optionally gzipped), or an HF dataset folder,
split into shards of ``shard_records`` records."""

from __future__ import annotations

import gzip
import io
import math
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from goldpan.data.chat_output import (
    ChatOutput,
    is_conversation_table,
    trainer_rows,
    trainer_table,
)
from goldpan.data.chat_records import CHAT_LAYOUT, MESSAGES, PREFERENCE_COLUMNS
from goldpan.data.chunking import rechunk
from goldpan.util.atomic import atomic_write_bytes, atomic_write_parquet
from goldpan.util.storage import (
    AnyPath,
    is_local,
    local_copy,
    parquet_rows,
    parquet_schema,
    read_parquet,
    to_path,
    upload_file,
)


def _jsonl_bytes(table: pa.Table, chat: ChatOutput | None = None) -> bytes:
    rows = (trainer_rows(table, chat) if chat is not None and is_conversation_table(table)
            else table.to_pylist())
    lines = [orjson.dumps(row, option=orjson.OPT_SERIALIZE_NUMPY) for row in rows]
    return b"\n".join(lines) + b"\n" if lines else b""


def _each_footer(fn: Callable[[Path], Any], paths: Sequence[Path]) -> list[Any]:
    """``fn`` over the parts' Parquet footers; on a store many at a time (each is a round trip
    or two, and the driver would otherwise wait for them one by one)."""
    if all(is_local(p) for p in paths):
        return [fn(p) for p in paths]
    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(fn, paths))


def _part_schema(path: Path) -> pa.Schema:
    return parquet_schema(path).remove_metadata()


def unify_schemas(schemas: Sequence[pa.Schema]) -> pa.Schema | None:
    """One schema for all parts: every column any part has, types promoted where they differ
    (JSON inputs give parts with different optional fields); a column whose types cannot be
    reconciled becomes text."""
    if not schemas:
        return None
    fields: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for field in schema:
            fields.setdefault(field.name, []).append(field.type)
    unified = []
    for name, types in fields.items():
        try:
            merged = (
                pa.unify_schemas(
                    [pa.schema([(name, t)]) for t in types], promote_options="permissive"
                )
                .field(name)
                .type
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            merged = pa.large_string()
        unified.append(pa.field(name, merged))
    return pa.schema(unified)


def _as_json_text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pa.array(
        [None if v is None else orjson.dumps(v, default=str).decode() for v in column.to_pylist()],
        pa.large_string(),
    )


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table with exactly the schema's columns, in its order (missing ones null)."""
    columns = []
    for field in schema:
        if field.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, field.type))
            continue
        column = table.column(field.name)
        try:
            columns.append(column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            columns.append(_as_json_text(column))
    return pa.table(columns, schema=schema)


def _link_or_copy(source: AnyPath, target: AnyPath) -> None:
    """A hard link where the filesystem has them, else a copy (on an object store, made by
    the store itself: the bytes do not travel through this machine)."""
    if is_local(source) and is_local(target):
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
    elif not is_local(source) and not is_local(target) and source.protocol == target.protocol:
        source.fs.copy(source.path, target.path)
    else:
        target.write_bytes(source.read_bytes())


# Runs ``fn(*args)`` for each args tuple, in any order and wherever it likes (the run's
# executor: the output's shards are written in parallel by the workers).
PartMapper = Callable[[Callable[..., Any], list[tuple]], Iterable[Any]]


def _in_this_process(fn: Callable[..., Any], calls: list[tuple]) -> list[Any]:
    return [fn(*args) for args in calls]


def write_records(
    part_paths: list[Path], out_dir: Path, fmt: str, shard_records: int | None,
    map_parts: PartMapper = _in_this_process, part_rows: Sequence[int] | None = None,
    chat: ChatOutput | None = None,
) -> list[str]:
    """Write the parts' records, in part order, as shards; returns the shard file names.
    ``part_rows``: each part's row count where the caller knows it (else read from footers).

    Without ``shard_records`` each non-empty part is one shard, written by ``map_parts`` (in
    parallel when it is the run's executor), and Parquet parts whose schema is already the
    output's are linked into place (on a store: copied by the store): the output costs no
    copy. Conversations are written in ``chat``'s layouts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = part_rows if part_rows is not None else _each_footer(parquet_rows, part_paths)
    non_empty = [p for p, count in zip(part_paths, rows, strict=True) if count > 0]
    if fmt == "hf":
        per_shard = shard_records or max(1, math.ceil(sum(rows) / max(1, len(non_empty))))
        return _write_hf(non_empty, out_dir, per_shard, chat)
    schemas = _each_footer(_part_schema, non_empty)
    schema = unify_schemas(schemas)
    if schema is not None and not is_conversation_table(schema):
        chat = None
    elif chat is not None:
        chat = chat.for_output(_turn_columns(p) for p in non_empty)
    suffix = {"parquet": ".parquet", "jsonl": ".jsonl", "jsonl.gz": ".jsonl.gz"}[fmt]
    if shard_records is None:
        names = [f"part-{index:05d}{suffix}" for index in range(len(non_empty))]
        calls = [(str(path), str(out_dir / name), fmt, None if own.equals(schema) else schema,
                  chat)
                 for path, name, own in zip(non_empty, names, schemas, strict=True)]
        list(map_parts(write_part_shard, calls))
        return names
    tables = (read_parquet(path) for path in non_empty)
    if schema is not None:
        tables = (conform(table, schema) for table in tables)
    names = []
    for index, shard in enumerate(rechunk(tables, shard_records)):
        name = f"part-{index:05d}{suffix}"
        _write_shard(shard, out_dir / name, fmt, chat)
        names.append(name)
    return names


def _turn_columns(path: Path) -> pa.Table:
    """The columns of a part that decide how its conversations are written (not the text)."""
    names = parquet_schema(path).names
    wanted = [n for n in (MESSAGES, *PREFERENCE_COLUMNS, CHAT_LAYOUT) if n in names]
    return read_parquet(path, columns=wanted)


def write_part_shard(part: str, target: str, fmt: str, schema: pa.Schema | None,
                     chat: ChatOutput | None = None) -> None:
    """One part as one output shard, conformed to ``schema`` (None: the part's schema is the
    output's already). A task: picklable arguments, paths as strings."""
    source, destination = to_path(part), to_path(target)
    if fmt == "parquet" and schema is None and chat is None:
        _link_or_copy(source, destination)
        return
    table = read_parquet(source)
    _write_shard(conform(table, schema) if schema is not None else table, destination, fmt, chat)


def _write_shard(table: pa.Table, path: Path, fmt: str, chat: ChatOutput | None = None) -> None:
    if fmt == "parquet":
        if chat is not None and is_conversation_table(table):
            table = trainer_table(table, chat)
        atomic_write_parquet(table, path)
        return
    data = _jsonl_bytes(table, chat)
    if fmt == "jsonl.gz":
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
            handle.write(data)
        data = buffer.getvalue()
    atomic_write_bytes(path, data)


def _write_hf(part_paths: list[Path], out_dir: Path, shard_records: int,
              chat: ChatOutput | None = None) -> list[str]:
    """An HF dataset folder that ``datasets.load_from_disk`` opens (built on this machine and
    uploaded when the run directory is a URL)."""
    if not is_local(out_dir):
        import tempfile

        with tempfile.TemporaryDirectory(prefix="goldpan-hf-") as scratch:
            names = _write_hf([local_copy(p) for p in part_paths], Path(scratch), shard_records,
                              chat)
            for name in [*names, "dataset/dataset_info.json", "dataset/state.json"]:
                upload_file(Path(scratch) / name, out_dir / name)
        return names
    import datasets

    cache = out_dir.parent / ".hf-cache"
    schema = unify_schemas([_part_schema(p) for p in part_paths])
    if part_paths and chat is not None and schema is not None and is_conversation_table(schema):
        chat = chat.for_output(_turn_columns(p) for p in part_paths)
        tables = [trainer_table(conform(read_parquet(p), schema), chat) for p in part_paths]
        dataset = datasets.Dataset(pa.concat_tables(tables, promote_options="permissive"))
    elif part_paths:
        dataset = datasets.Dataset.from_parquet([str(p) for p in part_paths], cache_dir=str(cache))
    else:
        dataset = datasets.Dataset.from_dict({"id": [], "text": [], "source": []})
    shards = max(1, math.ceil(len(dataset) / shard_records))
    target = out_dir / "dataset"
    dataset.save_to_disk(str(target), num_shards=shards)
    shutil.rmtree(cache, ignore_errors=True)
    return sorted(os.path.relpath(p, out_dir) for p in target.glob("*.arrow"))
