"""ASC's ranking model on a tiny random encoder with the packaged MiniLM tokenizer."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from goldpan.distill.ranker import (
    Ranker,
    encode_for_ranking,
    ranker_pairs,
    ranking_loss,
    score_rationales,
    train_ranker_step,
)
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
    assert tokens == ["2", "+", "3", "=", "5", "."]  # the closing separator is not rationale


@pytest.mark.parametrize("words", [1_000, 10_000])
def test_rationales_of_any_length_are_scored_and_keep_their_end(tokenizer, words: int) -> None:  # type: ignore[no-untyped-def]
    """A MATH-length rationale must not crash the ranker (truncating the question alone
    cannot make room): the rationale keeps its last tokens, where the answer is."""
    rationale = " ".join(f"step{i % 97}" for i in range(words)) + " The answer is 42."
    ids, mask, rationale_mask = encode_for_ranking(tokenizer, ["What is 6 x 7?"], [rationale])
    assert ids.shape[1] == 256 and bool(mask.all())
    tokens = tokenizer.convert_ids_to_tokens(ids[0][rationale_mask[0]].tolist())
    assert tokens[-5:] == ["the", "answer", "is", "42", "."]
    assert tokenizer.convert_ids_to_tokens(ids[0][:4].tolist())[1:4] == ["what", "is", "6"]
    scores = score_rationales(_ranker(tokenizer), tokenizer, "What is 6 x 7?", [rationale, "42"])
    assert all(0 < value < 1 for value in scores)


def test_an_empty_rationale_gets_the_questions_mean_score(tokenizer) -> None:  # type: ignore[no-untyped-def]
    scores = score_rationales(_ranker(tokenizer), tokenizer, "Q?", ["2 + 3 = 5.", "", "It is 7."])
    assert scores[1] == pytest.approx((scores[0] + scores[2]) / 2)


def test_ranker_pairs_come_from_teacher_data_and_gold_solutions_too() -> None:
    """A student that got nothing right still leaves pairs: the teacher's D_pos and the gold
    solution against the teacher's D_neg and the student's wrong samples."""
    from goldpan.distill.records import Problem, Rationale

    problems = [Problem("p1", "2 + 3?", "5", solution="2 + 3 = 5.")]
    d_pos = [Rationale("p1", "2 + 3?", "5", "Adding gives 5.")]
    d_neg = [Rationale("p1", "2 + 3?", "5", "Adding gives 6.")]
    student = [["It is 7.", "It is 8."]]
    triples = ranker_pairs(problems, d_pos, d_neg, student, lambda r, a: a in r, 32, 0)
    good = {t[1] for t in triples}
    bad = {t[2] for t in triples}
    assert good == {"Adding gives 5.", "2 + 3 = 5."}
    assert bad == {"Adding gives 6.", "It is 7.", "It is 8."}
    assert len(triples) == 6
    assert len(ranker_pairs(problems, d_pos, d_neg, student, lambda r, a: a in r, 4, 0)) == 4


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
