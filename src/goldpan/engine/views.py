"""Text views of conversations: how every text step works on chat and preference records.

A step reads and writes ``text``. For a chat or preference record the engine builds that text
from the turns the step's ``on:`` option names (or the step's declared default side), calls the
step, and carries the outcome back to the record:

- a step that only decides (a filter, dedup, a score) sees one row per record whose text is the
  chosen turns joined by a blank line; its rejects and new columns apply to the record as they
  are;
- a step that rewrites text (``rewrites_text``: PII redaction, normalisation, span cutting) sees
  one row per chosen turn, so each rewritten text goes back into the turn it came from and the
  conversation keeps its structure. A record is rejected when any of its turns is (the first
  turn's reason); a count the step adds per turn (an integer column) is summed over the turns,
  any other new column takes its first turn's value.

No step needs code of its own for conversations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from goldpan.data.chat_records import (
    CHOSEN,
    MESSAGES,
    MESSAGES_TYPE,
    PREFERENCE_COLUMNS,
    PROMPT,
    REJECTED,
    RecordKind,
    record_kind,
    transcripts,
)
from goldpan.data.schema import ID, TEXT, TEXT_TYPE, is_reject_column
from goldpan.engine.step import GlobalStep, Step, TextSide, ViewName
from goldpan.errors import GoldpanError

VIEW_SEPARATOR = "\n\n"
CHAT_VIEWS: tuple[str, ...] = ("all", "user", "assistant", "system", "last_user",
                               "last_assistant")
PREFERENCE_VIEWS: tuple[str, ...] = ("all", PROMPT, CHOSEN, REJECTED)
KIND_VIEWS: dict[str, tuple[str, ...]] = {"chat": CHAT_VIEWS, "preference": PREFERENCE_VIEWS}
# The view a step's declared side means for each kind of record.
SIDE_VIEWS: dict[str, dict[str, str]] = {
    "chat": {"prompt": "user", "answer": "assistant", "all": "all"},
    "preference": {"prompt": PROMPT, "answer": CHOSEN, "all": "all"},
}
assert set(CHAT_VIEWS) | set(PREFERENCE_VIEWS) == set(get_args(ViewName))
assert set(SIDE_VIEWS["chat"]) == set(get_args(TextSide))


def default_views(side: TextSide | None) -> dict[str, str]:
    """What a step reads of each kind of record when its recipe entry has no ``on:``."""
    if side is None:
        return {"chat": "whole record", "preference": "whole record"}
    return {kind: views[side] for kind, views in SIDE_VIEWS.items()}


def check_records(step: Step, kind: RecordKind, origin: str) -> None:
    """A recipe error when the step cannot work on the run's records, or its ``on:`` does not
    fit them."""
    if kind not in step.record_kinds:
        raise GoldpanError(f"{origin}: step {step.name!r} works on {' or '.join(step.record_kinds)}"
                           f" records, and input.kind is {kind!r}")
    on = getattr(step.options, "on", None)
    if on is None:
        return
    if kind == "text":
        raise GoldpanError(f"{origin}.on: {on!r} needs chat or preference records "
                           "(input.kind: chat or preference)")
    if on not in KIND_VIEWS[kind]:
        raise GoldpanError(f"{origin}.on: {kind} records have no view {on!r} (choose from: "
                           f"{', '.join(KIND_VIEWS[kind])})")


def view_name(step: Step, kind: RecordKind) -> str | None:
    """The view the step reads of records of ``kind``, None for the whole record."""
    on = getattr(step.options, "on", None)
    if on is not None:
        return on
    return None if step.text_side is None else SIDE_VIEWS[kind][step.text_side]


@dataclass
class TurnSlots:
    """The chosen turns of a table, in record order: which record, which turn column, which
    turn, and its content."""

    rows: np.ndarray
    columns: list[str]
    turns: np.ndarray
    contents: list[str]


def _chosen_turns(column: pa.ChunkedArray | pa.Array, roles: set[str] | None, last: bool
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    flat = array.flatten()
    if len(flat) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, []
    parents = pc.list_parent_indices(array).to_numpy()
    offsets = array.offsets.to_numpy()
    turns = offsets[0] + np.arange(len(flat)) - offsets[parents]
    keep = np.ones(len(flat), bool)
    if roles is not None:
        keep = np.isin(flat.field("role").to_numpy(zero_copy_only=False), list(roles))
    if last:
        chosen = np.flatnonzero(keep)
        final = np.ones(len(chosen), bool)
        final[:-1] = parents[chosen][1:] != parents[chosen][:-1]
        keep = np.zeros(len(flat), bool)
        keep[chosen[final]] = True
    contents = flat.field("content").filter(pa.array(keep)).to_pylist()
    return parents[keep], turns[keep], contents


def turn_slots(table: pa.Table, kind: RecordKind, view: str) -> TurnSlots:
    if kind == "chat":
        role = view.removeprefix("last_")
        roles = None if view == "all" else {role}
        rows, turns, contents = _chosen_turns(table.column(MESSAGES), roles,
                                              view.startswith("last_"))
        return TurnSlots(rows, [MESSAGES] * len(rows), turns, contents)
    names = PREFERENCE_COLUMNS if view == "all" else (view,)
    parts = [(name, *_chosen_turns(table.column(name), None, False)) for name in names]
    rows = np.concatenate([p[1] for p in parts])
    order = np.argsort(rows, kind="stable")  # record by record, prompt before the answers
    columns = [name for name, r, _, _ in parts for _ in range(len(r))]
    contents = [c for p in parts for c in p[3]]
    return TurnSlots(rows[order], [columns[i] for i in order],
                     np.concatenate([p[2] for p in parts])[order], [contents[i] for i in order])


# ---------------------------------------------------------------------------- joined view


def joined_view(table: pa.Table, slots: TurnSlots) -> pa.Table:
    """One row per record: its chosen turns joined by a blank line ("" when it has none)."""
    pieces: list[list[str]] = [[] for _ in range(table.num_rows)]
    for row, content in zip(slots.rows.tolist(), slots.contents, strict=True):
        pieces[row].append(content)
    texts = pa.array([VIEW_SEPARATOR.join(p) for p in pieces], TEXT_TYPE)
    return table.set_column(table.schema.get_field_index(TEXT), TEXT, texts)


def _joined_back(step: Step, table: pa.Table, view: pa.Table, result: pa.Table) -> pa.Table:
    if not result.column(TEXT).equals(view.column(TEXT)):
        raise GoldpanError(
            f"step {step.name!r} changed the text of conversations but does not declare "
            "rewrites_text, so goldpan cannot put the text back into turns: set "
            "rewrites_text = True on the step class"
        )
    return result.set_column(result.schema.get_field_index(TEXT), TEXT, table.column(TEXT))


# ---------------------------------------------------------------------------- turn view


def turn_view(table: pa.Table, slots: TurnSlots) -> pa.Table:
    """One row per chosen turn, the record's other columns repeated, ids ``ID#COLUMN:TURN``."""
    view = table.take(pa.array(slots.rows, pa.int64()))
    ids = [f"{record}#{column}:{turn}" for record, column, turn in
           zip(view.column(ID).to_pylist(), slots.columns, slots.turns.tolist(), strict=True)]
    view = view.set_column(view.schema.get_field_index(ID), ID, pa.array(ids, pa.string()))
    return view.set_column(view.schema.get_field_index(TEXT), TEXT,
                           pa.array(slots.contents, TEXT_TYPE))


def _first_per_record(values: pa.ChunkedArray | pa.Array, rows: np.ndarray, n: int) -> pa.Array:
    """For each record, the first non-null value among its turns (null when none)."""
    picked: list[int | None] = [None] * n
    valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
    for position in np.flatnonzero(valid)[::-1].tolist():  # backwards: the first one wins
        picked[int(rows[position])] = position
    return pc.take(values, pa.array(picked, pa.int64()))


def _summed_per_record(values: pa.ChunkedArray | pa.Array, rows: np.ndarray, n: int
                       ) -> pa.Array:
    numbers = pc.fill_null(values, 0).to_numpy(zero_copy_only=False).astype(np.int64)
    totals = np.bincount(rows, weights=numbers, minlength=n).astype(np.int64)
    has_turns = np.bincount(rows, minlength=n) > 0
    return pa.array(totals, values.type, mask=~has_turns)


def _turns_back(table: pa.Table, kind: RecordKind, slots: TurnSlots, result: pa.Table
                ) -> pa.Table:
    n = table.num_rows
    new_texts = result.column(TEXT).to_pylist()
    changed = [i for i, (old, new) in enumerate(zip(slots.contents, new_texts, strict=True))
               if old != new]
    if changed:
        touched = sorted({slots.columns[i] for i in changed})
        turns = {name: table.column(name).to_pylist() for name in touched}
        for i in changed:
            turns[slots.columns[i]][int(slots.rows[i])][int(slots.turns[i])]["content"] = \
                new_texts[i]
        for name, values in turns.items():
            table = table.set_column(table.schema.get_field_index(name), name,
                                     pa.array(values, MESSAGES_TYPE))
        table = table.set_column(table.schema.get_field_index(TEXT), TEXT,
                                 transcripts(table, kind))
    for name in result.column_names:
        if name in table.column_names:
            continue
        values = result.column(name)
        if pa.types.is_integer(values.type) and not is_reject_column(name):
            table = table.append_column(name, _summed_per_record(values, slots.rows, n))
        else:
            table = table.append_column(name, _first_per_record(values, slots.rows, n))
    return table


# ---------------------------------------------------------------------------- the engine's call


def _chosen(step: Step, table: pa.Table) -> tuple[RecordKind, TurnSlots] | None:
    """The record kind and the turns the step reads, or None when it reads the table as is."""
    kind = record_kind(table)
    view = view_name(step, kind) if kind != "text" else None
    return None if view is None else (kind, turn_slots(table, kind, view))


def call_on_records(step: Step, table: pa.Table, call: Callable[[pa.Table], pa.Table]
                    ) -> pa.Table:
    """``call(table)`` through the step's view when the records are conversations."""
    chosen = _chosen(step, table)
    if chosen is None:
        return call(table)
    kind, slots = chosen
    if step.rewrites_text:
        result = call(turn_view(table, slots)) if len(slots.rows) else None
        return table if result is None else _turns_back(table, kind, slots, result)
    shown = joined_view(table, slots)
    return _joined_back(step, table, shown, call(shown))


def fit_on_records(step: GlobalStep, table: pa.Table, call: Callable[[pa.Table], Any]) -> Any:
    """A global step's fit over the same view its apply phase will see."""
    chosen = _chosen(step, table)
    if chosen is None:
        return call(table)
    slots = chosen[1]
    return call(turn_view(table, slots) if step.rewrites_text else joined_view(table, slots))
