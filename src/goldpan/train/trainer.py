"""The training loop every method shares: AdamW, a schedule, accumulation, clipping, precision.

One optimiser step averages the loss over every response token of its micro-batches, so
accumulating k micro-batches gives the update of one batch k times larger. A step whose
micro-batches hold no response token (a prompt that filled ``max_length``) is skipped: no
forward, no optimiser step, weights untouched, never a NaN. Methods with losses of their own
(NCE's calibrated distillation) pass ``loss_fn``; methods that need single steps from a saved
state (Montessori-Instruct's influence probes) call ``step`` directly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

from goldpan.train.config import TrainConfig, resolve_precision
from goldpan.train.examples import Encoded, batch_order, collate
from goldpan.train.losses import response_loss_sum
from goldpan.train.progress import OnStep, StepLog
from goldpan.train.schedules import make_scheduler

# (model, input_ids, attention_mask, labels) -> (summed loss, tokens it is summed over); a loss
# with the attribute ``wants_examples`` also gets the micro-batch's Encoded examples.
LossFn = Callable[..., tuple[Any, int]]


def autocast(precision: str, device: Any):  # type: ignore[no-untyped-def]
    """The precision context of a forward pass: autocast for bfloat16/float16, none for
    float32."""
    import torch

    if precision == "float32":
        return nullcontext()
    return torch.autocast(device.type, dtype=getattr(torch, precision))


class Trainer:
    """An optimiser, its schedule and the step logic over one model's trainable parameters."""

    def __init__(
        self,
        model: Any,
        config: TrainConfig,
        pad: int,
        loss_fn: LossFn | None = None,
        on_step: OnStep | None = None,
    ) -> None:
        import torch

        self.model, self.config, self.pad = model, config, pad
        self.loss_fn = loss_fn or response_loss_sum
        self.on_step = on_step
        self.device = next(model.parameters()).device
        self.precision = resolve_precision(config.precision, self.device.type)
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(
            self.parameters,
            lr=config.learning_rate,
            betas=config.betas,
            weight_decay=config.weight_decay,
        )
        self.scheduler: Any = None
        scaled = self.precision == "float16" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if scaled else None
        self.steps_done = 0
        self.skipped_steps = 0
        self.total_steps: int | None = None  # known once ``fit`` has planned the run
        if config.gradient_checkpointing:
            enable_gradient_checkpointing(model)

    # ------------------------------------------------------------------ one step
    def step(self, micro_batches: Sequence[Sequence[Encoded]]) -> float | None:
        """One optimiser step over ``micro_batches``; the mean response-token loss, or None
        (and no change at all) when they hold no response token."""
        started = time.perf_counter()
        total = sum(e.learned_tokens for batch in micro_batches for e in batch)
        if total == 0:
            self.skipped_steps += 1
            return None
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        summed = 0.0
        tokens_seen = 0
        for batch in micro_batches:
            ids, mask, labels = (t.to(self.device) for t in collate(batch, self.pad))
            tokens_seen += int(mask.sum())
            with autocast(self.precision, self.device):
                if getattr(self.loss_fn, "wants_examples", False):
                    loss, _ = self.loss_fn(self.model, ids, mask, labels, batch)
                else:
                    loss, _ = self.loss_fn(self.model, ids, mask, labels)
            scaled = loss / total
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            summed += float(loss.detach())
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.config.max_grad_norm is not None:
            import torch

            torch.nn.utils.clip_grad_norm_(self.parameters, self.config.max_grad_norm)
        learning_rate = self.optimizer.param_groups[0]["lr"]
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            self.scheduler.step()
        self.steps_done += 1
        mean = summed / total
        if self.on_step is not None:
            self.on_step(
                StepLog(self.steps_done, self.total_steps or self.steps_done, mean,
                        learning_rate, tokens_seen, time.perf_counter() - started)
            )
        return mean

    # ------------------------------------------------------------------ epochs
    def plan(self, examples: Sequence[Encoded]) -> list[list[list[Encoded]]]:
        """The optimiser steps of a whole run, each a list of micro-batches."""
        config = self.config
        micro: list[list[Encoded]] = []
        epochs = math.ceil(config.epochs)
        per_epoch = math.ceil(len(examples) / config.batch_size)
        wanted = math.ceil(config.epochs * per_epoch)
        for epoch in range(epochs):
            order = batch_order(examples, config.batch_size, config.seed + epoch,
                                config.group_by_length)
            micro += [[examples[i] for i in batch] for batch in order]
        micro = micro[:wanted]
        steps = [
            micro[start : start + config.gradient_accumulation]
            for start in range(0, len(micro), config.gradient_accumulation)
        ]
        if config.max_steps is not None:
            steps = steps[: config.max_steps]
        return steps

    def fit(self, examples: Sequence[Encoded]) -> list[float | None]:
        """Train on ``examples`` as configured; the loss of each optimiser step."""
        steps = self.plan(examples)
        self.total_steps = len(steps)
        self.scheduler = make_scheduler(self.optimizer, len(steps), self.config)
        losses = [self.step(step) for step in steps]
        self.scheduler = None
        return losses


def enable_gradient_checkpointing(model: Any) -> None:
    """Recompute activations in the backward pass (transformers models, PEFT-wrapped too)."""
    # transformers 5 calls it activation checkpointing; older versions know the first name only.
    options = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
    if hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()  # LoRA: frozen embeddings must still pass gradients
    if getattr(model, "config", None) is not None:
        model.config.use_cache = False
