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
from typing import TYPE_CHECKING, Any, Protocol

from goldpan.train.config import TrainConfig, resolve_precision
from goldpan.train.examples import Encoded, batch_order, collate
from goldpan.train.losses import response_loss_sum
from goldpan.train.progress import OnStep, StepLog
from goldpan.train.schedules import make_scheduler

if TYPE_CHECKING:
    from goldpan.train.checkpoints import Checkpoint

# (model, input_ids, attention_mask, labels) -> (summed loss, tokens it is summed over); a loss
# with the attribute ``wants_examples`` also gets the micro-batch's Encoded examples.
LossFn = Callable[..., tuple[Any, int]]


class StepHook(Protocol):
    """Called by ``Trainer.fit`` after each optimiser step: the step's number in the run
    (1-based) and its mean loss (None for a step with nothing to learn)."""

    def __call__(self, trainer: Trainer, step: int, loss: float | None, /) -> None: ...


def autocast(precision: str, device: Any):
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
        self.loss_fn: LossFn = loss_fn or response_loss_sum
        self.on_step = on_step
        self.device = next(model.parameters()).device
        self.precision = resolve_precision(config.precision, self.device.type)
        self.parameters = [p for p in model.parameters() if p.requires_grad]
        # With master weights AdamW owns fp32 copies; the model's weights follow them.
        self.master: list[Any] | None = None
        if config.master_weights:
            self.master = [p.detach().float().clone() for p in self.parameters]
        # What AdamW updates and the gradients land on: the masters, or the weights themselves.
        self.trained = self.master if self.master is not None else self.parameters
        self.optimizer = torch.optim.AdamW(
            self.trained,
            lr=config.learning_rate,
            betas=config.betas,
            weight_decay=config.weight_decay,
        )
        self._kept: list[Any] | None = None  # the weights a lookahead step started from
        self._looking_ahead = False
        self.scheduler: Any = None
        scaled = self.precision == "float16" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if scaled else None
        # Multiplies every loss before its backward pass: 1/N reproduces a run that divides
        # each process's loss by its N data-parallel processes (Montessori's probes, issue 32).
        self.gradient_scale = 1.0
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
        self.undo_lookahead()
        self._kept = None  # the weights move: a later lookahead keeps the new ones
        computed = self._gradients(micro_batches)
        if computed is None:
            return None
        mean, tokens_seen = computed
        learning_rate = self.optimizer.param_groups[0]["lr"]
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self._zero_grad()
        if self.master is not None:
            self._weights_from(self.master)
        if self.scheduler is not None:
            self.scheduler.step()
        self.steps_done += 1
        if self.on_step is not None:
            self.on_step(
                StepLog(self.steps_done, self.total_steps or self.steps_done, mean,
                        learning_rate, tokens_seen, time.perf_counter() - started)
            )
        return mean

    def _zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        for parameter in self.parameters:
            parameter.grad = None

    def _weights_from(self, source: Sequence[Any]) -> None:
        import torch

        with torch.no_grad():
            for live, kept in zip(self.parameters, source, strict=True):
                live.copy_(kept)

    def _gradients(self, micro_batches: Sequence[Sequence[Encoded]]) -> tuple[float, int] | None:
        """Forward and backward over the micro-batches: the gradients of the mean token loss,
        unscaled and clipped, on the optimiser's parameters (the fp32 masters when there are
        some); (mean loss, tokens seen), or None when nothing is learned."""
        total = sum(e.learned_tokens for batch in micro_batches for e in batch)
        if total == 0:
            self.skipped_steps += 1
            return None
        self.model.train()
        self._zero_grad()
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
            scaled = loss * self.gradient_scale / total
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            summed += float(loss.detach())
        if self.master is not None:
            for master, parameter in zip(self.master, self.parameters, strict=True):
                master.grad = None if parameter.grad is None else parameter.grad.float()
                parameter.grad = None
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if self.config.max_grad_norm is not None:
            import torch

            torch.nn.utils.clip_grad_norm_(self.trained, self.config.max_grad_norm)
        return summed / total, tokens_seen

    def replica(self, device: Any) -> Trainer:
        """An independent copy on ``device``: the model, the fp32 masters and the optimiser's
        state and rates, as they are now (for probing one warmed-up state on several GPUs)."""
        import copy

        import torch

        model = copy.deepcopy(self.model).to(device)
        twin = Trainer(model, self.config, self.pad, self.loss_fn)
        twin.gradient_scale = self.gradient_scale
        if self.master is not None and twin.master is not None:
            with torch.no_grad():
                for mine, theirs in zip(self.master, twin.master, strict=True):
                    theirs.copy_(mine)
        twin.optimizer.load_state_dict(self.optimizer.state_dict())
        return twin

    # ------------------------------------------------------------------ lookahead
    def lookahead(
        self, micro_batches: Sequence[Sequence[Encoded]] | None, keep_on: str | None = None
    ) -> float | None:
        """The weights one AdamW step on ``micro_batches`` would give, written into the model,
        with the optimiser's state (moments, step count) and the schedule left untouched;
        ``undo_lookahead`` puts the weights back exactly. For measuring what one step would do
        (Montessori-Instruct's influence probes) without a second copy of the optimiser state:
        it costs one copy of the trainable weights, none with master weights (the masters are
        that copy); ``keep_on="cpu"`` keeps that copy in host memory (an 8B student in bf16
        then fits an 80 GB card). Returns the mean loss, or None (weights untouched) when
        nothing is learned. ``micro_batches=None`` takes the step with a zero gradient: where
        the optimiser's momentum alone would move the weights (returns 0.0)."""
        import torch

        if self.scaler is not None:
            raise ValueError("lookahead steps need float32 or bfloat16 (no loss scaling)")
        self.undo_lookahead()  # every lookahead starts from the same weights
        if micro_batches is None:
            self._zero_grad()
            for trained in self.trained:
                trained.grad = torch.zeros_like(trained)
            computed: tuple[float, int] | None = (0.0, 0)
        else:
            computed = self._gradients(micro_batches)
        if computed is None:
            return None
        if self.master is None and self._kept is None:
            self._kept = [p.detach().to(keep_on or p.device, copy=True) for p in self.parameters]
        groups = {id(t): group for group in self.optimizer.param_groups for t in group["params"]}
        with torch.no_grad():
            for source, live in zip(self.trained, self.parameters, strict=True):
                if source.grad is not None:
                    state = self.optimizer.state.get(source, {})
                    live.copy_(adamw_preview(source, source.grad, state, groups[id(source)]))
        self._zero_grad()
        self._looking_ahead = True
        return computed[0]

    def lookahead_dot(self, directions: Sequence[Any]) -> float:
        """sum over the trainable weights of (pending lookahead weights - weights before it) x
        ``directions``: with a loss's gradient as the directions, the first-order change of that
        loss under the step (in float64; the step as the weights hold it, so a bfloat16 model's
        rounding counts)."""
        import torch

        if not self._looking_ahead:
            raise ValueError("lookahead_dot needs a pending lookahead step")
        before = self.master if self.master is not None else self._kept
        assert before is not None
        total = 0.0
        with torch.no_grad():
            for live, kept, direction in zip(self.parameters, before, directions, strict=True):
                moved = live.double() - kept.to(live.device).double()
                total += float(torch.dot(moved.flatten(), direction.to(live.device).double()
                                         .flatten()))
        return total

    def lookahead_unchanged(self) -> float:
        """The share of trainable weights the pending lookahead step leaves exactly as they
        were (a bf16 model rounds small updates away)."""
        if not self._looking_ahead:
            raise ValueError("lookahead_unchanged needs a pending lookahead step")
        before = self.master if self.master is not None else self._kept
        assert before is not None
        moved = sum(int((live != kept.to(live.device)).sum())
                    for live, kept in zip(self.parameters, before, strict=True))
        return 1 - moved / sum(p.numel() for p in self.parameters)

    def cast(self, dtype: Any) -> None:
        """Weights and AdamW moments in ``dtype`` from here on (a pure-bf16 probe of an fp32
        warm-up, as the reference runs its probes); not with fp32 master weights."""
        import torch

        if self.master is not None:
            raise ValueError("cast: the trainer keeps fp32 master weights")
        self.undo_lookahead()
        self._kept = None
        self.model.to(dtype)
        for state in self.optimizer.state.values():
            for key, value in state.items():
                if torch.is_tensor(value) and value.is_floating_point() and value.dim() > 0:
                    state[key] = value.to(dtype)

    def undo_lookahead(self) -> None:
        """Back to the weights before ``lookahead`` (bit for bit); nothing if none is pending."""
        if not self._looking_ahead:
            return
        self._looking_ahead = False
        if self.master is not None:
            self._weights_from(self.master)
        elif self._kept is not None:
            self._weights_from(self._kept)

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

    def fit(
        self,
        examples: Sequence[Encoded],
        steps: Sequence[Sequence[Sequence[Encoded]]] | None = None,
        hooks: Sequence[StepHook] = (),
        checkpoint: Checkpoint | None = None,
    ) -> list[float | None]:
        """Train on ``examples`` as configured (or on the optimiser ``steps`` given, each a
        list of micro-batches); the loss of each optimiser step taken. After every step each
        hook is called (an evaluation, progress), then the checkpoint saves when it is due; a
        checkpoint saved earlier under the same key is restored first, and the steps it had
        taken are not taken again."""
        planned = self.plan(examples) if steps is None else steps
        self.total_steps = len(planned)
        self.scheduler = make_scheduler(self.optimizer, len(planned), self.config)
        done = checkpoint.restore(self) if checkpoint is not None else 0
        losses = []
        for number, step in enumerate(planned[done:], start=done + 1):
            losses.append(self.step(step))
            for hook in hooks:
                hook(self, number, losses[-1])
            if checkpoint is not None and checkpoint.due(number, len(planned)):
                checkpoint.save(self, number)
        self.scheduler = None
        return losses

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly: weights, fp32 masters, the
        optimiser's moments and the schedule's position."""
        return {
            "model": self.model.state_dict(),
            "master": None if self.master is None else [m.detach() for m in self.master],
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "steps_done": self.steps_done,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        import torch

        self.model.load_state_dict(state["model"])
        if self.master is not None and state["master"] is not None:
            with torch.no_grad():
                for mine, saved in zip(self.master, state["master"], strict=True):
                    mine.copy_(saved)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self.steps_done = state["steps_done"]


def adamw_preview(
    parameter: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]
) -> Any:
    """``parameter`` after one ``torch.optim.AdamW`` step with ``grad``, computed from the
    optimiser's ``state`` without changing it (the same operations in the same order as
    PyTorch's single-tensor AdamW: decoupled weight decay, bias-corrected moments)."""
    import torch

    lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
    step = float(state["step"]) + 1 if "step" in state else 1.0
    exp_avg = state.get("exp_avg", torch.zeros_like(parameter))
    exp_avg_sq = state.get("exp_avg_sq", torch.zeros_like(parameter))
    exp_avg = exp_avg.lerp(grad, 1 - beta1)
    exp_avg_sq = exp_avg_sq.mul(beta2).addcmul_(grad, grad, value=1 - beta2)
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
    updated = parameter.mul(1 - lr * group["weight_decay"])
    return updated.addcdiv_(exp_avg, denom, value=-lr / bias_correction1)


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
