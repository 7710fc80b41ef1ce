"""Kept conversations in the layouts trainers read.

Chat records are written as OpenAI's ``{"id", "messages", ...}`` (or ShareGPT, Alpaca,
prompt/completion), preference records as TRL's explicit ``prompt``/``chosen``/``rejected``;
the transcript (``text``) and ``chat_layout`` are goldpan's bookkeeping and stay behind. Each
turn comes out with exactly the fields it went in with. A conversation the chosen layout cannot
hold (a system turn in prompt/completion strings, three turns in Alpaca) stops the write with a
line naming the record, never a silently changed conversation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from goldpan.data.chat_layouts import (
    ChatLayout,
    LayoutCannotHold,
    PreferenceStyle,
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
    """output.chat_format and output.preference_format, as the writers take them.
    ``turn_type``: the Arrow type of a turn in every shard (``for_output`` finds it), so that
    Parquet shards of one output share one schema whichever turns each holds."""

    chat_format: ChatLayout = "openai"
    preference_format: PreferenceStyle | Literal["auto"] = "auto"
    turn_type: pa.DataType | None = None

    def for_output(self, tables: Iterable[pa.Table]) -> ChatOutput:
        """This output's decisions over all its records (given as tables of their turn columns
        and ``chat_layout``): the preference style when it is auto, and the turn type."""
        extras: dict[str, list[Any]] = {}
        layouts: set[str] = set()
        for table in tables:
            kind = record_kind(table)
            for name in (MESSAGES,) if kind == "chat" else PREFERENCE_COLUMNS:
                flat = pc.list_flatten(table.column(name).combine_chunks())
                for text in flat.field("extra").drop_null().to_pylist():
                    for key, value in orjson.loads(text).items():
                        extras.setdefault(key, []).append(value)
            if CHAT_LAYOUT in table.column_names:
                layouts.update(table.column(CHAT_LAYOUT).drop_null().to_pylist())
        style = self.preference_format
        if style == "auto":
            style = "standard" if layouts == {"standard"} else "conversational"
        fields = [("role", pa.string()), ("content", pa.string())]
        fields += [(key, pa.array(values).type) for key, values in sorted(extras.items())]
        return replace(self, preference_format=style, turn_type=pa.struct(fields))


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
    if chat.preference_format == "auto":  # a table written alone decides for itself
        chat = chat.for_output([table])
    style = chat.preference_format
    assert style != "auto", "for_output decided it"
    rows = []
    for index, record_id in enumerate(ids):
        try:
            if kind == "chat":
                fields = chat_to_fields(turns[MESSAGES][index], chat.chat_format)
            else:
                prompt, chosen, rejected = (turns[n][index] for n in names)
                fields = preference_to_fields(prompt, chosen, rejected, style)
        except LayoutCannotHold as error:
            wanted = chat.chat_format if kind == "chat" else f"{style} preference"
            raise GoldpanError(
                f"record {record_id!r}: output {wanted} cannot hold this conversation ({error}); "
                "choose another output.chat_format (openai holds every conversation)"
            ) from None
        rows.append({ID: record_id, **fields, **others[index]})
    return rows


def trainer_table(table: pa.Table, chat: ChatOutput) -> pa.Table:
    """``trainer_rows`` as an Arrow table for Parquet and HF datasets: the conversation's fields
    typed by ``chat.turn_type``, every other column as it was."""
    if chat.turn_type is None:
        chat = chat.for_output([table])
    rows = trainer_rows(table, chat)
    own = (MESSAGES,) if record_kind(table) == "chat" else PREFERENCE_COLUMNS
    rest = table.drop_columns([c for c in (*own, *BOOKKEEPING, ID) if c in table.column_names])
    fields = list(dict.fromkeys(k for row in rows[:1] for k in row if k != ID
                                and k not in rest.column_names))
    columns: dict[str, pa.Array | pa.ChunkedArray] = {ID: table.column(ID)}
    for name in fields:
        values = [row.get(name) for row in rows]
        columns[name] = pa.array(values, _field_type(values, chat.turn_type))
    for name in rest.column_names:
        columns[name] = rest.column(name)
    return pa.table(columns)


def _field_type(values: list[Any], turn_type: pa.DataType) -> pa.DataType:
    """A list of turns, or text (Alpaca's and prompt/completion's strings)."""
    sample = next((v for v in values if v is not None), None)
    return pa.list_(turn_type) if isinstance(sample, list) else pa.string()
