"""NAT's Dynamic Integration Unit on a tiny random model."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from goldpan.distill.nat import attach_nat, load_negative, use_positive


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
        use_positive(layers, False)
        assert torch.allclose(nat(input_ids=ids).logits, expected, atol=1e-6)


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
