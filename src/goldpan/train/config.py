"""How a model is trained: one validated configuration shared by every method.

Each method (the Montessori student, the distilled students, the scorer LMs) starts from these
fields and sets its paper's values as defaults; every field can be set from the command line
(``--set train.learning_rate=1e-5``) and is listed by ``--help-config``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from goldpan.models.precision import native_bf16

Precision = Literal["float32", "bfloat16", "float16", "auto"]


def resolve_precision(precision: str, device_type: str) -> str:
    """``auto``: bfloat16 where the device computes in it natively (a CUDA GPU with bf16
    support), float32 elsewhere (a CPU's bf16 autocast is slower than float32)."""
    if precision != "auto":
        return precision
    return "bfloat16" if device_type == "cuda" and native_bf16("cuda") else "float32"
ScheduleName = Literal["constant", "linear", "cosine", "wsd"]


class TrainConfig(BaseModel):
    """Optimiser, schedule, batching and precision of one training phase."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate of AdamW.")
    weight_decay: float = Field(
        0.0, ge=0, description="AdamW weight decay (0: the Montessori-Instruct reference's)."
    )
    betas: tuple[float, float] = Field((0.9, 0.999), description="AdamW betas.")
    epochs: float = Field(1.0, gt=0, description="Passes over the examples (may be fractional).")
    max_steps: int | None = Field(
        None, gt=0, description="Stop after this many optimiser steps (overrides epochs)."
    )
    batch_size: int = Field(4, gt=0, description="Examples per micro-batch (one forward pass).")
    gradient_accumulation: int = Field(
        1, gt=0, description="Micro-batches per optimiser step: the effective batch is "
        "batch_size x gradient_accumulation, with the loss averaged over all their tokens.",
    )
    schedule: ScheduleName = Field(
        "constant",
        description="Learning-rate schedule: constant, linear or cosine decay after warm-up, "
        "or wsd (warm-up, stable, decay: the Montessori-Instruct reference's).",
    )
    warmup_ratio: float = Field(0.0, ge=0, le=1, description="Share of steps spent warming up.")
    warmup_steps: int | None = Field(
        None, ge=0, description="Warm-up steps; when set, overrides warmup_ratio."
    )
    decay_ratio: float = Field(
        0.1, ge=0, le=1, description="wsd only: share of steps spent in the final decay."
    )
    min_lr_ratio: float = Field(
        0.0, ge=0, le=1, description="Floor of the decay, as a share of the peak rate."
    )
    max_grad_norm: float | None = Field(
        1.0, gt=0, description="Clip the gradient to this norm; none turns clipping off."
    )
    precision: Precision = Field(
        "float32",
        description="Compute precision: float32, or bfloat16/float16 autocast over float32 "
        "master weights (float16 with loss scaling on CUDA); auto: bfloat16 on a GPU that "
        "supports it, float32 elsewhere.",
    )
    master_weights: bool = Field(
        False, description="Keep fp32 master copies of the trainable weights for AdamW (and "
        "its state in fp32) while the model itself holds lower-precision weights (a model "
        "loaded in bf16): the classic mixed-precision recipe. Off: AdamW updates the model's "
        "own weights in their dtype (a bf16 model then has bf16 AdamW state, as the "
        "Montessori-Instruct reference trains).",
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass: less memory, ~30% slower."
    )
    max_length: int = Field(1024, gt=1, description="Tokens per example (prompt + response).")
    loss_on_prompt: bool = Field(
        False,
        description="Learn the prompt's tokens too, not only the response's (Alpaca-LoRA's "
        "train_on_inputs=True, which the TDG reference keeps).",
    )
    group_by_length: bool = Field(
        True,
        description="Batch examples of similar length together (less padding); the order of "
        "the batches is still shuffled.",
    )
    seed: int = Field(0, description="Data order and initialisation.")

    @model_validator(mode="after")
    def _decay_fits(self) -> TrainConfig:
        if self.schedule == "wsd" and self.warmup_ratio + self.decay_ratio > 1:
            raise ValueError("warmup_ratio + decay_ratio must not exceed 1 for wsd")
        return self

    @property
    def effective_batch_size(self) -> int:
        return self.batch_size * self.gradient_accumulation
