"""The loss every SFT-style phase optimises: cross-entropy on response tokens.

Losses are returned as sums with their token counts, so that any number of batches (micro-
batches of one step, or the batches of an evaluation) combine into the exact token-weighted
mean of the whole set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from goldpan.models.memory import evaluating
from goldpan.train.examples import IGNORE, Encoded, collate


def response_loss_sum(model: Any, ids: Any, mask: Any, labels: Any) -> tuple[Any, int]:
    """(summed cross-entropy over the response tokens, their number) for one batch."""
    import torch

    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    targets = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        targets.reshape(-1),
        ignore_index=IGNORE,
        reduction="sum",
    )
    return loss, int((targets != IGNORE).sum())


def mean_loss(model: Any, examples: Sequence[Encoded], pad: int, batch_size: int = 8) -> float:
    """Mean response-token loss over a set (token-weighted), in eval mode without gradients."""
    device = next(model.parameters()).device
    total, count = 0.0, 0
    with evaluating(model):
        for start in range(0, len(examples), batch_size):
            ids, mask, labels = collate(examples[start : start + batch_size], pad)
            loss, tokens = response_loss_sum(model, ids.to(device), mask.to(device),
                                             labels.to(device))
            total += float(loss)
            count += tokens
    return total / max(count, 1)
