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
        return self.encode_batch([turns])[0]

    def encode_batch(self, chats: list[list[dict[str, Any]]]
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Ids and masks of many conversations: the renderings are tokenized in one call of the
        Rust tokenizer, which spreads a batch over its threads."""
        if not chats:
            return []
        if self.resolved_mode == "generation":
            encoded = self._marked(chats)
        else:
            encoded = self._by_prefixes(chats)
        for turns, (_, mask) in zip(chats, encoded, strict=True):
            if any(t["role"] == "assistant" for t in turns) and not mask.any():
                raise TemplateCannotMask(
                    f"chat template {self.name}: no assistant token is marked in a conversation "
                    f"with assistant turns ({self.resolved_mode} masks); give "
                    "output.chat_template a template with {% generation %} marks"
                )
        return encoded

    def _render(self, turns: list[dict[str, Any]], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            turns, tokenize=False, add_generation_prompt=generation_prompt
        )

    def _marked(self, chats: list[list[dict[str, Any]]]) -> list[tuple[np.ndarray, np.ndarray]]:
        if not has_generation_marks(self.tokenizer.chat_template):
            raise TemplateCannotMask(
                f"chat template {self.name}: output.mask is generation but the template has no "
                "{% generation %} marks"
            )
        encoded = self.tokenizer.apply_chat_template(
            chats, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        return [(np.asarray(ids, np.int64), np.asarray(mask, np.uint8))
                for ids, mask in zip(encoded["input_ids"], encoded["assistant_masks"],
                                     strict=True)]

    def _by_prefixes(self, chats: list[list[dict[str, Any]]]
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
        texts: list[str] = []
        plans: list[tuple[int, list[tuple[int, int, int]]]] = []  # whole, (turn, before, through)
        for turns in chats:
            whole = len(texts)
            texts.append(self._render(turns, False))
            spans = []
            for index, turn in enumerate(turns):
                if turn["role"] == "assistant":
                    spans.append((index, len(texts), len(texts) + 1))
                    texts += [self._render(turns[:index], True),
                              self._render(turns[: index + 1], False)]
            plans.append((whole, spans))
        ids = [np.asarray(e, np.int64) for e in
               self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        results = []
        for whole, spans in plans:
            full = ids[whole]
            mask = np.zeros(len(full), np.uint8)
            for index, before, through in spans:
                if not (_is_prefix(ids[before], full) and _is_prefix(ids[through], full)):
                    raise TemplateCannotMask(
                        f"chat template {self.name}: the conversation rendered up to assistant "
                        f"turn {index} is not a token prefix of the whole, so the assistant's "
                        "tokens cannot be found by prefixes; give output.chat_template a "
                        "template with {% generation %} marks"
                    )
                mask[len(ids[before]) : len(ids[through])] = 1
            results.append((full, mask))
        return results


def _is_prefix(head: np.ndarray, whole: np.ndarray) -> bool:
    return len(head) <= len(whole) and np.array_equal(whole[: len(head)], head)
