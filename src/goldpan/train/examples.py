"""Training examples for causal LMs: a prompt the model sees and a response it learns.

The loss is on the response tokens only (labels ``IGNORE`` over the prompt), so a student
learns to answer, not to ask. Examples become batches here: padded on the right, and, when
asked, grouped by length so that a batch wastes little compute on padding.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from goldpan.models.batching import attention_mask, pad_right
from goldpan.models.prompts import adds_special_tokens, user_turn

IGNORE = -100  # the label of a token that is not learned (PyTorch's cross-entropy default)


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE where nothing is learned (the prompt, unless it is learned too)
    negative: bool = False  # a rationale to learn away from (losses that use negative data)
    # Responses to the same prompt this one is contrasted with (a contrastive loss reads them).
    contrast: list[Encoded] = field(default_factory=list)
    # Tokens of the prompt: the response starts here even when the prompt is learned too.
    prompt_length: int = 0

    @property
    def learned_tokens(self) -> int:
        """Tokens that carry a loss (a label's prediction comes from the position before it)."""
        return sum(1 for label in self.labels[1:] if label != IGNORE)


def encode_example(
    tokenizer: Any, instruction: str, response: str, max_length: int, loss_on_prompt: bool = False
) -> Encoded:
    """The user turn, rendered as the model will be asked at generation time
    (``models.prompts.user_turn``), then the response and the end token; labels on the
    response only, or on every token with ``loss_on_prompt``."""
    prompt_ids = tokenizer(
        user_turn(tokenizer, instruction), add_special_tokens=adds_special_tokens(tokenizer)
    )["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        response_ids = [*response_ids, tokenizer.eos_token_id]
    ids = (prompt_ids + response_ids)[:max_length]
    labels = ((prompt_ids if loss_on_prompt else [IGNORE] * len(prompt_ids)) + response_ids)
    labels = labels[:max_length]
    return Encoded(ids, labels, prompt_length=min(len(prompt_ids), max_length))


def pad_id(tokenizer: Any) -> int:
    """The tokenizer's padding id, or its end token when it has none (padding is masked)."""
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    return tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0


def collate(examples: Sequence[Encoded], pad: int):
    """(input_ids, attention_mask, labels) tensors of a batch, padded on the right."""
    import torch

    ids = [e.input_ids for e in examples]
    return (
        torch.from_numpy(pad_right(ids, pad)),
        torch.from_numpy(attention_mask(ids)),
        torch.from_numpy(pad_right([e.labels for e in examples], IGNORE)),
    )


def batch_order(
    examples: Sequence[Encoded], batch_size: int, seed: int, by_length: bool
) -> list[list[int]]:
    """Indices of ``examples`` in batches for one epoch. With ``by_length``, each run of
    ``batch_size * 50`` shuffled examples is sorted by length before it is cut into batches
    (the padding of a batch then stays small) and the batches are shuffled again, so the order
    still varies from epoch to epoch and seed to seed."""
    rng = random.Random(seed)
    order = list(range(len(examples)))
    rng.shuffle(order)
    if by_length:
        window = batch_size * 50
        sorted_order: list[int] = []
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            sorted_order += sorted(chunk, key=lambda i: len(examples[i].input_ids))
        order = sorted_order
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if by_length:
        rng.shuffle(batches)
    return batches
