"""NAT: a positive LoRA and a frozen negative LoRA joined by the Dynamic Integration Unit
(Li et al., AAAI 2024, "Turning Dust into Gold").

For each adapted linear layer W0 with LoRA scale s = alpha / r:
  h_pos = W0 x + s B_p A_p x,   h_neg = W0 x + s B_n A_n x
  q = W_Q x,   k_i = W_K h_i  (key dimension 128)
  v_i = W_c2 GELU(W_c1 h_i)   (a 128-wide bottleneck; W_c2 starts at zero; no biases)
  a = softmax_i(q . k_i)      (no scaling)
  alpha = 2 beta a_neg - beta,  beta = 0.5
  y = W0 x + (1 - alpha) v_pos + alpha v_neg
so at initialisation y = W0 x: NAT starts exactly as the base model. The negative branch is
frozen (trained beforehand on D_neg); the positive branch and the unit learn on D_pos.

In ``negative`` mode a layer is the negative model M_neg itself, y = W0 x + s B_n A_n x, without
the unit: that is the distribution p_neg NCE calibrates against (the reference code's ``neg``
mode in peft_NAT/tuners/lora.py; the paper's section on NCE). The reference sizes W_K and W_c1
by the layer's input; here they take the branch outputs h_i they are applied to, which is the
same for square projections (LLaMA's q_proj, v_proj) and also works for grouped-query attention,
whose v_proj is narrower than its input.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


class LoraBranch(nn.Module):
    """s B A x with A Kaiming-initialised and B zero (the usual LoRA start), input dropout."""

    def __init__(self, features_in: int, features_out: int, r: int, alpha: float, dropout: float):
        super().__init__()
        self.A = nn.Parameter(torch.empty(r, features_in))
        self.B = nn.Parameter(torch.zeros(features_out, r))
        nn.init.kaiming_uniform_(self.A, a=5**0.5)
        self.scale = alpha / r
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * (self.dropout(x) @ self.A.T @ self.B.T)


class NatLinear(nn.Module):
    def __init__(
        self,
        base: nn.Linear,
        r: int = 8,
        alpha: float = 16,
        dropout: float = 0.05,
        key_dim: int = 128,
        hidden: int = 128,
        beta: float = 0.5,
        zero_c2: bool = True,
    ) -> None:
        super().__init__()
        self.base = base
        for parameter in self.base.parameters():
            parameter.requires_grad_(False)
        features_in, features_out = base.in_features, base.out_features
        self.positive = LoraBranch(features_in, features_out, r, alpha, dropout)
        self.negative = LoraBranch(features_in, features_out, r, alpha, dropout)
        self.negative.requires_grad_(False)
        self.query = nn.Linear(features_in, key_dim, bias=False)  # W_Q
        self.key = nn.Linear(features_out, key_dim, bias=False)  # W_K
        self.c1 = nn.Linear(features_out, hidden, bias=False)  # lora_change1 (in, 128)
        self.c2 = nn.Linear(hidden, features_out, bias=False)  # lora_change2 (128, out), zero
        if zero_c2:  # the paper's start: NAT equals the base model; TDG's code starts random
            nn.init.zeros_(self.c2.weight)
        self.beta = beta
        self.mode = "nat"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        base = self.base(x)
        h_neg = base + self.negative(x)
        if self.mode == "negative":
            return h_neg  # M_neg: the base with the negative LoRA, no unit (p_neg for NCE)
        v_neg = self.c2(nn.functional.gelu(self.c1(h_neg)))
        h_pos = base + self.positive(x)
        v_pos = self.c2(nn.functional.gelu(self.c1(h_pos)))
        q = self.query(x)
        scores = torch.stack(
            [(q * self.key(h_pos)).sum(-1), (q * self.key(h_neg)).sum(-1)], dim=-1
        )  # no 1/sqrt(d) scaling, as in the paper
        a_neg = scores.softmax(dim=-1)[..., 1:2]
        weight = 2 * self.beta * a_neg - self.beta
        return base + (1 - weight) * v_pos + weight * v_neg


def attach_nat(
    model: nn.Module, targets: Iterable[str] = ("q_proj", "v_proj"), **options: Any
) -> list[NatLinear]:
    """Replace every linear layer named in ``targets`` by a NAT layer; freeze everything else."""
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    wanted = set(targets)
    replaced = []
    for _name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in wanted and isinstance(child, nn.Linear):
                layer = NatLinear(child, **options)
                setattr(module, child_name, layer)
                replaced.append(layer)
    for layer in replaced:
        for part in (layer.positive, layer.query, layer.key, layer.c1, layer.c2):
            part.requires_grad_(True)
    return replaced


def load_negative(
    layers: list[NatLinear], lora_layers: list[tuple[torch.Tensor, torch.Tensor]]
) -> None:
    """Copy a trained negative LoRA's (A, B) pairs into the NAT layers' frozen branches."""
    with torch.no_grad():
        for layer, (a, b) in zip(layers, lora_layers, strict=True):
            layer.negative.A.copy_(a)
            layer.negative.B.copy_(b)


NAT_MODE, NEGATIVE_MODE = "nat", "negative"


def set_mode(layers: list[NatLinear], mode: str) -> None:
    """``nat``: the full NAT layer; ``negative``: the negative model M_neg."""
    if mode not in (NAT_MODE, NEGATIVE_MODE):
        raise ValueError(f"NAT mode {mode!r}: nat or negative")
    for layer in layers:
        layer.mode = mode


def nat_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The NAT parts of a model (both LoRA branches and the unit), without the base weights."""
    return {
        name: tensor
        for name, tensor in model.state_dict().items()
        if any(f".{part}." in name for part in ("positive", "negative", "query", "key", "c1", "c2"))
    }
