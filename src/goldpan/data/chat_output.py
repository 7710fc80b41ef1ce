"""Kept conversations in the layouts trainers read.

Chat records are written as OpenAI's ``{"id", "messages", ...}`` (or ShareGPT, Alpaca,
prompt/completion), preference records as TRL's explicit ``prompt``/``chosen``/``rejected``;
the transcript (``text``) and ``chat_layout`` are goldpan's bookkeeping and stay behind. Each
turn comes out with exactly the fields it went in with. A conversation the chosen layout cannot
hold (a system turn in prompt/completion strings, three turns in Alpaca) stops the write with a
line naming the record, never a silently changed conversation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from goldpan.data.chat_layouts import (
    LayoutCannotHold,
    chat_to_fields,
    preference_to_fields,
)
from goldpan.data.chat_records import (
    CHAT_LAYOUT,
    MESSAGES,
    PREFERENCE_COLUMNS,
    conversations,
    record_kind,
)
from goldpan.data.schema import ID, TEXT
from goldpan.errors import GoldpanError

BOOKKEEPING = (TEXT, CHAT_LAYOUT)


@dataclass(frozen=True)
class ChatOutput:
    """output.chat_format and output.preference_format, as the writers take them."""

    chat_format: str = "openai"
    preference_format: str = "auto"


def is_conversation_table(table: pa.Table | pa.Schema) -> bool:
    return record_kind(table) != "text"


def trainer_rows(table: pa.Table, chat: ChatOutput) -> list[dict[str, Any]]:
    """The records as rows in the trainer's layout: id first, the conversation's fields, then
    every other column (source, lang, scores, ...)."""
    kind = record_kind(table)
    names = (MESSAGES,) if kind == "chat" else PREFERENCE_COLUMNS
    turns = {name: conversations(table.column(name)) for name in names}
    rest = table.drop_columns([c for c in (*names, *BOOKKEEPING, ID) if c in table.column_names])
    ids = table.column(ID).to_pylist()
    others = rest.to_pylist()
    style = chat.preference_format
    if kind == "preference" and style == "auto":
        layouts = set(table.column(CHAT_LAYOUT).to_pylist()) if CHAT_LAYOUT in \
            table.column_names else {"conversational"}
        style = "standard" if layouts == {"standard"} else "conversational"
    rows = []
    for index, record_id in enumerate(ids):
        try:
            if kind == "chat":
                fields = chat_to_fields(turns[MESSAGES][index], chat.chat_format)  # type: ignore[arg-type]
            else:
                fields = preference_to_fields(*(turns[n][index] for n in names), style)  # type: ignore[arg-type]
        except LayoutCannotHold as error:
            wanted = chat.chat_format if kind == "chat" else f"{style} preference"
            raise GoldpanError(
                f"record {record_id!r}: output {wanted} cannot hold this conversation ({error}); "
                "choose another output.chat_format (openai holds every conversation)"
            ) from None
        rows.append({ID: record_id, **fields, **others[index]})
    return rows


def trainer_table(table: pa.Table, chat: ChatOutput) -> pa.Table:
    """``trainer_rows`` as an Arrow table for Parquet and HF datasets."""
    rows = trainer_rows(table, chat)
    if not rows:
        return pa.table({ID: pa.array([], pa.string())})
    return pa.Table.from_pylist(rows, schema=_inferred_schema(rows))


def _inferred_schema(rows: list[dict[str, Any]]) -> pa.Schema:
    """Every field of every row (``from_pylist`` would take the first row's alone)."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return pa.schema([(name, pa.array([row.get(name) for row in rows]).type) for name in names])
