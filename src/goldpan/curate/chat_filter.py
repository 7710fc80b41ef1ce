"""``chat_filter``: conversations a trainer should not see, each rule its own reject reason.

- ``roles``: an optional system turn, then user and assistant turns alternating, tool turns only
  after an assistant turn that called a tool (and until the assistant speaks again), ending on
  an assistant turn: the shape chat templates and assistant-only loss masks assume;
- ``empty_turn``: a turn whose content is empty or whitespace (a tool-calling assistant turn
  may have no content);
- ``think_unclosed``: a reasoning block (``<think>`` ... ``</think>`` by default) opened and
  not closed, closed without being opened, or empty;
- ``max_turns``: more turns than allowed (the system turn not counted);
- ``too_long``: more than ``max_tokens`` tokens once the tokenizer's chat template is applied;
- ``repeated_answer``: the same assistant text twice in one conversation (a looping model);
- ``refusal``: an assistant turn containing one of ``refusal_phrases`` (off unless given;
  ``REFUSAL_PHRASES`` is a starting list of refusals and disclaimers).

Rules are checked in that order and the first that fails names the reject.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import pyarrow as pa
from pydantic import Field, model_validator

from goldpan.data.chat_records import MESSAGES, conversations
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_reject_reasons

# Phrases of refusal and disclaimer common in distilled chat data (the lists used to clean
# ShareGPT-derived sets such as WizardLM's "unfiltered" releases are longer; this is a start).
REFUSAL_PHRASES = (
    "as an ai language model",
    "as a language model",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i cannot fulfill",
    "i can't assist with",
    "i cannot provide",
    "i'm not able to provide",
    "it is not appropriate",
    "openai's content policy",
)


class ChatFilterOptions(StepOptions):
    roles: bool = Field(True, description="Reject conversations whose turns are out of order.")
    empty_turn: bool = Field(True, description="Reject conversations with an empty turn.")
    think_tags: tuple[str, str] | None = Field(
        ("<think>", "</think>"),
        description="Opening and closing tag of reasoning blocks; none: do not check them.",
    )
    max_turns: int | None = Field(None, gt=0, description="Most turns, the system turn aside.")
    max_tokens: int | None = Field(
        None, gt=0, description="Most tokens once the chat template is applied (needs tokenizer)."
    )
    tokenizer: str | None = Field(
        None, description="An embedded model name or HF folder whose chat template counts tokens."
    )
    repeated_answer: bool = Field(True, description="Reject a conversation repeating an answer.")
    refusal_phrases: list[str] = Field(
        default_factory=list,
        description="Reject assistant turns containing any of these (case-insensitive); empty: "
        "off. goldpan.curate.chat_filter.REFUSAL_PHRASES is a starting list.",
    )

    @model_validator(mode="after")
    def _tokens_need_a_tokenizer(self) -> ChatFilterOptions:
        if self.max_tokens is not None and not self.tokenizer:
            raise ValueError("max_tokens needs tokenizer (its chat template counts the tokens)")
        return self


def roles_in_order(turns: list[dict[str, Any]]) -> bool:
    """System first if at all, then user/assistant alternating, tools answering tool calls,
    and the last word the assistant's."""
    expected = {"user"}
    for index, turn in enumerate(turns):
        role = turn["role"]
        if role == "system" and index == 0:
            continue
        if role not in expected:
            return False
        if role == "user":
            expected = {"assistant"}
        elif role == "assistant":
            expected = {"tool"} if turn.get("tool_calls") else {"user"}
        else:  # a tool's answer: more answers, or the assistant goes on
            expected = {"tool", "assistant"}
    return bool(turns) and turns[-1]["role"] == "assistant" and not turns[-1].get("tool_calls")


def think_block_broken(text: str, opening: str, closing: str) -> bool:
    """An opened block never closed, a close without an opening, or nothing inside."""
    position = 0
    while True:
        start = text.find(opening, position)
        stray = text.find(closing, position)
        if start < 0:
            return stray >= 0
        if 0 <= stray < start:
            return True
        end = text.find(closing, start + len(opening))
        if end < 0 or not text[start + len(opening) : end].strip():
            return True
        position = end + len(closing)


@register_step
class ChatFilter(MapStep[ChatFilterOptions]):
    """Drop conversations that are malformed or degenerate for chat training."""

    name = "chat_filter"
    text_side = None  # reads the turns themselves
    record_kinds = ("chat",)

    @cached_property
    def _tokenizer(self) -> Any:
        from goldpan.models.chat_tokens import load_chat_tokenizer

        return load_chat_tokenizer(self.options.tokenizer or "")

    def _reason(self, turns: list[dict[str, Any]], tokens: int | None) -> str | None:
        o = self.options
        if o.roles and not roles_in_order(turns):
            return self.reason("roles")
        if o.empty_turn and any(
            not t["content"].strip() and not (t["role"] == "assistant" and t.get("tool_calls"))
            for t in turns
        ):
            return self.reason("empty_turn")
        if o.think_tags is not None and any(
            think_block_broken(t["content"], *o.think_tags) for t in turns
        ):
            return self.reason("think_unclosed")
        if o.max_turns is not None and sum(t["role"] != "system" for t in turns) > o.max_turns:
            return self.reason("max_turns")
        if tokens is not None and o.max_tokens is not None and tokens > o.max_tokens:
            return self.reason("too_long")
        answers = [t["content"].strip() for t in turns if t["role"] == "assistant"]
        answers = [a for a in answers if a]
        if o.repeated_answer and len(set(answers)) < len(answers):
            return self.reason("repeated_answer")
        phrases = [p.lower() for p in o.refusal_phrases]
        if phrases and any(p in a.lower() for a in answers for p in phrases):
            return self.reason("refusal")
        return None

    def process(self, batch: pa.Table) -> pa.Table:
        chats = conversations(batch.column(MESSAGES))
        lengths: list[int | None] = [None] * len(chats)
        if self.options.max_tokens is not None:
            lengths = [len(ids) for ids in self._tokenizer.apply_chat_template(
                chats, tokenize=True, return_dict=True)["input_ids"]]
        return with_reject_reasons(
            batch, [self._reason(c, n) for c, n in zip(chats, lengths, strict=True)]
        )
