"""Conversations and preference pairs as Arrow columns, and reading them into records.

A chat record holds ``messages``; a preference record holds ``prompt``, ``chosen`` and
``rejected``. Each is a list of turns typed ``MESSAGES_TYPE``: ``role``, ``content`` and
``extra``, the turn's other fields (``tool_calls``, ``name``) as JSON text, so that one Arrow
type holds every conversation and nothing a turn carried is lost. ``chat_layout`` remembers
the layout each record was read from (a preference's ``standard`` strings or
``conversational`` lists), so that writers can give a trainer back what it was given. The
``text`` column holds a transcript (``role: content`` paragraphs): what the report, the
rejects and the inspector show; steps see a view the engine builds from the turns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import orjson
import pyarrow as pa

from goldpan.data.chat_layouts import (
    LAYOUT_FIELDS,
    BadConversation,
    ChatLayout,
    Turn,
    chat_from_row,
    detect_chat_layout,
    preference_from_row,
)
from goldpan.data.schema import TEXT_TYPE

RecordKind = Literal["text", "chat", "preference"]
MESSAGES = "messages"
PROMPT, CHOSEN, REJECTED = "prompt", "chosen", "rejected"
PREFERENCE_COLUMNS = (PROMPT, CHOSEN, REJECTED)
CHAT_LAYOUT = "chat_layout"
TURN_TYPE = pa.struct(
    [("role", pa.string()), ("content", TEXT_TYPE), ("extra", pa.string())]
)
MESSAGES_TYPE = pa.list_(TURN_TYPE)
TRANSCRIPT_KEY = "\x00transcript"  # the transcript's field while a row is shaped
BAD_MESSAGES = "bad_messages"


def turn_columns(kind: RecordKind) -> tuple[str, ...]:
    """The columns that hold a record's turns."""
    return {"chat": (MESSAGES,), "preference": PREFERENCE_COLUMNS}.get(kind, ())


def record_kind(table: pa.Table | pa.Schema) -> RecordKind:
    """What a table of records holds, from its columns: the engine and the writers decide by
    this, so a kind never has to travel beside the data."""
    schema = table if isinstance(table, pa.Schema) else table.schema
    names = set(schema.names)
    if MESSAGES in names and schema.field(MESSAGES).type == MESSAGES_TYPE:
        return "chat"
    if all(c in names and schema.field(c).type == MESSAGES_TYPE for c in PREFERENCE_COLUMNS):
        return "preference"
    return "text"


# ---------------------------------------------------------------------------- turns <-> Arrow


def turn_struct(turn: Turn) -> dict[str, Any]:
    extras = {k: v for k, v in turn.items() if k not in ("role", "content")}
    return {
        "role": turn["role"],
        "content": turn["content"],
        "extra": orjson.dumps(extras, option=orjson.OPT_SORT_KEYS).decode() if extras else None,
    }


def turns_array(conversations: Sequence[Sequence[Turn] | None]) -> pa.Array:
    return pa.array(
        [None if c is None else [turn_struct(t) for t in c] for c in conversations],
        MESSAGES_TYPE,
    )


def turn_from_struct(value: dict[str, Any]) -> Turn:
    turn = {"role": value["role"], "content": value["content"]}
    if value.get("extra"):
        turn.update(orjson.loads(value["extra"]))
    return turn


def conversations(column: pa.Array | pa.ChunkedArray) -> list[list[Turn]]:
    """A turns column back as Python turns, extras restored."""
    return [[turn_from_struct(t) for t in c or ()] for c in column.to_pylist()]


def transcript(turns: Sequence[Turn], label: str | None = None) -> str:
    """The conversation as ``role: content`` paragraphs, for people reading rejects."""
    head = [f"[{label}]"] if label else []
    return "\n\n".join([*head, *(f"{t['role']}: {t['content']}" for t in turns)])


def preference_transcript(prompt: Sequence[Turn], chosen: Sequence[Turn],
                          rejected: Sequence[Turn]) -> str:
    return "\n\n".join(
        transcript(turns, label) for turns, label in
        ((prompt, "prompt"), (chosen, "chosen"), (rejected, "rejected")) if turns
    )


def transcripts(table: pa.Table, kind: RecordKind) -> pa.Array:
    """The ``text`` column of chat or preference records, from their turns."""
    if kind == "chat":
        texts = [transcript(c) for c in conversations(table.column(MESSAGES))]
    else:
        columns = [conversations(table.column(c)) for c in PREFERENCE_COLUMNS]
        texts = [preference_transcript(*turns) for turns in zip(*columns, strict=True)]
    return pa.array(texts, TEXT_TYPE)


# ---------------------------------------------------------------------------- reading


def conversation_row(row: dict[str, Any], kind: RecordKind,
                     chat_format: ChatLayout | Literal["auto"]) -> dict[str, Any]:
    """A parsed input row as a goldpan row: turns, layout and transcript in place of the layout's
    own fields, every other field kept. Raises ``BadConversation``."""
    rest = dict(row)
    if kind == "chat":
        layout = detect_chat_layout(row) if chat_format == "auto" else chat_format
        turns = chat_from_row(row, layout)
        for name in LAYOUT_FIELDS[layout]:
            rest.pop(name, None)
        rest[MESSAGES] = [turn_struct(t) for t in turns]
        rest[CHAT_LAYOUT] = layout
        rest[TRANSCRIPT_KEY] = transcript(turns)
        return rest
    prompt, chosen, rejected, style = preference_from_row(row)
    for name, turns in zip(PREFERENCE_COLUMNS, (prompt, chosen, rejected), strict=True):
        rest[name] = [turn_struct(t) for t in turns]
    rest[CHAT_LAYOUT] = style
    rest[TRANSCRIPT_KEY] = preference_transcript(prompt, chosen, rejected)
    return rest


def bad_messages_reason(error: BadConversation) -> str:
    return f"{BAD_MESSAGES}:{error.rule}"
