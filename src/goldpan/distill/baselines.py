"""The paper's baselines that learn from negative rationales by a loss of their own (Li et al.,
AAAI 2024, Table 2), with lambda = 0.05 as the paper sets it.

Both train on D_pos and D_neg together (NT with each question's gold solution too, as TDG's
``MATHCHATNTDataset`` has it); a positive rationale contributes its usual cross-entropy. A
negative one contributes, over its response tokens:
- NT (negative training): -lambda * CE, i.e. its likelihood is pushed down by gradient ascent;
- UL (unlikelihood training, Welleck et al. 2020): lambda * -log(1 - p(y_t)), which pushes
  p(y_t) down but is bounded as it approaches 0; or, at sequence level (``ul_level``), lambda *
  -log(1 - p(y)) for the whole rationale, p(y) its length-normalised probability (the raw
  product of a long rationale's token probabilities is too small for the term to act).
Each returns a sum over the batch's response tokens with their count, as the training core's
``loss_fn`` takes it.

CL, the paper's contrastive baseline, is named in its Table 2 but its objective is given
neither in the text goldpan has read nor in the reference code: TDG builds CL's data
(dataset.py ``MATHCHATCLDataset``: 8 rationales per question, the gold solution among them,
correct ones scored 1 and wrong ones 0) but ships no CL loss. goldpan's CL objective is therefore
a stated choice, the usual sequence-level contrastive objective for generation with
negatives (as in CoNT, An et al. 2022, or BRIO's ranking over candidates): each positive
rationale y+ keeps its cross-entropy and adds, weighted by ``weight`` and counted once per
response token, -log softmax(s / tau)[y+] over {y+} and the question's wrong rationales, where
s is a rationale's mean token log-likelihood (length-normalised, so a long wrong rationale is
not favoured for being long). Its weight, temperature and number of negatives are options.
"""

from __future__ import annotations

from typing import Any

import torch

from goldpan.train import IGNORE
from goldpan.train.examples import collate

NEGATIVE_WEIGHT = 0.05  # lambda, the paper's


def _token_terms(model: Any, ids: Any, mask: Any, labels: Any) -> tuple[Any, Any, Any]:
    """Per-token log p(y_t), the response mask, aligned with their targets."""
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    targets = labels[:, 1:]
    learned = targets != IGNORE
    log_p = logits.log_softmax(-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return log_p, learned, targets


def negative_loss_sum(
    log_p: torch.Tensor, learned: torch.Tensor, negative: torch.Tensor, kind: str,
    weight: float = NEGATIVE_WEIGHT, level: str = "token",
) -> tuple[torch.Tensor, int]:
    """(sum of the per-token losses, tokens) given log p(y_t), the response mask and which rows
    are negative rationales; ``kind`` is ``nt`` or ``ul``; UL's ``level`` is ``token``
    (-log(1 - p(y_t)) at each token) or ``sequence`` (-log(1 - p(y)) once per rationale, p(y)
    its length-normalised probability exp(mean log p(y_t)), counted for each of its tokens so
    that a rationale weighs as much as at token level)."""
    positive_rows = (~negative).unsqueeze(-1) & learned
    negative_rows = negative.unsqueeze(-1) & learned
    total = -(log_p * positive_rows).sum()
    if kind == "nt":
        total = total + weight * (log_p * negative_rows).sum()
    elif kind == "ul" and level == "token":
        # -log(1 - p), computed stably from log p: log(1 - exp(log p)) = log1p(-exp(log p)).
        one_minus = torch.log1p(-log_p.exp().clamp(max=1 - 1e-6))
        total = total - weight * (one_minus * negative_rows).sum()
    elif kind == "ul" and level == "sequence":
        tokens = negative_rows.sum(-1)
        mean = (log_p * negative_rows).sum(-1) / tokens.clamp(min=1)
        one_minus = torch.log1p(-mean.exp().clamp(max=1 - 1e-6))
        total = total - weight * (one_minus * tokens).sum()
    else:
        raise ValueError(f"negative loss {kind!r} at level {level!r}: nt, or ul at token or "
                         "sequence level")
    return total, int(learned.sum())


def negative_data_loss(kind: str, weight: float = NEGATIVE_WEIGHT, level: str = "token") -> Any:
    """A ``loss_fn`` for the trainer whose examples carry ``negative`` (D_neg rows)."""

    def loss(model: Any, ids: Any, mask: Any, labels: Any, examples: Any) -> tuple[Any, int]:
        log_p, learned, _ = _token_terms(model, ids, mask, labels)
        negative = torch.tensor([e.negative for e in examples], device=ids.device)
        return negative_loss_sum(log_p, learned, negative, kind, weight, level)

    loss.wants_examples = True  # type: ignore[attr-defined]  # a flag the trainer reads
    return loss


def contrastive_term(
    positive: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """-log of the positive's share in softmax(scores / temperature) over it and its negatives
    (scores: mean token log-likelihoods)."""
    scores = torch.cat([positive.reshape(1), negatives.reshape(-1)]) / temperature
    return -scores.log_softmax(0)[0]


def _mean_log_likelihood(log_p: torch.Tensor, learned: torch.Tensor) -> torch.Tensor:
    return (log_p * learned).sum(-1) / learned.sum(-1).clamp(min=1)


def _from_positions(starts: list[int], log_p: torch.Tensor) -> torch.Tensor:
    """Mask of the targets at or after each row's start (target t sits at column t - 1)."""
    columns = torch.arange(1, log_p.shape[1] + 1, device=log_p.device)
    return columns.unsqueeze(0) >= torch.tensor(starts, device=log_p.device).unsqueeze(1)


def contrastive_loss(weight: float, temperature: float) -> Any:
    """CL's ``loss_fn``: each example's cross-entropy, plus the contrastive term against its
    ``contrast`` rationales (one extra forward pass per example that has them)."""

    def loss(model: Any, ids: Any, mask: Any, labels: Any, examples: Any) -> tuple[Any, int]:
        log_p, learned, _ = _token_terms(model, ids, mask, labels)
        total = -(log_p * learned).sum()
        # Rationales are compared over their own tokens, also when the question is learned
        # (loss_on_prompt): the question is the same for the positive and its negatives.
        response = learned & _from_positions([e.prompt_length for e in examples], log_p)
        tokens = response.sum(-1)
        scores = _mean_log_likelihood(log_p, response)
        for row, example in enumerate(examples):
            if not example.contrast or int(tokens[row]) == 0:
                continue
            others = [tensor.to(ids.device) for tensor in collate(example.contrast, 0)]
            other_log_p, other_learned, _ = _token_terms(model, *others)
            other_response = other_learned & _from_positions(
                [e.prompt_length for e in example.contrast], other_log_p
            )
            term = contrastive_term(
                scores[row], _mean_log_likelihood(other_log_p, other_response), temperature
            )
            total = total + weight * tokens[row] * term
        return total, int(learned.sum())

    loss.wants_examples = True  # type: ignore[attr-defined]  # a flag the trainer reads
    return loss
