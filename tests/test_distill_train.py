"""CoT KD, the negative LoRA, NAT and NCE train on a tiny random student."""

from __future__ import annotations

from pathlib import Path

import torch

from goldpan.distill.train import LoraSettings, lora_weights, train_lora, train_nat, train_nce

POSITIVE = [
    {"question": "What is 2 + 3?", "rationale": "2 + 3 = 5. The answer is 5."},
    {"question": "What is 4 + 4?", "rationale": "4 + 4 = 8. The answer is 8."},
    {"question": "What is 9 - 3?", "rationale": "9 - 3 = 6. The answer is 6."},
]
NEGATIVE = [
    {"question": "What is 2 + 3?", "rationale": "2 + 3 = 6. The answer is 6."},
    {"question": "What is 4 + 4?", "rationale": "4 + 4 = 9. The answer is 9."},
]
SETTINGS = LoraSettings(max_length=64, batch_size=2, epochs=2, learning_rate=1e-2)


def test_cot_kd_negative_nat_and_nce_train_end_to_end(tiny_lm: Path) -> None:
    steps: list[int] = []
    kd, _ = train_lora(str(tiny_lm), POSITIVE, SETTINGS, steps.append)
    assert len(steps) == 4  # 2 epochs x 2 batches
    assert any(
        not torch.equal(m.lora_B["default"].weight, torch.zeros_like(m.lora_B["default"].weight))
        for _, m in kd.named_modules()
        if hasattr(m, "lora_B") and "default" in getattr(m, "lora_B", {})
    )
    negative_model, _ = train_lora(str(tiny_lm), NEGATIVE, SETTINGS)
    negative = lora_weights(negative_model, SETTINGS.targets)
    assert len(negative) == 2 * negative_model.config.num_hidden_layers
    nat, layers, _ = train_nat(str(tiny_lm), POSITIVE, negative, SETTINGS)
    for layer, (a, b) in zip(layers, negative, strict=True):
        assert torch.equal(layer.negative.A, a) and torch.equal(layer.negative.B, b)
    assert any(layer.c2.weight.abs().sum() > 0 for layer in layers)  # the unit learned
    nce, _ = train_nce(str(tiny_lm), POSITIVE, nat, layers, SETTINGS)
    assert all(layer.use_positive for layer in layers)  # p_NAT restored after reading p_neg
    trained = [
        m.lora_B["default"].weight for _, m in nce.named_modules() if hasattr(m, "lora_B")
        and "default" in getattr(m, "lora_B", {})
    ]  # fmt: skip
    assert trained and any(w.abs().sum() > 0 for w in trained)
