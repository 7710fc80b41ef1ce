"""ASC's ranking model on a tiny random encoder with the packaged MiniLM tokenizer."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from goldpan.distill.ranker import Ranker, encode_for_ranking, ranking_loss, train_ranker_step
from goldpan.models.embeddings import resolve_embedder


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return AutoTokenizer.from_pretrained(resolve_embedder("all-minilm-l6-v2"))


def _ranker(tokenizer) -> Ranker:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    return Ranker(BertModel(config), 32)


def test_the_ranking_loss_is_the_cubic_margin() -> None:
    positive, negative = torch.tensor([0.9, 0.5]), torch.tensor([0.2, 0.5])
    expected = ((0.1**3 + 0.2**3) + (0.5**3 + 0.5**3)) / 2
    assert ranking_loss(positive, negative).item() == pytest.approx(expected)


def test_only_rationale_tokens_are_pooled(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ids, _, rationale = encode_for_ranking(tokenizer, ["What is 2 + 3?"], ["2 + 3 = 5."])
    tokens = tokenizer.convert_ids_to_tokens(ids[0][rationale[0]].tolist())
    assert tokens == ["2", "+", "3", "=", "5", ".", "[SEP]"]


def test_training_separates_correct_from_wrong_rationales(tokenizer) -> None:  # type: ignore[no-untyped-def]
    ranker = _ranker(tokenizer)
    optimizer = torch.optim.AdamW(ranker.parameters(), lr=1e-3)
    questions = ["What is 2 + 3?", "What is 4 + 1?", "What is 10 - 5?"]
    correct = ["2 + 3 = 5. The answer is 5.", "4 + 1 = 5. The answer is 5.", "10 - 5 = 5, so 5."]
    wrong = ["2 + 3 = 7. The answer is 7.", "4 + 1 = 9. The answer is 9.", "10 - 5 = 3, so 3."]
    losses = [
        train_ranker_step(ranker, optimizer, tokenizer, questions, correct, wrong)
        for _ in range(30)
    ]
    assert losses[-1] < losses[0] / 2
    ranker.eval()
    with torch.no_grad():
        s_pos = ranker(*encode_for_ranking(tokenizer, questions, correct))
        s_neg = ranker(*encode_for_ranking(tokenizer, questions, wrong))
    assert bool((s_pos > s_neg).all()) and bool(((s_pos > 0) & (s_pos < 1)).all())
