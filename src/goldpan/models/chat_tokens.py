"""Conversations as training tokens with an assistant-only loss mask.

The ids are the tokenizer's chat template applied to the conversation (what TRL's SFTTrainer
tokenizes). The mask marks the tokens the loss counts, the assistant's, found one of two ways:

- ``generation``: the template marks the assistant's text with ``{% generation %}`` ...
  ``{% endgeneration %}``; transformers returns the marked tokens (``assistant_masks``), which
  is exactly what TRL's ``assistant_only_loss`` trains on;
- ``prefix``: for a template without marks, each assistant turn's tokens are those between the
  conversation rendered up to the turn with the generation prompt and rendered through the
  turn. This holds only where each such rendering is a token prefix of the whole; it is checked
  for every turn of every conversation.

``auto`` takes the marks when the template has them, else the prefixes. A template where
neither holds stops the run with one line naming it: a mask of all ones (training on the
prompts) or all zeros (training on nothing) is never written silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from goldpan.errors import GoldpanError

MaskMode = Literal["auto", "generation", "prefix"]
_GENERATION_MARK = re.compile(r"\{%-?\s*generation\s*-?%\}")  # as TRL's has_generation_markers
CHAT_TEMPLATES = Path(__file__).resolve().parents[1] / "resources" / "chat_templates"


class TemplateCannotMask(GoldpanError):
    """Neither the template's marks nor its prefixes give the assistant's tokens."""


def has_generation_marks(template: str) -> bool:
    return _GENERATION_MARK.search(template) is not None


def template_text(spec: str) -> str:
    """A chat template from a ``.jinja`` file or one goldpan ships (``smollm2-generation``)."""
    path = Path(spec).expanduser()
    if not path.is_file():
        path = CHAT_TEMPLATES / f"{spec}.jinja"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in CHAT_TEMPLATES.glob("*.jinja")))
        raise GoldpanError(f"chat template {spec!r}: no such .jinja file, nor one goldpan ships "
                           f"({shipped})")
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=4)
def load_chat_tokenizer(spec: str, chat_template: str | None = None) -> Any:
    """A transformers tokenizer with a chat template: an embedded model name, an HF model or
    tokenizer folder. ``chat_template`` replaces the tokenizer's own."""
    from transformers import AutoTokenizer

    path = Path(spec).expanduser()
    if not (path.is_dir() and (path / "tokenizer_config.json").is_file()):
        from goldpan.models.load import resolve

        path = resolve(spec)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    if chat_template is not None:
        tokenizer.chat_template = template_text(chat_template)
    if not tokenizer.chat_template:
        raise GoldpanError(f"tokenizer {spec!r} has no chat template: set output.chat_template")
    return tokenizer


@dataclass
class ChatTokenizer:
    """Ids and assistant masks of conversations under one tokenizer and template."""

    tokenizer: Any
    mode: MaskMode = "auto"
    name: str = "the tokenizer's"

    @property
    def resolved_mode(self) -> Literal["generation", "prefix"]:
        if self.mode != "auto":
            return self.mode
        return "generation" if has_generation_marks(self.tokenizer.chat_template) else "prefix"

    def encode(self, turns: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        """The conversation's ids and its uint8 mask (1: the loss counts the token)."""
        if self.resolved_mode == "generation":
            ids, mask = self._marked(turns)
        else:
            ids, mask = self._by_prefixes(turns)
        if any(t["role"] == "assistant" for t in turns) and not mask.any():
            raise TemplateCannotMask(
                f"chat template {self.name}: no assistant token is marked in a conversation with "
                f"assistant turns ({self.resolved_mode} masks); give output.chat_template a "
                "template with {% generation %} marks"
            )
        return ids, mask

    def _render_ids(self, turns: list[dict[str, Any]], generation_prompt: bool) -> list[int]:
        return list(self.tokenizer.apply_chat_template(
            turns, tokenize=True, add_generation_prompt=generation_prompt, return_dict=True
        )["input_ids"])

    def _marked(self, turns: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        if not has_generation_marks(self.tokenizer.chat_template):
            raise TemplateCannotMask(
                f"chat template {self.name}: output.mask is generation but the template has no "
                "{% generation %} marks"
            )
        encoded = self.tokenizer.apply_chat_template(
            turns, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        return (np.asarray(encoded["input_ids"], np.int64),
                np.asarray(encoded["assistant_masks"], np.uint8))

    def _by_prefixes(self, turns: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        ids = self._render_ids(turns, False)
        mask = np.zeros(len(ids), np.uint8)
        for index, turn in enumerate(turns):
            if turn["role"] != "assistant":
                continue
            before = self._render_ids(turns[:index], True)
            through = self._render_ids(turns[: index + 1], False)
            if ids[: len(before)] != before or ids[: len(through)] != through:
                raise TemplateCannotMask(
                    f"chat template {self.name}: the conversation rendered up to assistant turn "
                    f"{index} is not a token prefix of the whole, so the assistant's tokens cannot "
                    "be found by prefixes; give output.chat_template a template with "
                    "{% generation %} marks"
                )
            mask[len(before) : len(through)] = 1
        return np.asarray(ids, np.int64), mask
