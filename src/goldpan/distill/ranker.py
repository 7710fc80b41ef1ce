"""ASC's ranking model: how likely a rationale is to be right (Li et al., AAAI 2024).

An encoder (by default the packaged all-MiniLM-L6-v2) reads question and rationale; its token
states are mean-pooled over the rationale's tokens, passed through two residual ELU layers and a
sigmoid head: s in (0, 1). Trained on pairs of a correct and an incorrect rationale for the
same training question, with the loss (1 - s_pos)^3 + s_neg^3 and AdamW at 2e-5 (the reference
code's). The pairs come from the teacher's D_pos and D_neg (the paper's wording), the problem's
gold solution as one more correct rationale when the problem file has one (the reference's),
and the student's own samples, so a weak student still yields pairs; they are shuffled every
epoch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from goldpan.distill.records import Problem, Rationale
from goldpan.models.memory import evaluating


class Ranker(nn.Module):
    def __init__(self, encoder: nn.Module, hidden_size: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.layer1 = nn.Linear(hidden_size, hidden_size)
        self.layer2 = nn.Linear(hidden_size, hidden_size)
        self.head = nn.Linear(hidden_size, 1)
        # The pair is cut to what the encoder's position embeddings can read (256 at most).
        positions = getattr(getattr(encoder, "config", None), "max_position_embeddings", 256)
        self.max_length = min(256, positions)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, rationale_mask: torch.Tensor
    ) -> torch.Tensor:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        weights = rationale_mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1)
        hidden = pooled + nn.functional.elu(self.layer1(pooled))
        hidden = hidden + nn.functional.elu(self.layer2(hidden))
        return torch.sigmoid(self.head(hidden)).squeeze(-1)


def ranker_pairs(
    problems: Sequence[Problem],
    teacher_positive: Sequence[Rationale],
    teacher_negative: Sequence[Rationale],
    student_samples: Sequence[Sequence[str]],
    is_right: Any,
    per_question: int,
    seed: int,
) -> list[tuple[str, str, str]]:
    """(question, correct rationale, wrong rationale) triples: every correct one against every
    wrong one of the same question, at most ``per_question`` of them (a seeded sample)."""
    import random

    rng = random.Random(seed)
    right: dict[str, list[str]] = {}
    wrong: dict[str, list[str]] = {}
    for row in teacher_positive:
        right.setdefault(row.id, []).append(row.rationale)
    for row in teacher_negative:
        wrong.setdefault(row.id, []).append(row.rationale)
    triples: list[tuple[str, str, str]] = []
    for problem, samples in zip(problems, student_samples, strict=True):
        good = [*right.get(problem.id, []), *([problem.solution] if problem.solution else [])]
        bad = list(wrong.get(problem.id, []))
        for sample in samples:
            (good if is_right(sample, problem.answer) else bad).append(sample)
        question = problem.question
        pairs = [(question, a, b) for a in dict.fromkeys(good) for b in dict.fromkeys(bad)]
        if len(pairs) > per_question:
            pairs = rng.sample(pairs, per_question)
        triples += pairs
    return triples


def ranking_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """(1 - s_pos)^3 + s_neg^3, averaged over the pairs."""
    return ((1 - positive) ** 3 + negative**3).mean()


def encode_for_ranking(
    tokenizer, questions: Sequence[str], rationales: Sequence[str], max_length: int = 256
):
    """Question and rationale as a pair; the rationale mask marks the rationale's tokens.

    Any length fits: when the pair is longer than ``max_length`` the rationale keeps its end
    (where the answer is) and at least half the room, the question keeps its beginning."""
    import numpy as np

    from goldpan.models.batching import attention_mask, pad_right

    # [CLS] question [SEP] rationale [SEP], the pair layout of BERT-style encoders (MiniLM).
    first = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    separator = (
        tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    )
    room = max_length - 3
    ids, types = [], []
    question_ids = tokenizer(list(questions), add_special_tokens=False)["input_ids"]
    rationale_ids = tokenizer(list(rationales), add_special_tokens=False)["input_ids"]
    for question, rationale in zip(question_ids, rationale_ids, strict=True):
        keep = min(len(rationale), max(room - len(question), room // 2))
        rationale = rationale[len(rationale) - keep :]
        question = question[: room - len(rationale)]
        ids.append([first, *question, separator, *rationale, separator])
        types.append([0] * (len(question) + 2) + [1] * (len(rationale) + 1))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.from_numpy(pad_right(ids, pad))
    mask = torch.from_numpy(attention_mask(ids))
    token_types = torch.from_numpy(pad_right(types, 0))
    rationale_mask = (token_types == 1) & (mask == 1)
    # The separator closing the rationale is not part of it.
    ends = np.fromiter((len(row) - 1 for row in ids), dtype=np.int64, count=len(ids))
    rationale_mask[torch.arange(len(ids)), torch.from_numpy(ends)] = False
    return input_ids, mask, rationale_mask


def score_rationales(
    ranker: Ranker, tokenizer, question: str, rationales: Sequence[str], batch_size: int = 16
) -> list[float]:
    """The ranker's score of each rationale for one question. A rationale with nothing to read
    (empty) cannot be scored and gets the mean score of the question's others (the reference
    code's rule), 0.5 when none can be."""
    scorable = [i for i, r in enumerate(rationales) if r.strip()]
    scores: dict[int, float] = {}
    with evaluating(ranker):
        for start in range(0, len(scorable), batch_size):
            members = scorable[start : start + batch_size]
            batch = encode_for_ranking(
                tokenizer, [question] * len(members), [rationales[i] for i in members],
                ranker.max_length,
            )
            scores.update(zip(members, ranker(*batch).tolist(), strict=True))
    fallback = sum(scores.values()) / len(scores) if scores else 0.5
    return [scores.get(i, fallback) for i in range(len(rationales))]


def train_ranker_step(
    ranker: Ranker,
    optimizer: torch.optim.Optimizer,
    tokenizer,
    questions: Sequence[str],
    correct: Sequence[str],
    wrong: Sequence[str],
) -> float:
    """One AdamW step on a batch of (question, correct rationale, wrong rationale) triples."""
    ranker.train()
    positive = ranker(*encode_for_ranking(tokenizer, questions, correct, ranker.max_length))
    negative = ranker(*encode_for_ranking(tokenizer, questions, wrong, ranker.max_length))
    loss = ranking_loss(positive, negative)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
