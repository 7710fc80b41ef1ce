"""Supervised fine-tuning pieces shared by Montessori-Instruct's student and its evaluation:
examples encoded with the loss on response tokens only, token-weighted losses, SFT steps."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

IGNORE = -100


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE on the prompt: only the response is learned


def encode_example(tokenizer: Any, instruction: str, response: str, max_length: int) -> Encoded:
    """The chat-formatted prompt (when the tokenizer has a template) then the response and the
    end token; labels only on the response, so the student learns to answer, not to ask."""
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": instruction}], tokenize=False, add_generation_prompt=True
        )
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    else:
        prompt_ids = tokenizer(f"{instruction}\n", add_special_tokens=True)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    if tokenizer.eos_token_id is not None:
        response_ids = [*response_ids, tokenizer.eos_token_id]
    ids = (prompt_ids + response_ids)[:max_length]
    labels = ([IGNORE] * len(prompt_ids) + response_ids)[:max_length]
    return Encoded(ids, labels)


def collate(examples: Sequence[Encoded], pad_id: int):  # type: ignore[no-untyped-def]
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example.input_ids)
        ids[row, :length] = torch.tensor(example.input_ids)
        labels[row, :length] = torch.tensor(example.labels)
        mask[row, :length] = 1
    return ids, mask, labels


def summed_loss(model: Any, examples: Sequence[Encoded], pad_id: int):  # type: ignore[no-untyped-def]
    """(sum of response-token losses, number of response tokens) for a batch."""
    import torch

    ids, mask, labels = collate(examples, pad_id)
    device = next(model.parameters()).device
    ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    targets = labels[:, 1:]
    losses = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return losses, int((targets != IGNORE).sum())


def mean_loss(model: Any, examples: Sequence[Encoded], pad_id: int, batch_size: int = 8) -> float:
    """Mean response-token loss over a set (token-weighted), without gradients."""
    import torch

    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            loss, tokens = summed_loss(model, examples[start : start + batch_size], pad_id)
            total += float(loss)
            count += tokens
    model.train(was_training)
    return total / max(count, 1)


def train_step(model: Any, optimizer: Any, examples: Sequence[Encoded], pad_id: int) -> float:
    """One optimiser step on the mean response-token loss of ``examples``."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss, tokens = summed_loss(model, examples, pad_id)
    mean = loss / max(tokens, 1)
    mean.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(mean.detach())


def sft(
    model: Any,
    optimizer: Any,
    examples: Sequence[Encoded],
    pad_id: int,
    epochs: int = 1,
    batch_size: int = 4,
    seed: int = 0,
    on_step: Any = None,
) -> list[float]:
    """Plain SFT: shuffled mini-batches for ``epochs``; returns the training losses."""
    order = list(range(len(examples)))
    losses = []
    for epoch in range(epochs):
        random.Random(seed + epoch).shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = [examples[i] for i in order[start : start + batch_size]]
            losses.append(train_step(model, optimizer, batch, pad_id))
            if on_step is not None:
                on_step(1)
    return losses
