"""NCE's KL-calibrated weight and loss on hand-built distributions; ASC's weighted votes."""

from __future__ import annotations

import math

import pytest
import torch

from goldpan.distill.answers import equivalent
from goldpan.distill.asc import credit, vote
from goldpan.distill.nce import kd_loss, kl_weight, nce_loss


def test_the_nce_weight_is_tanh_of_the_mean_kl_over_masked_tokens() -> None:
    p_nat = torch.tensor([[[0.7, 0.2, 0.1], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]])
    p_neg = torch.tensor([[[0.1, 0.2, 0.7], [0.5, 0.25, 0.25], [0.3, 0.3, 0.4]]])
    mask = torch.tensor([[1, 1, 0]])  # the third token is not part of the response
    rows = zip(p_neg[0].tolist()[:2], p_nat[0].tolist()[:2], strict=True)
    kl = [sum(q * math.log(q / p) for q, p in zip(neg, nat, strict=True)) for neg, nat in rows]
    expected = math.tanh(sum(kl) / 2)
    beta = kl_weight(p_neg.log(), p_nat.log(), mask)
    assert beta.item() == pytest.approx(expected, rel=1e-5)
    assert kl_weight(p_nat.log(), p_nat.log(), mask).item() == pytest.approx(0.0, abs=1e-7)


def test_the_kd_loss_follows_the_formula() -> None:
    torch.manual_seed(0)
    student, nat, neg = (torch.randn(2, 4, 5) for _ in range(3))
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    beta = kl_weight(neg, nat, mask)
    per_sample = []
    for i in range(2):
        total = 0.0
        for t in range(4):
            if mask[i, t]:
                q = student[i, t].log_softmax(-1)
                p = nat[i, t].softmax(-1)
                total += -(q * p).sum().item()
        per_sample.append(total * (0.5 + beta[i].item()) / mask[i].sum().item())
    assert kd_loss(student, nat, neg, mask).item() == pytest.approx(sum(per_sample) / 2, rel=1e-5)
    labels = torch.tensor([[1, 2, 3, -100], [0, 4, -100, -100]])
    ce = torch.nn.functional.cross_entropy(student.reshape(-1, 5), labels.reshape(-1))
    total = nce_loss(student, labels, nat, neg, mask).item()
    assert total == pytest.approx(0.5 * ce.item() + 0.5 * sum(per_sample) / 2, rel=1e-5)
    # The reference's reduction: every token of the batch counts once (3 + 2 tokens here).
    token_mean = sum(p * mask[i].sum().item() for i, p in enumerate(per_sample)) / 5
    assert kd_loss(student, nat, neg, mask, reduction="token").item() == pytest.approx(
        token_mean, rel=1e-5
    )
    with pytest.raises(ValueError, match="reduction"):
        kd_loss(student, nat, neg, mask, reduction="mean")


def test_asc_weights_votes_by_the_ranker_score() -> None:
    answers = ["12", "12", "15", "15", "15"]
    scores = [0.9, 0.8, 0.1, 0.1, 0.1]
    assert vote(answers, scores, "plain") == {"15": 1.0}  # 3 votes against 2
    assert vote(answers, scores, "1+2s") == {"12": 1.0}  # 5.4 against 3.6
    assert vote(answers, scores, "1+s") == {"12": 1.0}  # 3.7 against 3.3
    assert vote(answers, scores, "s") == {"12": 1.0}  # 1.7 against 0.3


def test_asc_splits_ties_and_merges_equivalent_answers() -> None:
    tie = vote(["3", "4", None], [0.5, 0.5, 1.0], "1+s")
    assert tie == {"3": 0.5, "4": 0.5}
    assert credit(tie, "4", equivalent) == 0.5
    merged = vote(["0.5", "1/2", "2"], [0.2, 0.2, 0.3], "plain", same=equivalent)
    assert merged == {"0.5": 1.0} and credit(merged, "1/2", equivalent) == 1.0
    assert vote([None, None], [0.1, 0.2]) == {}


def test_self_augmentation_adds_nats_new_correct_rationales_to_d_pos() -> None:
    from goldpan.distill.pipeline import self_augmentation
    from goldpan.distill.records import Problem, Rationale

    train = [Problem("q1", "2 + 3?", "5"), Problem("q2", "4 + 4?", "8")]
    positive = [Rationale("q1", "2 + 3?", "5", "2 + 3 = 5. The answer is 5.")]
    samples = [
        ["2 + 3 = 5. The answer is 5.", "Adding, 5. The answer is 5.", "The answer is 6."],
        ["The answer is 8.", "The answer is 8.", "The answer is 9."],
    ]
    rows = self_augmentation(train, samples, positive)
    assert [(r.id, r.rationale) for r in rows] == [
        ("q1", "Adding, 5. The answer is 5."),  # new and correct; the known one is not repeated
        ("q2", "The answer is 8."),  # duplicates of one sample count once
    ]
    assert all(r.source == "nat" and r.gold for r in rows)


def test_negative_training_and_unlikelihood_on_hand_computed_tensors() -> None:
    """Two rows of two response tokens: row 0 positive, row 1 negative (D_neg)."""
    import math

    from goldpan.distill.baselines import negative_loss_sum

    p = torch.tensor([[0.5, 0.25], [0.8, 0.1]])
    learned = torch.tensor([[True, True], [True, False]])  # the last token is not a response
    negative = torch.tensor([False, True])
    positive_ce = -(math.log(0.5) + math.log(0.25))
    nt, tokens = negative_loss_sum(p.log(), learned, negative, "nt", weight=0.05)
    assert tokens == 3
    assert nt.item() == pytest.approx(positive_ce + 0.05 * math.log(0.8), rel=1e-6)
    ul, _ = negative_loss_sum(p.log(), learned, negative, "ul", weight=0.05)
    assert ul.item() == pytest.approx(positive_ce - 0.05 * math.log(1 - 0.8), rel=1e-6)


def test_the_contrastive_term_is_the_positives_softmax_share() -> None:
    from goldpan.distill.baselines import contrastive_term

    positive, negatives = torch.tensor(-0.5), torch.tensor([-1.0, -2.0])
    share = math.exp(-0.5) / (math.exp(-0.5) + math.exp(-1.0) + math.exp(-2.0))
    assert contrastive_term(positive, negatives, 1.0).item() == pytest.approx(-math.log(share))
    cooler = math.exp(-0.25) / (math.exp(-0.25) + math.exp(-0.5) + math.exp(-1.0))
    assert contrastive_term(positive, negatives, 2.0).item() == pytest.approx(-math.log(cooler))


class _TableModel(torch.nn.Module):
    """A causal "LM" whose logits at a position depend on that position's token only."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.table = torch.nn.Embedding(10, 10)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):  # type: ignore[no-untyped-def]
        from types import SimpleNamespace

        return SimpleNamespace(logits=self.table(input_ids))


def test_cl_adds_the_contrastive_term_per_response_token_to_the_cross_entropy() -> None:
    from goldpan.distill.baselines import contrastive_loss, contrastive_term
    from goldpan.train.examples import IGNORE, Encoded, collate

    model = _TableModel()
    wrong = Encoded([1, 2, 7, 8], [IGNORE, IGNORE, 7, 8])
    right = Encoded([1, 2, 3, 4], [IGNORE, IGNORE, 3, 4], contrast=[wrong])
    alone = Encoded([1, 5, 6], [IGNORE, 5, 6])

    def mean_log_p(example: Encoded) -> torch.Tensor:
        log_p = model.table(torch.tensor(example.input_ids)).log_softmax(-1)
        terms = [log_p[t - 1, example.input_ids[t]] for t in range(1, len(example.input_ids))
                 if example.labels[t] != IGNORE]
        return torch.stack(terms).sum(), len(terms)

    ids, mask, labels = collate([right, alone], 0)
    total, tokens = contrastive_loss(weight=0.5, temperature=1.0)(
        model, ids, mask, labels, [right, alone]
    )
    (right_sum, right_n), (alone_sum, alone_n), (wrong_sum, wrong_n) = map(
        mean_log_p, (right, alone, wrong)
    )
    term = contrastive_term(right_sum / right_n, wrong_sum / wrong_n, 1.0)
    expected = -(right_sum + alone_sum) + 0.5 * right_n * term
    assert tokens == right_n + alone_n == 4
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)


def test_cl_compares_rationales_over_their_own_tokens_when_the_question_is_learned() -> None:
    """Under loss_on_prompt the positive's labels cover the question too, its negatives' do
    not: the contrastive scores and the term's token count come from the rationales alone."""
    from goldpan.distill.baselines import contrastive_loss, contrastive_term
    from goldpan.train.examples import IGNORE, Encoded, collate

    model = _TableModel()
    wrong = Encoded([1, 2, 7, 8], [IGNORE, IGNORE, 7, 8], prompt_length=2)
    right = Encoded([1, 2, 3, 4], [1, 2, 3, 4], prompt_length=2, contrast=[wrong])
    log_p = {tuple(e.input_ids): model.table(torch.tensor(e.input_ids)).log_softmax(-1)
             for e in (right, wrong)}

    def summed(example: Encoded, first: int) -> torch.Tensor:
        table = log_p[tuple(example.input_ids)]
        return torch.stack([table[t - 1, example.input_ids[t]]
                            for t in range(first, len(example.input_ids))]).sum()

    ids, mask, labels = collate([right], 0)
    total, tokens = contrastive_loss(weight=0.5, temperature=1.0)(model, ids, mask, labels,
                                                                  [right])
    term = contrastive_term(summed(right, 2) / 2, summed(wrong, 2) / 2, 1.0)
    assert tokens == 3  # the cross-entropy still learns the question
    assert total.item() == pytest.approx((-summed(right, 1) + 0.5 * 2 * term).item(), rel=1e-5)


def test_cl_data_are_tdgs_sessions_of_eight_under_goldpans_objective() -> None:
    """TDG's MATHCHATCLDataset: per question the gold solution, then the teacher's rationales
    in sample order (right scored 1, wrong 0, the first wrong one skipped), 8 kept, padded with
    the gold solution; goldpan contrasts each rationale scored 1 with the session's 0s."""
    from goldpan.distill.pipeline import cl_rows
    from goldpan.distill.rationales import Collected
    from goldpan.distill.records import Problem, Rationale

    def rationale(question: str, text: str, sample: int) -> Rationale:
        return Rationale(question, f"{question}?", "1", text, sample)

    problems = [Problem("a", "a?", "1", "gold a"), Problem("b", "b?", "2"),
                Problem("c", "c?", "3"), Problem("d", "d?", "4", "gold d")]
    positive = [rationale("a", "right a1", 1), rationale("b", "right b0", 0),
                *[rationale("d", f"right d{i}", i) for i in range(8)]]
    negative = [rationale("a", "wrong a0", 0), rationale("a", "wrong a2", 2),
                rationale("a", "x" * 1700, 3), rationale("c", "wrong c0", 0),
                rationale("c", "wrong c1", 1)]
    rows = cl_rows(problems, Collected(positive, negative, []), 1600)
    a = [r for r in rows if r.id == "a"]
    # gold, right a1, then padding with the gold solution: 7 rows scored 1 of the 8; wrong a0
    # (the first wrong one) is skipped, the 1,700-character one left out, wrong a2 kept at 0.
    assert [r.rationale for r in a] == ["gold a", "right a1"] + ["gold a"] * 5
    assert all(r.contrast == ("wrong a2",) for r in a)
    b = [r for r in rows if r.id == "b"]
    assert [r.rationale for r in b] == ["right b0"] * 8 and b[0].contrast == ()
    assert not [r for r in rows if r.id == "c"]  # nothing right to pad with: no session
    d = [r for r in rows if r.id == "d"]  # gold + 8 right = 9: the last one dropped
    assert [r.rationale for r in d] == ["gold d"] + [f"right d{i}" for i in range(7)]


def test_kd_without_calibration_fixes_beta_at_zero() -> None:
    torch.manual_seed(0)
    student, nat, neg = (torch.randn(2, 3, 5) for _ in range(3))
    mask = torch.ones(2, 3, dtype=torch.bool)
    log_q, p_nat = student.log_softmax(-1), nat.softmax(-1)
    expected = (-(log_q * p_nat).sum(-1) * 0.5).mean()  # (0.5 + 0) per sample, tokens averaged
    assert kd_loss(student, nat, neg, mask, calibrate=False).item() == pytest.approx(
        expected.item(), rel=1e-5
    )
    assert kd_loss(student, nat, neg, mask).item() > expected.item()  # beta > 0 when they differ


def test_weighted_sum_self_consistency_weights_votes_by_sample_probability() -> None:
    import math

    from goldpan.distill.asc import sequence_weight, vote

    assert sequence_weight([math.log(0.5), math.log(0.5)]) == pytest.approx(0.5)
    assert sequence_weight(None) == 0.0
    # Two unlikely samples say 7, one confident sample says 5: the probability-weighted sum
    # picks 5 where a plain majority picks 7.
    answers = ["7", "7", "5"]
    weights = [sequence_weight([math.log(0.2)] * 3), sequence_weight([math.log(0.3)] * 4),
               sequence_weight([math.log(0.9)] * 2)]
    assert vote(answers, weights, "s") == {"5": 1.0}
    assert vote(answers, weights, "plain") == {"7": 1.0}
