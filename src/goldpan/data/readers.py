"""Readers: one input unit (a file, an HF dataset folder, a folder of .txt files) -> chunks.

Every reader yields ``(ShapedChunk, rows_seen)``: the records and the input rejects of a
stretch of the input, and how many input rows that stretch held, which the ledger checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa

from goldpan.data.config import InputConfig
from goldpan.data.inputs import InputFile, split_by_lines
from goldpan.data.jsonl import MAX_REJECTED_LINE_CHARS, read_jsonl
from goldpan.data.records import (
    InputReject,
    ShapedChunk,
    TextFieldNotString,
    default_source,
    read_reason,
    rejects_table,
    shape_conversations,
    shape_records,
)
from goldpan.data.schema import ID, TEXT, TEXT_TYPE
from goldpan.data.warc import read_warc, split_by_records
from goldpan.errors import GoldpanError, storage_error
from goldpan.util.storage import parquet_file, to_path

Chunks = Iterator[tuple[ShapedChunk, int]]


def _shape_table_batches(
    batches: Iterator[pa.RecordBatch], label: str, config: InputConfig
) -> Chunks:
    """Columnar inputs (Parquet, Arrow): rows are numbered from 1 in file order."""
    next_row = 1
    for batch in batches:
        table = pa.Table.from_batches([batch])
        if table.num_rows == 0:
            continue
        if config.kind != "text":
            positions_list = list(range(next_row, next_row + table.num_rows))
            next_row += table.num_rows
            yield shape_conversations(table.to_pylist(), positions_list, config, label), len(
                positions_list)
            continue
        if config.text_field not in table.column_names:
            columns = ", ".join(table.column_names[:12])
            raise GoldpanError(
                f"{label}: no column {config.text_field!r} (has: {columns}); set input.text_field"
            )
        positions = pa.array(range(next_row, next_row + table.num_rows), pa.int64())
        next_row += table.num_rows
        try:
            shaped = shape_records(table, positions, config, label)
        except TextFieldNotString as error:
            raise GoldpanError(
                f"{label}: column {config.text_field!r} holds {error.arrow_type}, expected text; "
                "set input.text_field"
            ) from None
        yield shaped, table.num_rows


def read_parquet(path: str, label: str, config: InputConfig) -> Chunks:
    try:
        parquet = parquet_file(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise GoldpanError(f"{label}: not a readable Parquet file: {error}") from None
    if parquet.metadata.num_rows == 0:
        return
    try:
        yield from _shape_table_batches(
            parquet.iter_batches(batch_size=config.part_records), label, config
        )
    except (pa.ArrowInvalid, OSError) as error:
        raise GoldpanError(f"{label}: cannot read Parquet: {error}") from None


def read_hf_dataset(path: str, label: str, config: InputConfig) -> Chunks:
    """A dataset saved with ``save_to_disk``; a DatasetDict yields its splits in name order."""
    try:
        import datasets
    except ImportError:
        raise GoldpanError(
            "reading HF datasets needs the hf extra: pip install 'goldpan[hf]'"
        ) from None
    try:
        loaded = datasets.load_from_disk(path)
    except Exception as error:  # datasets raises many types for a broken folder
        raise GoldpanError(f"{label}: not a readable HF dataset folder: {error}") from None
    parts = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for split, dataset in sorted(parts, key=lambda item: item[0] or ""):
        table = dataset.with_format("arrow")[:]  # the rows in order, after any select/filter
        split_label = f"{label}/{split}" if split else label
        yield from _shape_table_batches(
            iter(table.to_batches(config.part_records)), split_label, config
        )


def _read_text_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise storage_error(error, path) from None


def read_text_files(path: str, label: str, config: InputConfig) -> Chunks:
    """Each .txt file is one document whose id is its path: a folder is walked in name order."""
    root = to_path(path)
    files = sorted(root.rglob("*.txt")) if root.is_dir() else [root]
    source = config.source or (root.name if root.is_dir() else default_source(config, label))
    part_records = config.part_records
    assert part_records is not None, "resolved by the plan"
    batch_ids: list[str] = []
    batch_texts: list[str] = []
    batch_positions: list[int] = []
    rejects: list[InputReject] = []

    def flush() -> tuple[ShapedChunk, int]:
        records = pa.table(
            {
                ID: pa.array(batch_ids, pa.string()),
                TEXT: pa.array(batch_texts, TEXT_TYPE),
                "source": pa.array([source] * len(batch_ids), pa.string()),
            }
        )
        counts = dict(Counter(reject.reason for reject in rejects))
        chunk = ShapedChunk(
            records,
            rejects_table(rejects, label, source),
            counts,
            pa.array(batch_positions, pa.int64()),
        )
        seen = len(batch_ids) + len(rejects)
        for batch in (batch_ids, batch_texts, batch_positions, rejects):
            batch.clear()
        return chunk, seen

    for index, file in enumerate(files, start=1):
        record_id = f"{label}/{file.relative_to(root)}" if root.is_dir() else label
        raw = _read_text_file(file)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            if config.on_invalid_utf8 == "reject":
                rejects.append(
                    InputReject(
                        index,
                        read_reason("invalid_utf8"),
                        raw[:MAX_REJECTED_LINE_CHARS].decode("utf-8", "replace"),
                        record_id,
                    )
                )
                continue
            text = raw.decode("utf-8", errors="replace")
        if config.max_text_chars is not None and len(text) > config.max_text_chars:
            rejects.append(InputReject(index, read_reason("text_too_long"), None, record_id))
            continue
        batch_ids.append(record_id)
        batch_texts.append(text)
        batch_positions.append(index)
        if len(batch_ids) + len(rejects) >= part_records:
            yield flush()
    if batch_ids or rejects:
        yield flush()


def read_slots(path: str, label: str, config: InputConfig) -> Chunks:
    """``count`` empty text records (format slots), in parts of ``part_records``."""
    count = int(path.split(":", 1)[1])
    step = config.part_records or count
    for start in range(1, count + 1, step):
        numbers = list(range(start, min(count, start + step - 1) + 1))
        positions = pa.array(numbers, pa.int64())
        records = pa.table({
            ID: pa.array([f"{label}:{n}" for n in numbers], pa.string()),
            TEXT: pa.array([""] * len(numbers), TEXT_TYPE),
            "source": pa.array([config.source or "slots"] * len(numbers), pa.string()),
        })
        yield ShapedChunk(records, rejects_table([], label, "slots"), {}, positions), len(numbers)


READERS: dict[str, Callable[..., Chunks]] = {
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "hf": read_hf_dataset,
    "text": read_text_files,
    "textdir": read_text_files,
    "warc": read_warc,
    "slots": read_slots,
}


def split_input(unit: InputFile, target_bytes: int) -> list[InputFile]:
    """Byte ranges of a big file that several workers can read, where its format allows:
    plain JSONL on line breaks, WARC at record starts; any other unit whole."""
    if unit.format == "jsonl":
        return split_by_lines(unit, target_bytes)
    if unit.format == "warc":
        return split_by_records(unit, target_bytes)
    return [unit]


def read_input(unit: InputFile, config: InputConfig) -> Chunks:
    try:
        reader = READERS[unit.format]
    except KeyError:
        raise GoldpanError(f"{unit.label}: no reader for format {unit.format!r}") from None
    if unit.format in ("jsonl", "warc"):  # these read byte ranges of a file
        return reader(unit, config)
    return reader(unit.path, unit.label, config)
