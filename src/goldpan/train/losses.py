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


def example_losses(
    model: Any, examples: Sequence[Encoded], pad: int, batch_size: int = 8
) -> list[tuple[float, int]]:
    """Per example, (summed response-token loss, response tokens), in eval mode without
    gradients: for paired comparisons of two models on the same examples."""
    import torch

    device = next(model.parameters()).device
    found: list[tuple[float, int]] = []
    with evaluating(model):
        for start in range(0, len(examples), batch_size):
            ids, mask, labels = (t.to(device) for t in
                                 collate(examples[start : start + batch_size], pad))
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
            targets = labels[:, 1:]
            per_token = torch.nn.functional.cross_entropy(
                logits.float().transpose(1, 2), targets, ignore_index=IGNORE, reduction="none"
            )
            sums = per_token.sum(-1).tolist()
            counts = (targets != IGNORE).sum(-1).tolist()
            found += [(float(s), int(c)) for s, c in zip(sums, counts, strict=True)]
    return found


def mean_loss(model: Any, examples: Sequence[Encoded], pad: int, batch_size: int = 8) -> float:
    """Mean response-token loss over a set (token-weighted), in eval mode without gradients."""
    losses = example_losses(model, examples, pad, batch_size)
    return sum(s for s, _ in losses) / max(sum(c for _, c in losses), 1)
