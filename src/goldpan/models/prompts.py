"""How one user message is put to a model: the same text when a student is trained and when
it is asked, whether or not its tokenizer has a chat template.

With a chat template the message is wrapped in it (generation prompt included); without one
(base models, TinyLlama-style students) the message is followed by a newline, and the model's
answer starts on the next line. ``adds_special_tokens`` says whether the tokenizer should add
its own special tokens (BOS) when the rendered text is tokenised: a chat template writes its
own.
"""

from __future__ import annotations

from typing import Any


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def user_turn(tokenizer: Any, message: str) -> str:
    """The text a model continues to answer ``message``."""
    if has_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
        )
    return f"{message}\n"


def adds_special_tokens(tokenizer: Any) -> bool:
    return not has_chat_template(tokenizer)
