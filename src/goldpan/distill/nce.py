"""NCE: distillation from the NAT model, calibrated by how much its negative branch disagrees
with it (Li et al., AAAI 2024).

Per sample i: beta_i = tanh(mean over learned tokens t of KL(p_neg,t || p_NAT,t)), where
p_NAT is the NAT model's distribution and p_neg the negative model M_neg (the base with the
frozen negative LoRA). L_KD = - sum_t sum_v m_t log q_t(v) p_NAT,t(v) (0.5 + beta_i), divided
by sum_t m_t per sample and averaged over the batch (``reduction="sample"``: the paper's
per-sample formula, and in effect TDG's: ``code/distill_NCE.py`` line 148 sums over a
micro-batch's tokens and divides by their number, but its micro-batch is one sample per GPU and
DDP averages the 8 GPUs' per-sample means), or summed over the batch and divided by its learned
tokens (``reduction="token"``, which weights long rationales more: goldpan's option, nobody's
published choice); the student's loss is 0.5 CE + 0.5 L_KD (its ``alpha = 0.5``,
temperature 1).
"""

from __future__ import annotations

import torch


def kl_weight(
    neg_logits: torch.Tensor, nat_logits: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """beta_i = tanh(mean_t KL(p_neg,t || p_NAT,t)) over the masked tokens of each sample."""
    log_neg = neg_logits.float().log_softmax(-1)
    log_nat = nat_logits.float().log_softmax(-1)
    kl = (log_neg.exp() * (log_neg - log_nat)).sum(-1)  # (batch, tokens)
    mask = mask.float()
    mean = (kl * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    return torch.tanh(mean)


def kd_loss(
    student_logits: torch.Tensor,
    nat_logits: torch.Tensor,
    neg_logits: torch.Tensor,
    mask: torch.Tensor,
    calibrate: bool = True,
    reduction: str = "sample",
    betas: list[float] | None = None,
) -> torch.Tensor:
    """L_KD per the formula above. ``calibrate=False`` fixes beta at 0: plain distillation from
    NAT, the row NCE is compared against in the paper. ``betas`` collects each sample's beta
    (if it barely varies, the calibration is a constant rescaling of KD)."""
    beta = kl_weight(neg_logits, nat_logits, mask).detach()
    if betas is not None:
        betas.extend(beta.tolist())
    if not calibrate:
        beta = torch.zeros_like(beta)
    log_q = student_logits.float().log_softmax(-1)
    p_nat = nat_logits.float().softmax(-1).detach()
    cross = -(log_q * p_nat).sum(-1)  # (batch, tokens)
    mask = mask.float()
    weighted = (cross * mask).sum(-1) * (0.5 + beta)  # (batch,)
    if reduction == "token":
        return weighted.sum() / mask.sum().clamp(min=1)
    if reduction != "sample":
        raise ValueError(f"reduction {reduction!r}: choose sample or token")
    return (weighted / mask.sum(-1).clamp(min=1)).mean()


def nce_loss(
    student_logits: torch.Tensor,
    labels: torch.Tensor,
    nat_logits: torch.Tensor,
    neg_logits: torch.Tensor,
    mask: torch.Tensor,
    calibrate: bool = True,
    reduction: str = "sample",
    betas: list[float] | None = None,
) -> torch.Tensor:
    """0.5 CE + 0.5 L_KD (logits already aligned with their targets; mask marks the learned
    tokens)."""
    ce = torch.nn.functional.cross_entropy(
        student_logits.float().reshape(-1, student_logits.shape[-1]),
        labels.reshape(-1),
        ignore_index=-100,
    )
    kd = kd_loss(student_logits, nat_logits, neg_logits, mask, calibrate, reduction, betas)
    return 0.5 * ce + 0.5 * kd
