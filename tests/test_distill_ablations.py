"""The ablations that tell negative knowledge from NAT's capacity, and UL at sequence level."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from goldpan.distill.baselines import negative_loss_sum
from goldpan.distill.nat import attach_nat
from goldpan.distill.pipeline import lora_parameters, matched_rank, trainable
from tests.distill_files import PROBLEMS, rationale_files


def test_unlikelihood_at_sequence_level_pushes_the_rationales_mean_probability_down() -> None:
    p = torch.tensor([[0.5, 0.25], [0.8, 0.2]])
    learned = torch.tensor([[True, True], [True, True]])
    negative = torch.tensor([False, True])
    positive_ce = -(math.log(0.5) + math.log(0.25))
    ul, tokens = negative_loss_sum(p.log(), learned, negative, "ul", 0.05, level="sequence")
    sequence_p = math.exp((math.log(0.8) + math.log(0.2)) / 2)  # 0.4
    assert tokens == 4
    assert ul.item() == pytest.approx(positive_ce - 0.05 * 2 * math.log(1 - sequence_p))
    token_level, _ = negative_loss_sum(p.log(), learned, negative, "ul", 0.05)
    assert token_level.item() != pytest.approx(ul.item())
    with pytest.raises(ValueError, match="sequence"):
        negative_loss_sum(p.log(), learned, negative, "ul", 0.05, level="paragraph")


def test_the_matched_cot_kd_trains_as_many_parameters_as_nat() -> None:
    model = torch.nn.Sequential()
    model.add_module("q_proj", torch.nn.Linear(64, 64))
    model.add_module("v_proj", torch.nn.Linear(64, 16))
    layers = attach_nat(model, ["q_proj", "v_proj"], r=8)
    nat = trainable(model)
    # Per layer: the positive LoRA r (in + out), W_Q in x 128, W_K, W_c1 and W_c2 out x 128.
    assert nat == 8 * (128 + 80) + 128 * (64 + 64 * 3) + 128 * (64 + 16 * 3)
    rank = matched_rank(nat, layers)
    assert abs(lora_parameters(layers, rank) - nat) <= lora_parameters(layers, 1) / 2


def test_the_ablations_train_nat_over_a_zeroed_and_a_positive_lora_and_a_wider_cot_kd(
    tiny_lm: Path, tmp_path: Path, monkeypatch
) -> None:
    from goldpan.distill import pipeline
    from goldpan.distill.pipeline import DistillConfig, run_distillation

    rationales, test = rationale_files(tmp_path)
    config = DistillConfig.small(
        rationales_file=str(rationales), test_file=str(test), max_new_tokens=8, asc_samples=2,
        baselines=["nat_zero", "nat_dpos", "cot_kd_matched"],
    )
    negatives: list = []
    real_nat = pipeline.train_nat

    def recording(student, rows, negative, *args, **kwargs):  # type: ignore[no-untyped-def]
        negatives.append(negative)
        assert all(not row.negative and "42" not in row.rationale for row in rows)  # D_pos
        return real_nat(student, rows, negative, *args, **kwargs)

    monkeypatch.setattr(pipeline, "train_nat", recording)
    results = run_distillation(config, tmp_path / "run", str(tiny_lm))
    assert {"nat_zero", "nat_dpos", "cot_kd_matched"} <= set(results.accuracy)
    method, zeroed, on_positive = negatives  # NAT, then the two ablations, in that order
    assert all(a.abs().sum() == 0 and b.abs().sum() == 0 for a, b in zeroed)
    assert all(b.abs().sum() > 0 for _, b in method)
    assert all(b.abs().sum() > 0 for _, b in on_positive)
    assert not all(torch.equal(b1, b2) for (_, b1), (_, b2) in zip(method, on_positive,
                                                                   strict=True))
    counts = results.trainable_parameters
    assert counts["cot_kd"] < counts["nat"]
    assert abs(counts["cot_kd_matched"] - counts["nat"]) < counts["cot_kd"]


def test_init_tdg_reaches_the_negative_lora_and_nat_in_a_run(
    tiny_lm: Path, tmp_path: Path, monkeypatch
) -> None:
    """init: tdg starts the negative LoRA's B random and NAT's value projection random, as the
    run trains them (the paper's default starts both at zero)."""
    from goldpan.distill import pipeline
    from goldpan.distill.pipeline import DistillConfig, run_distillation

    rationales, test = rationale_files(tmp_path, PROBLEMS[:1])
    starts: dict[str, object] = {}
    real_lora, real_nat = pipeline.train_lora, pipeline.train_nat

    def lora(*args, **kwargs):  # type: ignore[no-untyped-def]
        starts.setdefault("random_b", []).append(kwargs.get("random_b", False))  # type: ignore[union-attr]
        return real_lora(*args, **kwargs)

    def nat(*args, **kwargs):  # type: ignore[no-untyped-def]
        starts["zero_c2"] = kwargs["zero_c2"]
        return real_nat(*args, **kwargs)

    monkeypatch.setattr(pipeline, "train_lora", lora)
    monkeypatch.setattr(pipeline, "train_nat", nat)
    for init, random_b, zero_c2 in (("tdg", [False, True], False),
                                    ("paper", [False, False], True)):
        starts.clear()
        config = DistillConfig.small(rationales_file=str(rationales), test_file=str(test),
                                     max_new_tokens=8, asc_samples=2, baselines=[], init=init)
        run_distillation(config, tmp_path / init, str(tiny_lm), until="nat")
        assert starts == {"random_b": random_b, "zero_c2": zero_c2}  # CoT KD, then M_neg
