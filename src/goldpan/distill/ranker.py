"""ASC's ranking model: how likely a rationale is to be right (Li et al., AAAI 2024).

An encoder (by default the packaged all-MiniLM-L6-v2) reads question and rationale; its token
states are mean-pooled over the rationale's tokens, passed through two residual ELU layers and a
sigmoid head: s in (0, 1). Trained on pairs of a correct and an incorrect rationale for the
same training question, sampled from the NAT student itself, with the loss
(1 - s_pos)^3 + s_neg^3 and AdamW at 2e-5 (the reference code's).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Ranker(nn.Module):
    def __init__(self, encoder: nn.Module, hidden_size: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.layer1 = nn.Linear(hidden_size, hidden_size)
        self.layer2 = nn.Linear(hidden_size, hidden_size)
        self.head = nn.Linear(hidden_size, 1)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, rationale_mask: torch.Tensor
    ) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = rationale_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1)
        hidden = pooled + nn.functional.elu(self.layer1(pooled))
        hidden = hidden + nn.functional.elu(self.layer2(hidden))
        return torch.sigmoid(self.head(hidden)).squeeze(-1)


def ranking_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """(1 - s_pos)^3 + s_neg^3, averaged over the pairs."""
    return ((1 - positive) ** 3 + negative**3).mean()


def encode_for_ranking(
    tokenizer, questions: Sequence[str], rationales: Sequence[str], max_length: int = 256
):  # type: ignore[no-untyped-def]
    """Question and rationale as a pair; the rationale mask marks the rationale's tokens."""
    encoded = tokenizer(
        list(questions),
        list(rationales),
        truncation="only_first" if max_length else False,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
        return_token_type_ids=True,
    )
    rationale_mask = (encoded["token_type_ids"] == 1) & (encoded["attention_mask"] == 1)
    return encoded["input_ids"], encoded["attention_mask"], rationale_mask


def train_ranker_step(
    ranker: Ranker,
    optimizer: torch.optim.Optimizer,
    tokenizer,  # type: ignore[no-untyped-def]
    questions: Sequence[str],
    correct: Sequence[str],
    wrong: Sequence[str],
) -> float:
    """One AdamW step on a batch of (question, correct rationale, wrong rationale) triples."""
    ranker.train()
    positive = ranker(*encode_for_ranking(tokenizer, questions, correct))
    negative = ranker(*encode_for_ranking(tokenizer, questions, wrong))
    loss = ranking_loss(positive, negative)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
