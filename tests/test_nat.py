"""NAT's Dynamic Integration Unit on a tiny random model."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from goldpan.distill.nat import attach_nat, load_negative, set_mode
from goldpan.train import LoraConfig, add_lora


def _model(tiny_lm: Path):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(tiny_lm, dtype=torch.float32).eval()


def _trained_negative(layers):  # type: ignore[no-untyped-def]
    """Stand-in for a negative LoRA trained on D_neg: random, non-zero A and B."""
    return [(torch.randn_like(n.negative.A), torch.randn_like(n.negative.B)) for n in layers]


def test_nat_with_zero_initialised_w_c2_equals_the_base_model_at_step_0(tiny_lm: Path) -> None:
    ids = torch.tensor([[1, 25, 60, 99, 140, 7]])
    base = _model(tiny_lm)
    with torch.no_grad():
        expected = base(input_ids=ids).logits
    nat = _model(tiny_lm)
    layers = attach_nat(nat)
    assert len(layers) == 2 * nat.config.num_hidden_layers  # q_proj and v_proj of each layer
    # Even with a trained (non-zero) negative LoRA, the zero W_c2 keeps NAT at the base model.
    load_negative(layers, _trained_negative(layers))
    with torch.no_grad():
        assert torch.allclose(nat(input_ids=ids).logits, expected, atol=1e-6)


def test_p_neg_is_the_negative_lora_model_not_the_base(tiny_lm: Path) -> None:
    """NCE's p_neg: the frozen negative LoRA on the base (M_neg), as a PEFT model of the same
    adapters computes it; at NAT's step 0 it differs from the base model."""
    ids = torch.tensor([[1, 25, 60, 99, 140, 7]])
    lora = LoraConfig(dropout=0.0)
    negative_model = add_lora(_model(tiny_lm), lora).eval()
    with torch.no_grad():
        for module in negative_model.modules():
            if hasattr(module, "lora_B") and "default" in getattr(module, "lora_B", {}):
                module.lora_B["default"].weight.normal_(0, 0.05)  # a trained negative LoRA
        expected = negative_model(input_ids=ids).logits
    from goldpan.distill.train import lora_weights

    nat = _model(tiny_lm)
    layers = attach_nat(nat, r=lora.r, alpha=lora.alpha, dropout=0.0)
    load_negative(layers, lora_weights(negative_model, lora.targets))
    base = _model(tiny_lm)
    with torch.no_grad():
        set_mode(layers, "negative")
        p_neg = nat(input_ids=ids).logits
        base_logits = base(input_ids=ids).logits
    assert torch.allclose(p_neg, expected, atol=1e-5)
    assert not torch.allclose(p_neg, base_logits, atol=1e-3)


def test_the_value_transform_is_a_128_wide_bottleneck(tiny_lm: Path) -> None:
    """NAT's trainable parameters per layer: the positive LoRA, W_Q and W_K (to 128), and
    W_c1 (out x 128), W_c2 (128 x out) without biases, as in the reference (about 140 M
    trainable parameters at LLaMA-7B instead of 2.2 B with a full-width transform)."""
    nat = _model(tiny_lm)
    layers = attach_nat(nat, r=8)
    trainable = sum(p.numel() for p in nat.parameters() if p.requires_grad)
    expected = sum(
        8 * (layer.base.in_features + layer.base.out_features)  # A_p, B_p
        + 128 * layer.base.in_features + 128 * layer.base.out_features  # W_Q, W_K
        + 2 * 128 * layer.base.out_features  # W_c1, W_c2
        for layer in layers
    )
    assert trainable == expected
    assert layers[0].c1.bias is None and layers[0].c2.bias is None
    # At LLaMA-7B (32 layers, q_proj and v_proj 4096 x 4096):
    llama = 32 * 2 * (8 * 8192 + 128 * 8192 + 2 * 128 * 4096)
    assert 130e6 < llama < 150e6


def test_gradients_reach_the_positive_branch_and_unit_but_not_the_negative_lora(
    tiny_lm: Path,
) -> None:
    nat = _model(tiny_lm).train()
    layers = attach_nat(nat, dropout=0.0)
    load_negative(layers, _trained_negative(layers))
    optimizer = torch.optim.AdamW([p for p in nat.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.tensor([[1, 25, 60, 99, 140, 7]])
    frozen = [(nat_layer.negative.A.clone(), nat_layer.negative.B.clone()) for nat_layer in layers]
    for step in range(2):  # after one step W_c2 is non-zero, so the second reaches A_p, B_p
        loss = nat(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        if step == 0:
            optimizer.zero_grad()
    layer = layers[0]
    assert layer.negative.A.grad is None and layer.negative.B.grad is None
    assert not layer.negative.A.requires_grad and not layer.base.weight.requires_grad
    assert layer.c2.weight.grad is not None and layer.positive.B.grad is not None
    assert layer.query.weight.grad is not None
    assert all(
        torch.equal(nat_layer.negative.A, a) and torch.equal(nat_layer.negative.B, b)
        for nat_layer, (a, b) in zip(layers, frozen, strict=True)
    )
    assert not torch.equal(layer.c2.weight, torch.zeros_like(layer.c2.weight))


def test_tdgs_initialisation_starts_m_neg_and_nat_away_from_the_base(tiny_lm: Path) -> None:
    """init: tdg (issue 33, point 6): TDG's reset_parameters skips the neg-mode layers, so the
    negative LoRA's B starts random, and NAT loads the negative stage's untrained, random unit;
    neither starts at the base model. The paper's zero starts are the default."""
    from goldpan.train.lora import LoraConfig, add_lora

    ids = torch.tensor([[1, 25, 60, 99, 140, 7]])
    with torch.no_grad():
        expected = _model(tiny_lm)(input_ids=ids).logits
        paper = add_lora(_model(tiny_lm), LoraConfig())
        assert torch.allclose(paper(input_ids=ids).logits, expected, atol=1e-6)
        tdg = add_lora(_model(tiny_lm), LoraConfig(), random_b=True)
        assert not torch.allclose(tdg(input_ids=ids).logits, expected, atol=1e-3)
    nat = _model(tiny_lm)
    layers = attach_nat(nat, zero_c2=False)
    load_negative(layers, _trained_negative(layers))
    assert all(layer.c2.weight.abs().sum() > 0 for layer in layers)
    with torch.no_grad():
        assert not torch.allclose(nat(input_ids=ids).logits, expected, atol=1e-3)
