"""What a record asks a model: the conversation so far (a chat record's turns up to its last
user turn), or a text record's fields through a Jinja template; and the instruction as one text,
for prompts that quote it (a rater's)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from jinja2 import Environment, StrictUndefined

from goldpan.data.chat_records import (
    CHAT_LAYOUT,
    CHOSEN,
    MESSAGES,
    PROMPT,
    REJECTED,
    transcript,
    transcripts,
    turns_array,
)
from goldpan.data.schema import TEXT
from goldpan.engine.step import with_column
from goldpan.errors import GoldpanError

_JINJA = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def conversation_so_far(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The turns up to and including the last user turn: what the next answer answers (a
    conversation that already ends on an answer is asked again at its last question)."""
    last_user = max((i for i, t in enumerate(turns) if t["role"] == "user"), default=-1)
    return turns[: last_user + 1]


def render_template(template: str, record: dict[str, Any], step: str) -> str:
    try:
        return _JINJA.from_string(template).render(**record)
    except Exception as error:  # jinja raises many types: one line naming the record
        raise GoldpanError(f"{step}: template failed on record {record.get('id')!r}: "
                           f"{type(error).__name__}: {error}") from None


def instruction_text(prompt: list[dict[str, Any]] | str) -> str:
    """The prompt as the text a rater reads: a lone user turn as it is, else a transcript."""
    if isinstance(prompt, str):
        return prompt
    if len(prompt) == 1 and prompt[0]["role"] == "user":
        return prompt[0]["content"]
    return transcript(prompt)


def as_preference_records(batch: pa.Table, prompts: list[list[dict[str, Any]]],
                          chosen: list[list[dict[str, Any]]],
                          rejected: list[list[dict[str, Any]]], drop: tuple[str, ...] = ()
                          ) -> pa.Table:
    """The batch as preference records in TRL's conversational form: the conversation turned
    into prompt, chosen and rejected turns (``drop``: working columns that stay behind)."""
    gone = [c for c in (MESSAGES, CHAT_LAYOUT, *drop) if c in batch.column_names]
    batch = batch.drop_columns(gone)
    for name, turns in ((PROMPT, prompts), (CHOSEN, chosen), (REJECTED, rejected)):
        batch = with_column(batch, name, turns_array(turns))
    batch = with_column(batch, CHAT_LAYOUT, pa.array(["conversational"] * batch.num_rows))
    return with_column(batch, TEXT, transcripts(batch, "preference"))
