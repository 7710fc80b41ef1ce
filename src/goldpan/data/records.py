"""Turning whatever a reader produced into goldpan records plus input rejects.

Readers hand over a table in the user's field names and the position (line or row) of each
row. Here the text and id fields get their goldpan names, ids are derived where the input
has none, and every row that cannot be a record becomes a reject with its file and line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from goldpan.data.schema import (
    ID,
    REJECT_FILE,
    REJECT_LINE,
    REJECT_REASON,
    REJECT_STEP,
    SOURCE,
    TEXT,
    TEXT_TYPE,
)
from goldpan.recipe import InputConfig

READ_STEP = "read"


def read_reason(rule: str) -> str:
    return f"{READ_STEP}:{rule}"


@dataclass
class InputReject:
    """A row that could not become a record, before it is turned into a table."""

    position: int
    reason: str
    text: str | None = None
    record_id: str | None = None


@dataclass
class ShapedChunk:
    records: pa.Table
    rejects: pa.Table
    reject_counts: dict[str, int] = field(default_factory=dict)


def table_from_rows(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows of parsed JSON as a table; a field whose values mix types is kept as JSON text."""
    try:
        return pa.Table.from_pylist(list(rows))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[name] = pa.array(
                [None if v is None else orjson.dumps(v).decode() for v in values], pa.string()
            )
    return pa.table(columns)


def _derived_ids(label: str, positions: pa.Array) -> pa.Array:
    as_text = pc.cast(positions, pa.string())
    return pc.binary_join_element_wise(pa.scalar(label), as_text, ":")


def empty_rejects() -> pa.Table:
    return pa.table(
        {
            ID: pa.array([], pa.string()),
            TEXT: pa.array([], TEXT_TYPE),
            SOURCE: pa.array([], pa.string()),
            REJECT_STEP: pa.array([], pa.string()),
            REJECT_REASON: pa.array([], pa.string()),
            REJECT_FILE: pa.array([], pa.string()),
            REJECT_LINE: pa.array([], pa.int64()),
        }
    )


def rejects_table(rejects: Sequence[InputReject], label: str, source: str) -> pa.Table:
    if not rejects:
        return empty_rejects()
    return pa.table(
        {
            ID: pa.array([r.record_id or f"{label}:{r.position}" for r in rejects], pa.string()),
            TEXT: pa.array([r.text for r in rejects], TEXT_TYPE),
            SOURCE: pa.array([source] * len(rejects), pa.string()),
            REJECT_STEP: pa.array([READ_STEP] * len(rejects), pa.string()),
            REJECT_REASON: pa.array([r.reason for r in rejects], pa.string()),
            REJECT_FILE: pa.array([label] * len(rejects), pa.string()),
            REJECT_LINE: pa.array([r.position for r in rejects], pa.int64()),
        }
    )


def default_source(config: InputConfig, label: str) -> str:
    if config.source:
        return config.source
    name = label.rsplit("/", 1)[-1]
    return name.split(".", 1)[0] or name


class TextFieldNotString(Exception):
    """The text column is not a string column: the caller decides (slow path or error)."""

    def __init__(self, arrow_type: pa.DataType) -> None:
        super().__init__(str(arrow_type))
        self.arrow_type = arrow_type


def shape_records(
    table: pa.Table, positions: pa.Array, config: InputConfig, label: str
) -> ShapedChunk:
    """Rename fields to goldpan's, derive ids, and split off rows that cannot be records."""
    source = default_source(config, label)
    n = table.num_rows
    if config.text_field in table.column_names:
        text = table.column(config.text_field)
        if not (
            pa.types.is_string(text.type)
            or pa.types.is_large_string(text.type)
            or pa.types.is_null(text.type)
        ):
            raise TextFieldNotString(text.type)
        text = pc.cast(text, TEXT_TYPE)
    else:
        text = pa.nulls(n, TEXT_TYPE)

    if config.id_field is not None:
        if config.id_field in table.column_names:
            ids = pc.cast(table.column(config.id_field), pa.string())
        else:
            ids = pa.nulls(n, pa.string())
    else:
        ids = _derived_ids(label, positions)

    if config.source_field in table.column_names:
        sources = pc.cast(table.column(config.source_field), pa.string())
        sources = pc.fill_null(sources, source)
    else:
        sources = pa.array([source] * n, pa.string())

    reasons = pa.nulls(n, pa.string())
    if config.id_field is not None:
        reasons = pc.if_else(pc.is_null(ids), read_reason("missing_id"), reasons)
    reasons = pc.if_else(pc.is_null(text), read_reason("missing_text"), reasons)
    if config.max_text_chars is not None:
        too_long = pc.fill_null(pc.greater(pc.utf8_length(text), config.max_text_chars), False)
        reasons = pc.if_else(
            pc.and_(too_long, pc.is_null(reasons)), read_reason("text_too_long"), reasons
        )

    drop = {config.text_field, config.source_field}
    if config.id_field is not None:
        drop.add(config.id_field)
    extra = table.drop_columns(
        [c for c in table.column_names if c in drop or c in (ID, TEXT, SOURCE)]
    )
    columns = {ID: ids, TEXT: text, SOURCE: sources}
    for name in extra.column_names:
        columns[name] = extra.column(name)
    shaped = pa.table(columns)

    rejected_mask = pc.is_valid(reasons)
    if not pc.any(rejected_mask).as_py():
        return ShapedChunk(shaped, empty_rejects())
    kept = shaped.filter(pc.invert(rejected_mask))
    bad = shaped.filter(rejected_mask)
    bad_reasons = reasons.filter(rejected_mask)
    bad_positions = pc.cast(positions, pa.int64()).filter(rejected_mask)
    bad_ids = pc.coalesce(bad.column(ID), _derived_ids(label, bad_positions))
    # Huge texts are not copied into the rejects: the file and line say where they are.
    bad_text = pc.if_else(
        pc.equal(bad_reasons, read_reason("text_too_long")),
        pa.nulls(bad.num_rows, TEXT_TYPE),
        bad.column(TEXT),
    )
    rejects = pa.table(
        {
            ID: bad_ids,
            TEXT: bad_text,
            SOURCE: bad.column(SOURCE),
            REJECT_STEP: pa.array([READ_STEP] * bad.num_rows, pa.string()),
            REJECT_REASON: bad_reasons,
            REJECT_FILE: pa.array([label] * bad.num_rows, pa.string()),
            REJECT_LINE: bad_positions,
        }
    )
    return ShapedChunk(kept, rejects, count_values(bad_reasons))


def count_values(values: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """How often each non-null value occurs: the stats' rejects-by-reason."""
    counts = pc.value_counts(pc.drop_null(values))
    return {item["values"].as_py(): item["counts"].as_py() for item in counts}
