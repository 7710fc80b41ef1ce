"""Conversation layouts as data: recognise one, turn it into goldpan's turns, and back.

goldpan holds a conversation as OpenAI/TRL's list of ``{role, content}`` turns and a
preference pair as TRL's explicit ``prompt``/``chosen``/``rejected`` message lists. Each layout
people publish (ShareGPT, Alpaca, prompt/completion, TRL's standard and implicit-prompt
preferences) is a pair of small pure functions here, in the manner of TRL's
``trl/data_utils.py``; readers and writers call them, and round trips are tested per pair.

A turn is a dict with ``role`` and ``content`` plus whatever else the input gave it
(``tool_calls``, ``name``, ``tool_call_id``): those extras travel untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

ChatLayout = Literal["openai", "sharegpt", "alpaca", "prompt_completion"]
PreferenceStyle = Literal["standard", "conversational"]
CHAT_LAYOUTS: tuple[str, ...] = ("openai", "sharegpt", "alpaca", "prompt_completion")
ROLES = ("system", "user", "assistant", "tool")

# ShareGPT's speaker names (``from``) and goldpan's roles. The standard roles are accepted
# too, since many ShareGPT exports already use them.
SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
    "tool": "tool",
    "function": "tool",
    "observation": "tool",
}
SHAREGPT_NAMES = {"user": "human", "assistant": "gpt", "system": "system", "tool": "tool"}
# Alpaca's data joins a non-empty input to the instruction with a blank line
# (tatsu-lab/stanford_alpaca, train.py's PROMPT_DICT puts the input under its own heading).
ALPACA_JOIN = "\n\n"

Turn = dict[str, Any]


class BadConversation(ValueError):
    """A record that cannot be a conversation; ``rule`` names why (``not_a_list``,
    ``turn_not_object``, ``missing_content``, ``content_not_string``, ``unknown_role``, ...)."""

    def __init__(self, rule: str, detail: str = "") -> None:
        super().__init__(f"{rule}: {detail}" if detail else rule)
        self.rule = rule


# ---------------------------------------------------------------------------- recognising


def detect_chat_layout(row: Mapping[str, Any]) -> ChatLayout:
    """The layout of one record, from its fields (``input.chat_format: auto``)."""
    if "messages" in row:
        return "openai"
    if "conversations" in row:
        return "sharegpt"
    if "instruction" in row and "output" in row:
        return "alpaca"
    if "prompt" in row and "completion" in row:
        return "prompt_completion"
    raise BadConversation(
        "no_conversation", "no messages, conversations, instruction/output or prompt/completion"
    )


LAYOUT_FIELDS: dict[str, tuple[str, ...]] = {
    "openai": ("messages",),
    "sharegpt": ("conversations",),
    "alpaca": ("instruction", "input", "output", "system"),
    "prompt_completion": ("prompt", "completion"),
}


# ---------------------------------------------------------------------------- turns


def checked_turns(value: Any, role_key: str = "role", content_key: str = "content",
                  role_names: Mapping[str, str] | None = None) -> list[Turn]:
    """A list of turns, each with a known role and string content, or ``BadConversation``.
    ``role_names`` maps a layout's speaker names onto goldpan's roles."""
    if not isinstance(value, list):
        raise BadConversation("not_a_list", type(value).__name__)
    turns = []
    for index, raw in enumerate(value):
        if not isinstance(raw, Mapping):
            raise BadConversation("turn_not_object", f"turn {index} is {type(raw).__name__}")
        speaker = raw.get(role_key)
        role = role_names.get(speaker) if role_names and isinstance(speaker, str) else speaker
        if role not in ROLES:
            raise BadConversation("unknown_role", f"turn {index} has {role_key}={speaker!r}")
        if content_key not in raw or raw[content_key] is None:
            # An assistant turn that only calls tools may carry no content (OpenAI's format).
            if role == "assistant" and raw.get("tool_calls"):
                content = ""
            else:
                raise BadConversation("missing_content", f"turn {index}")
        else:
            content = raw[content_key]
        if not isinstance(content, str):
            raise BadConversation(
                "content_not_string", f"turn {index} holds {type(content).__name__}"
            )
        # A null extra is no extra: Arrow inputs give every struct field to every turn.
        extras = {
            k: v for k, v in raw.items() if k not in (role_key, content_key) and v is not None
        }
        turns.append({"role": role, "content": content, **extras})
    return turns


def _text(row: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = row.get(key)
    if value is None and not required:
        return ""
    if value is None:
        raise BadConversation("missing_content", f"no {key!r}")
    if not isinstance(value, str):
        raise BadConversation("content_not_string", f"{key!r} holds {type(value).__name__}")
    return value


def _as_turns(value: Any, role: str) -> list[Turn]:
    """A string (TRL's standard format) as one turn of ``role``, or a message list as it is."""
    if value is None:
        raise BadConversation("missing_content", f"no {role} side")
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    return checked_turns(value)


# ---------------------------------------------------------------------------- chat: read


def chat_from_row(row: Mapping[str, Any], layout: ChatLayout) -> list[Turn]:
    """One record's conversation as goldpan's turns."""
    if layout == "openai":
        return checked_turns(row.get("messages"))
    if layout == "sharegpt":
        return checked_turns(row.get("conversations"), "from", "value", SHAREGPT_ROLES)
    if layout == "alpaca":
        instruction = _text(row, "instruction")
        extra_input = _text(row, "input", required=False)
        prompt = instruction + ALPACA_JOIN + extra_input if extra_input else instruction
        system = _text(row, "system", required=False)
        turns = [{"role": "system", "content": system}] if system else []
        return [*turns, {"role": "user", "content": prompt},
                {"role": "assistant", "content": _text(row, "output")}]
    if layout == "prompt_completion":
        return [*_as_turns(row.get("prompt"), "user"),
                *_as_turns(row.get("completion"), "assistant")]
    raise ValueError(f"unknown chat layout {layout!r}")


# ---------------------------------------------------------------------------- chat: write


class LayoutCannotHold(ValueError):
    """The conversation has turns the requested layout has no place for."""


def chat_to_fields(turns: list[Turn], layout: ChatLayout) -> dict[str, Any]:
    """The conversation's fields in ``layout`` (the record's other fields are the caller's)."""
    if layout == "openai":
        return {"messages": turns}
    if layout == "sharegpt":
        return {"conversations": [
            {"from": SHAREGPT_NAMES[t["role"]], "value": t["content"],
             **{k: v for k, v in t.items() if k not in ("role", "content")}}
            for t in turns
        ]}
    system, rest = _split_system(turns)
    if layout == "alpaca":
        if [t["role"] for t in rest] != ["user", "assistant"] or _has_extras(turns):
            raise LayoutCannotHold("alpaca holds one user turn and one assistant turn")
        fields = {"instruction": rest[0]["content"], "input": "", "output": rest[1]["content"]}
        if system is not None:
            fields["system"] = system
        return fields
    if layout == "prompt_completion":
        if len(rest) == 2 and system is None and not _has_extras(turns) and [
            t["role"] for t in rest
        ] == ["user", "assistant"]:
            return {"prompt": rest[0]["content"], "completion": rest[1]["content"]}
        # TRL's conversational prompt/completion: the prompt is every turn before the last
        # assistant turn(s).
        cut = len(turns)
        while cut > 0 and turns[cut - 1]["role"] == "assistant":
            cut -= 1
        if cut == len(turns) or cut == 0:
            raise LayoutCannotHold("prompt_completion needs a prompt and a final assistant turn")
        return {"prompt": turns[:cut], "completion": turns[cut:]}
    raise ValueError(f"unknown chat layout {layout!r}")


def _split_system(turns: list[Turn]) -> tuple[str | None, list[Turn]]:
    if turns and turns[0]["role"] == "system":
        return turns[0]["content"], turns[1:]
    return None, turns


def _has_extras(turns: list[Turn]) -> bool:
    return any(set(t) - {"role", "content"} for t in turns)


# ---------------------------------------------------------------------------- preference


def extract_prompt(chosen: Any, rejected: Any) -> tuple[Any, Any, Any]:
    """TRL's implicit prompt made explicit (trl/data_utils.py, ``extract_prompt``): the longest
    common prefix of chosen and rejected, turns for message lists and characters for strings,
    where a shared trailing space stays with the completions."""
    index = 0
    for index in range(min(len(chosen), len(rejected))):
        if chosen[index] != rejected[index]:
            if isinstance(chosen, str) and index and chosen[index - 1] == " ":
                index -= 1
            break
    else:
        index = min(len(chosen), len(rejected))
    return chosen[:index], chosen[index:], rejected[index:]


def preference_from_row(row: Mapping[str, Any]) -> tuple[list[Turn], list[Turn], list[Turn],
                                                          PreferenceStyle]:
    """A preference record as (prompt, chosen, rejected) turn lists and the style it came in:
    ``standard`` (strings) or ``conversational`` (message lists). A missing prompt is implicit
    and is extracted from the common prefix, as TRL does."""
    if "chosen" not in row or "rejected" not in row:
        raise BadConversation("missing_pair", "a preference record needs chosen and rejected")
    chosen, rejected, prompt = row["chosen"], row["rejected"], row.get("prompt")
    kinds = {type(v) for v in (chosen, rejected) if v is not None}
    if kinds == {str}:
        style: PreferenceStyle = "standard"
    elif kinds == {list}:
        style = "conversational"
    else:
        raise BadConversation("mixed_pair", "chosen and rejected must both be strings or lists")
    if prompt is None:
        if style == "conversational":
            checked_turns(chosen), checked_turns(rejected)
        prompt, chosen, rejected = extract_prompt(chosen, rejected)
    if style == "standard":
        if not isinstance(prompt, str):
            raise BadConversation("content_not_string", "prompt must be a string like the pair")
        return (_as_turns(prompt, "user") if prompt else [], _as_turns(chosen, "assistant"),
                _as_turns(rejected, "assistant"), style)
    return checked_turns(prompt), checked_turns(chosen), checked_turns(rejected), style


def preference_to_fields(prompt: list[Turn], chosen: list[Turn], rejected: list[Turn],
                         style: PreferenceStyle) -> dict[str, Any]:
    """TRL's explicit-prompt preference fields, as strings (``standard``) or message lists."""
    if style == "conversational":
        return {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    parts = {"prompt": prompt, "chosen": chosen, "rejected": rejected}
    fields = {}
    for name, turns in parts.items():
        if name == "prompt" and not turns:
            fields[name] = ""
            continue
        if len(turns) != 1 or _has_extras(turns):
            raise LayoutCannotHold(f"a standard preference holds one {name} string")
        fields[name] = turns[0]["content"]
    return fields
