"""Training the distilled students (Li et al., AAAI 2024), with the reference code's LoRA
settings: r 8, alpha 16, dropout 0.05 on q_proj and v_proj, learning rate 3e-4.

- CoT KD: a LoRA on D_pos (response-only loss).
- Negative model: a LoRA on D_neg.
- NAT: the negative LoRA frozen inside NAT layers, a positive LoRA and the Dynamic Integration
  Unit trained on D_pos.
- NCE: a fresh LoRA student on D_pos with 0.5 CE + 0.5 L_KD against the NAT model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from goldpan.distill.nat import NatLinear, attach_nat, load_negative, use_positive
from goldpan.distill.nce import nce_loss
from goldpan.distill.rationales import COT_PROMPT
from goldpan.synth.student import IGNORE, Encoded, collate, encode_example, sft


@dataclass
class LoraSettings:
    r: int = 8
    alpha: float = 16
    dropout: float = 0.05
    targets: tuple[str, ...] = ("q_proj", "v_proj")
    learning_rate: float = 3e-4
    epochs: int = 1
    batch_size: int = 4
    max_length: int = 512
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def rationale_examples(
    tokenizer: Any, rows: Sequence[dict[str, Any]], max_length: int
) -> list[Encoded]:
    """(question prompt, rationale) pairs with the loss on the rationale only."""
    return [
        encode_example(
            tokenizer, COT_PROMPT.format(question=r["question"]), r["rationale"], max_length
        )
        for r in rows
    ]


def _pad(tokenizer: Any) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def _base(spec: str, seed: int):  # type: ignore[no-untyped-def]
    from goldpan.models.load import load

    torch.manual_seed(seed)
    loaded = load(spec, "float32")
    return loaded.model, loaded.tokenizer


def _lora_student(student: str, settings: LoraSettings):  # type: ignore[no-untyped-def]
    """A fresh base student with a PEFT LoRA (the reference settings) and its optimiser."""
    from peft import LoraConfig, get_peft_model

    model, tokenizer = _base(student, settings.seed)
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.targets),
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate
    )
    return model, tokenizer, optimizer


def _sft_on(
    model: Any,
    optimizer: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    settings: LoraSettings,
    on_step: Callable[[int], None] | None,
) -> None:
    examples = rationale_examples(tokenizer, rows, settings.max_length)
    sft(
        model,
        optimizer,
        examples,
        _pad(tokenizer),
        settings.epochs,
        settings.batch_size,
        settings.seed,
        on_step,
    )


def train_lora(
    student: str,
    rows: Sequence[dict[str, Any]],
    settings: LoraSettings,
    on_step: Callable[[int], None] | None = None,
):  # type: ignore[no-untyped-def]
    """A PEFT LoRA on the base student, trained on ``rows`` (CoT KD on D_pos, or the negative
    model on D_neg). Returns (model, tokenizer)."""
    model, tokenizer, optimizer = _lora_student(student, settings)
    _sft_on(model, optimizer, tokenizer, rows, settings, on_step)
    return model, tokenizer


def lora_weights(
    peft_model: Any, targets: Sequence[str]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(A, B) of every adapted layer, in module order (the order ``attach_nat`` replaces them)."""
    pairs = []
    wanted = set(targets)
    for name, module in peft_model.named_modules():
        if name.rsplit(".", 1)[-1] in wanted and hasattr(module, "lora_A"):
            pairs.append(
                (
                    module.lora_A["default"].weight.detach().clone(),
                    module.lora_B["default"].weight.detach().clone(),
                )
            )
    return pairs


def train_nat(
    student: str,
    positive_rows: Sequence[dict[str, Any]],
    negative: list[tuple[torch.Tensor, torch.Tensor]],
    settings: LoraSettings,
    on_step: Callable[[int], None] | None = None,
):  # type: ignore[no-untyped-def]
    """NAT: returns (model, its NAT layers, tokenizer)."""
    model, tokenizer = _base(student, settings.seed)
    layers = attach_nat(
        model, settings.targets, r=settings.r, alpha=settings.alpha, dropout=settings.dropout
    )
    load_negative(layers, negative)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=settings.learning_rate
    )
    _sft_on(model, optimizer, tokenizer, positive_rows, settings, on_step)
    return model, layers, tokenizer


def nat_distributions(nat: Any, layers: list[NatLinear], ids: torch.Tensor, mask: torch.Tensor):  # type: ignore[no-untyped-def]
    """Logits of the NAT model with (p_NAT) and without (p_neg) its positive branch."""
    nat.eval()
    with torch.no_grad():
        use_positive(layers, True)
        full = nat(input_ids=ids, attention_mask=mask).logits
        use_positive(layers, False)
        negative = nat(input_ids=ids, attention_mask=mask).logits
        use_positive(layers, True)
    return full, negative


def train_nce(
    student: str,
    positive_rows: Sequence[dict[str, Any]],
    nat: Any,
    layers: list[NatLinear],
    settings: LoraSettings,
    on_step: Callable[[int], None] | None = None,
):  # type: ignore[no-untyped-def]
    """NCE: a fresh LoRA student on D_pos with 0.5 CE + 0.5 L_KD against NAT."""
    import random

    model, tokenizer, optimizer = _lora_student(student, settings)
    examples = rationale_examples(tokenizer, positive_rows, settings.max_length)
    device = next(model.parameters()).device
    order = list(range(len(examples)))
    for epoch in range(settings.epochs):
        random.Random(settings.seed + epoch).shuffle(order)
        for start in range(0, len(order), settings.batch_size):
            batch = [examples[i] for i in order[start : start + settings.batch_size]]
            ids, mask, labels = (t.to(device) for t in collate(batch, _pad(tokenizer)))
            full, negative = nat_distributions(nat, layers, ids, mask)
            model.train()
            logits = model(input_ids=ids, attention_mask=mask).logits
            targets = labels[:, 1:]
            loss = nce_loss(
                logits[:, :-1], targets, full[:, :-1], negative[:, :-1], targets != IGNORE
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if on_step is not None:
                on_step(1)
    return model, tokenizer
