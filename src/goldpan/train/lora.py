"""LoRA adapters through PEFT (Hu et al. 2022): the low-rank update every distilled student
and adapter-trained model uses."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class LoraConfig(BaseModel):
    """Rank, scale and placement of the adapters."""

    model_config = ConfigDict(extra="forbid")

    r: int = Field(8, gt=0, description="Rank of the update (TDG reference: 8).")
    alpha: float = Field(16, gt=0, description="Scale numerator, s = alpha / r (TDG: 16).")
    dropout: float = Field(
        0.05, ge=0, lt=1, description="Dropout on the adapter input (TDG: 0.05)."
    )
    targets: list[str] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        description="Module names that get an adapter (TDG: q_proj, v_proj).",
    )


def add_lora(model: Any, config: LoraConfig, random_b: bool = False) -> Any:
    """The model wrapped by PEFT with fresh adapters; only the adapters train. ``random_b``
    starts B as nn.Linear's default (Kaiming-uniform, like A) instead of zero, so the adapted
    model does not start at the base model (the TDG reference's negative LoRA does)."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    wrapped = get_peft_model(
        model,
        PeftLoraConfig(
            r=config.r,
            lora_alpha=config.alpha,  # type: ignore[arg-type]  # peft's int hint; alpha/r is a float
            lora_dropout=config.dropout,
            target_modules=list(config.targets),
            task_type="CAUSAL_LM",
        ),
    )
    if random_b:
        import math

        import torch

        with torch.no_grad():
            for module in wrapped.modules():
                for linear in getattr(module, "lora_B", {}).values():
                    torch.nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5))
    return wrapped
