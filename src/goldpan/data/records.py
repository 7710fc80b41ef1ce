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

from goldpan.data.chat_layouts import BadConversation
from goldpan.data.chat_records import (
    MESSAGES_TYPE,
    TRANSCRIPT_KEY,
    bad_messages_reason,
    conversation_row,
    turn_columns,
)
from goldpan.data.config import InputConfig
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
    # The line (or row) of each kept record, so that an error can name where a record came from.
    positions: pa.Array | None = None


def id_as_text(value: Any) -> str | None:
    """A JSON id as goldpan keeps it: a string unchanged, an integer as its decimal string.
    Anything else (a float, a boolean, an array, an object) raises ``InvalidId``: JSON parsers
    do not keep a float's text (``7.0`` and ``7``, ``1e3`` and ``1000`` parse alike), so it
    cannot serve as an exact key. ``None`` means the record has no id."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise InvalidId(type(value).__name__)


class InvalidId(ValueError):
    """An id value that is neither a string nor an integer."""


def id_column_as_text(
    column: pa.Array | pa.ChunkedArray,
) -> tuple[pa.Array | pa.ChunkedArray, pa.Array | pa.ChunkedArray | None]:
    """A column of ids as strings (the rule of ``id_as_text``), and a mask of the rows whose id
    has a type that cannot be an id (None when every row's can)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = pc.cast(column, kind.value_type), kind.value_type
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_null(kind)
    ):
        return pc.cast(column, pa.string()), None
    return pa.nulls(len(column), pa.string()), pc.is_valid(column)


def table_from_rows(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows of parsed JSON as a table. A field whose values mix types becomes a text column:
    strings stay exactly as they were, anything else is written as its JSON text (``7``,
    ``1.5``, ``true``, ``{"a": 1}``), so a string is never quoted twice. Fields are gathered
    from every row (``Table.from_pylist`` would take them from the first row alone)."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    columns = {}
    for name in names:
        values = [row.get(name) for row in rows]
        try:
            columns[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            columns[name] = pa.array([_as_text(v) for v in values], pa.string())
    return pa.table(columns)


def conversation_rows_table(rows: Sequence[dict[str, Any]], config: InputConfig) -> pa.Table:
    """Rows that ``conversation_row`` made, as a table whose turn columns are typed exactly."""
    names = turn_columns(config.kind)
    turns = {name: pa.array([row[name] for row in rows], MESSAGES_TYPE) for name in names}
    table = table_from_rows([{k: v for k, v in row.items() if k not in names} for row in rows])
    for name, column in turns.items():
        table = table.append_column(name, column)
    return table


def shape_conversations(
    rows: Sequence[dict[str, Any]], positions: Sequence[int], config: InputConfig, label: str
) -> ShapedChunk:
    """Parsed input rows as chat or preference records; a row that is no conversation becomes
    a ``read:bad_messages:RULE`` reject with its file, line and (valid) id."""
    good: list[dict[str, Any]] = []
    good_positions: list[int] = []
    rejects: list[InputReject] = []
    for row, position in zip(rows, positions, strict=True):
        try:
            good.append(conversation_row(row, config.kind, config.chat_format))
            good_positions.append(position)
        except BadConversation as error:
            rejects.append(InputReject(
                position, read_reason(bad_messages_reason(error)),
                orjson.dumps(row, default=str).decode()[:100_000], _valid_id(row, config),
            ))
    source = default_source(config, label)
    own = rejects_table(rejects, label, source)
    counts: dict[str, int] = {}
    for reject in rejects:
        counts[reject.reason] = counts.get(reject.reason, 0) + 1
    if not good:
        return ShapedChunk(pa.table({}), own, counts, pa.array([], pa.int64()))
    shaped = shape_records(
        conversation_rows_table(good, config), pa.array(good_positions, pa.int64()),
        config.model_copy(update={"text_field": TRANSCRIPT_KEY}), label,
    )
    for reason, count in shaped.reject_counts.items():
        counts[reason] = counts.get(reason, 0) + count
    both = pa.concat_tables([shaped.rejects, own], promote_options="permissive")
    return ShapedChunk(shaped.records, both, counts, shaped.positions)


def _valid_id(row: dict[str, Any], config: InputConfig) -> str | None:
    if config.id_field is None:
        return None
    try:
        return id_as_text(row.get(config.id_field))
    except InvalidId:
        return None


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


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

    invalid_ids = None
    if config.id_field is not None:
        if config.id_field in table.column_names:
            ids, invalid_ids = id_column_as_text(table.column(config.id_field))
            # An empty id names nothing: it is missing (two of them are not duplicates).
            ids = pc.if_else(pc.fill_null(pc.equal(ids, ""), False),
                             pa.scalar(None, pa.string()), ids)
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
        if invalid_ids is not None:
            reasons = pc.if_else(invalid_ids, read_reason("invalid_id"), reasons)
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
    positions = pc.cast(positions, pa.int64())
    if not pc.any(rejected_mask).as_py():
        return ShapedChunk(shaped, empty_rejects(), positions=positions)
    kept = shaped.filter(pc.invert(rejected_mask))
    bad = shaped.filter(rejected_mask)
    bad_reasons = reasons.filter(rejected_mask)
    bad_positions = positions.filter(rejected_mask)
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
    kept_positions = positions.filter(pc.invert(rejected_mask))
    return ShapedChunk(kept, rejects, count_values(bad_reasons), kept_positions)


def count_values(values: pa.Array | pa.ChunkedArray) -> dict[str, int]:
    """How often each non-null value occurs: the stats' rejects-by-reason."""
    counts = pc.value_counts(pc.drop_null(values))
    return {item["values"].as_py(): item["counts"].as_py() for item in counts}
