"""Training the distilled students (Li et al., AAAI 2024), with the reference code's LoRA
settings: r 8, alpha 16, dropout 0.05 on q_proj and v_proj, learning rate 3e-4.

- CoT KD: a LoRA on D_pos (response-only loss).
- Negative model: a LoRA on D_neg.
- NAT: the negative LoRA frozen inside NAT layers, a positive LoRA and the Dynamic Integration
  Unit trained on D_pos.
- NCE: a fresh LoRA student on D_pos with 0.5 CE + 0.5 L_KD against the NAT model.

Every phase runs on ``goldpan.train``'s trainer (schedule, accumulation, precision, clipping);
only NCE brings a loss of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from goldpan.distill.config import StudentTraining
from goldpan.distill.nat import (
    NAT_MODE,
    NEGATIVE_MODE,
    NatLinear,
    attach_nat,
    load_negative,
    set_mode,
)
from goldpan.distill.nce import nce_loss
from goldpan.distill.records import Rationale
from goldpan.models.memory import evaluating
from goldpan.train import (
    IGNORE,
    Encoded,
    Trainer,
    add_lora,
    encode_example,
    pad_id,
)
from goldpan.train.progress import OnStep


def rationale_examples(
    tokenizer: Any, rows: Sequence[Rationale], max_length: int, loss_on_prompt: bool = False
) -> list[Encoded]:
    """(question prompt, rationale) pairs with the loss on the rationale (and, with
    ``loss_on_prompt``, the question); a row marked ``negative`` (D_neg, for the baselines that
    learn away from it) carries the mark and never learns away from the question; a row's
    ``contrast`` rationales (wrong ones for the same question, for CL) come along encoded."""
    examples = []
    for row in rows:
        example = encode_example(
            tokenizer, row.prompt, row.rationale, max_length, loss_on_prompt and not row.negative
        )
        example.negative = row.negative
        example.contrast = [encode_example(tokenizer, row.prompt, other, max_length)
                            for other in row.contrast]
        examples.append(example)
    return examples


def longest_pair(tokenizer: Any, rows: Sequence[Rationale]) -> int:
    """Tokens of the longest (question prompt, rationale) pair among ``rows`` and the rationales
    they are contrasted with, uncut: the context that cuts none of them."""
    return max((len(encode_example(tokenizer, row.prompt, text, 2**31).input_ids)
                for row in rows for text in (row.rationale, *row.contrast)), default=1)


def _base(spec: str, seed: int):
    from goldpan.models.load import load

    torch.manual_seed(seed)
    loaded = load(spec, "float32")
    return loaded.model, loaded.tokenizer


def _fit(
    model: Any,
    tokenizer: Any,
    rows: Sequence[Rationale],
    settings: StudentTraining,
    on_step: OnStep | None,
    loss_fn: Any = None,
) -> None:
    trainer = Trainer(model, settings.train, pad_id(tokenizer), loss_fn=loss_fn, on_step=on_step)
    trainer.fit(rationale_examples(
        tokenizer, rows, settings.train.max_length, settings.train.loss_on_prompt
    ))


def train_lora(
    student: str,
    rows: Sequence[Rationale],
    settings: StudentTraining,
    on_step: OnStep | None = None,
    loss_fn: Any = None,
    random_b: bool = False,
):
    """A PEFT LoRA on the base student, trained on ``rows`` (CoT KD on D_pos, the negative
    model on D_neg, a baseline with a loss of its own); ``random_b`` as in ``add_lora``.
    Returns (model, tokenizer)."""
    model, tokenizer = _base(student, settings.train.seed)
    model = add_lora(model, settings.lora, random_b)
    _fit(model, tokenizer, rows, settings, on_step, loss_fn)
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
    positive_rows: Sequence[Rationale],
    negative: list[tuple[torch.Tensor, torch.Tensor]],
    settings: StudentTraining,
    on_step: OnStep | None = None,
    zero_c2: bool = True,
):
    """NAT: returns (model, its NAT layers, tokenizer); ``zero_c2=False`` starts the unit's
    value projection random, as TDG's NAT does (it loads the negative stage's untrained unit)."""
    model, tokenizer = _base(student, settings.train.seed)
    lora = settings.lora
    layers = attach_nat(model, lora.targets, r=lora.r, alpha=lora.alpha, dropout=lora.dropout,
                        zero_c2=zero_c2)
    load_negative(layers, negative)
    _fit(model, tokenizer, positive_rows, settings, on_step)
    return model, layers, tokenizer


def load_nat(
    student: str,
    negative: list[tuple[torch.Tensor, torch.Tensor]],
    path: Any,
    settings: StudentTraining,
):
    """A NAT model as a finished NAT stage saved it (``nat_state`` in ``path``)."""
    model, tokenizer = _base(student, settings.train.seed)
    lora = settings.lora
    layers = attach_nat(model, lora.targets, r=lora.r, alpha=lora.alpha, dropout=lora.dropout)
    load_negative(layers, negative)
    missing = model.load_state_dict(torch.load(path, weights_only=True), strict=False)
    if missing.unexpected_keys:
        raise ValueError(f"{path}: not a NAT state of this student")
    return model, layers, tokenizer


def nat_distributions(nat: Any, layers: list[NatLinear], ids: torch.Tensor, mask: torch.Tensor):
    """Logits of the NAT model (p_NAT) and of the negative model M_neg (p_neg) inside it."""
    with evaluating(nat):
        try:
            set_mode(layers, NAT_MODE)
            full = nat(input_ids=ids, attention_mask=mask).logits
            set_mode(layers, NEGATIVE_MODE)
            negative = nat(input_ids=ids, attention_mask=mask).logits
        finally:
            set_mode(layers, NAT_MODE)
    return full, negative


def train_nce(
    student: str,
    positive_rows: Sequence[Rationale],
    nat: Any,
    layers: list[NatLinear],
    settings: StudentTraining,
    on_step: OnStep | None = None,
    calibrate: bool = True,
    reduction: str = "sample",
    betas: list[float] | None = None,
):
    """NCE: a fresh LoRA student on D_pos with 0.5 CE + 0.5 L_KD against NAT; with
    ``calibrate=False`` plain KD from NAT (beta = 0), the paper's KD row; ``reduction`` as in
    ``nce.kd_loss``; ``betas`` collects every trained sample's beta (once per epoch)."""
    model, tokenizer = _base(student, settings.train.seed)
    model = add_lora(model, settings.lora)

    def calibrated_loss(model: Any, ids: Any, mask: Any, labels: Any) -> tuple[Any, int]:
        targets = labels[:, 1:]
        tokens = int((targets != IGNORE).sum())
        if tokens == 0:
            # Nothing learned in this micro-batch (its questions filled max_length): the mean
            # cross-entropy would be NaN, and NaN x 0 tokens stays NaN in the step's sum.
            return torch.zeros((), device=ids.device, requires_grad=True), 0
        full, negative = nat_distributions(nat, layers, ids, mask)
        logits = model(input_ids=ids, attention_mask=mask).logits
        mean = nce_loss(
            logits[:, :-1], targets, full[:, :-1], negative[:, :-1], targets != IGNORE, calibrate,
            reduction, betas,
        )
        return mean * tokens, tokens  # the trainer divides by the tokens of the whole step

    _fit(model, tokenizer, positive_rows, settings, on_step, loss_fn=calibrated_loss)
    return model, tokenizer


