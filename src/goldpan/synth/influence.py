"""Local data influence (Montessori-Instruct, Li, Yu and Xiong 2025): how much one training
example helps the student right now.

From the warmed-up student and its optimiser state, take one optimiser step on the probe
example alone and measure the mean token loss on the reference set: I = L0 - L1, L0 being the
reference loss before the step, so a positive influence means the example helps. Every probe
starts from the same warmed-up state, restored in memory instead of reloaded from disk (the
reference code's way), bit for bit. Two ways, same influences:

- ``lookahead`` (default): the trainer writes the weights one AdamW step would give, computed
  from the optimiser's moments without changing them (``Trainer.lookahead``), and puts the
  weights back; memory: one copy of the trainable weights (none with fp32 master weights).
- ``snapshot``: the real ``optimizer.step()``, then weights and optimiser state copied back
  from a snapshot; memory: a copy of the weights and of both AdamW moments, three times the
  weights. For optimisers or loss scaling the lookahead does not cover.

L1 is measured exactly (a forward pass over the whole reference set per probe: the paper's
definition, and most of the cost) or, with the reference loss's gradient g_ref computed once,
to first order: I ~ -g_ref . (theta_1 - theta_0), one dot product per probe (goldpan's option,
not the paper's; how far it agrees with the exact value is measured, docs/montessori.md).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from goldpan.models.memory import evaluating
from goldpan.train import Encoded, Trainer, mean_loss
from goldpan.train.examples import collate
from goldpan.train.losses import response_loss_sum


@dataclass
class Snapshot:
    parameters: list[Any]
    optimizer_state: dict[int, dict[str, Any]]
    optimizer_groups: list[dict[str, Any]]


def _copied(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.clone() if hasattr(v, "clone") else copy.deepcopy(v) for k, v in values.items()}


def snapshot(model: Any, optimizer: Any) -> Snapshot:
    """Copies of the weights and of the optimiser's per-parameter state and settings."""
    parameters = [p.detach().clone() for p in model.parameters()]
    index = {id(p): i for i, p in enumerate(model.parameters())}
    state = {index[id(p)]: _copied(s) for p, s in optimizer.state.items()}
    groups = [
        {k: copy.deepcopy(v) for k, v in g.items() if k != "params"} for g in optimizer.param_groups
    ]
    return Snapshot(parameters, state, groups)


def restore(model: Any, optimizer: Any, saved: Snapshot) -> None:
    """Copy the snapshot back into the live tensors (no reallocation, no disk)."""
    import torch

    params = list(model.parameters())
    with torch.no_grad():
        for live, kept in zip(params, saved.parameters, strict=True):
            live.copy_(kept)
    for position, parameter in enumerate(params):
        kept_state = saved.optimizer_state.get(position)
        if kept_state is None:
            optimizer.state.pop(parameter, None)
            continue
        live_state = optimizer.state[parameter]
        for key, value in kept_state.items():
            current = live_state.get(key)
            if hasattr(value, "copy_") and current is not None and current.shape == value.shape:
                current.copy_(value)
            else:
                live_state[key] = value.clone() if hasattr(value, "clone") else copy.deepcopy(value)
    for group, kept_group in zip(optimizer.param_groups, saved.optimizer_groups, strict=True):
        group.update(copy.deepcopy(kept_group))
    optimizer.zero_grad(set_to_none=True)


def reference_gradient(trainer: Trainer, reference: Sequence[Encoded],
                       batch_size: int = 8) -> list[Any]:
    """The gradient of the reference set's mean response-token loss (``mean_loss``'s, in eval
    mode) with respect to the trainer's trainable weights, in float32: what a first-order
    influence dots every probe's step with."""
    import torch

    model, pad = trainer.model, trainer.pad
    parameters = trainer.parameters
    total = max(sum(e.learned_tokens for e in reference), 1)
    for parameter in parameters:
        parameter.grad = None
    with evaluating(model), torch.enable_grad():
        for start in range(0, len(reference), batch_size):
            batch = collate(reference[start : start + batch_size], pad)
            ids, mask, labels = (t.to(trainer.device) for t in batch)
            loss, _ = response_loss_sum(model, ids, mask, labels)
            (loss / total).backward()
    gradient = [torch.zeros_like(p, dtype=torch.float32) if p.grad is None else p.grad.float()
                for p in parameters]
    for parameter in parameters:
        parameter.grad = None
    return gradient


def _after(trainer: Trainer, reference: Sequence[Encoded], batch_size: int, before: float,
           gradient: Sequence[Any] | None) -> float:
    """L1 under the pending lookahead step: measured, or L0 + g_ref . step to first order."""
    if gradient is not None:
        return before + trainer.lookahead_dot(gradient)
    return mean_loss(trainer.model, reference, trainer.pad, batch_size)


def momentum_influence(
    trainer: Trainer, reference: Sequence[Encoded], batch_size: int = 8,
    before: float | None = None, gradient: Sequence[Any] | None = None,
) -> float:
    """The influence of a step with a zero gradient: what the restored AdamW momentum alone does
    to the reference loss. Every probe's step contains this same term (the issue's R3), so it
    is the baseline a probe's own contribution is read against. ``before``: the reference loss
    of the current weights, when already known."""
    model, pad = trainer.model, trainer.pad
    if before is None:
        before = mean_loss(model, reference, pad, batch_size)
    trainer.lookahead(None)
    after = _after(trainer, reference, batch_size, before, gradient)
    trainer.undo_lookahead()
    return before - after


@dataclass
class Influence:
    before: float  # L0: reference loss of the warmed-up student
    after: float  # L1: reference loss after one step on the probe
    value: float  # I = L0 - L1 (> 0: the example helps)


def local_influences(
    trainer: Trainer,
    probes: Sequence[Encoded],
    reference: Sequence[Encoded],
    batch_size: int = 8,
    on_done: Callable[[int], None] | None = None,
    method: str = "lookahead",
    keep_on: str | None = None,
    before: float | None = None,
    gradient: Sequence[Any] | None = None,
) -> list[Influence | None]:
    """The influence of each probe, every one measured from the same restored state. A probe
    with no response token (its prompt filled ``max_length``) has no influence to measure: one
    step on it would move the weights by the optimiser's momentum alone. It gets None.
    ``before``: the reference loss of the warmed-up state, when already known; ``gradient``:
    the reference loss's gradient (``reference_gradient``) for first-order influences."""
    if method not in ("lookahead", "snapshot"):
        raise ValueError(f"influence method {method!r}: lookahead or snapshot")
    if gradient is not None and method != "lookahead":
        raise ValueError("first-order influences take the lookahead step")
    model, optimizer, pad = trainer.model, trainer.optimizer, trainer.pad
    saved = snapshot(model, optimizer) if method == "snapshot" else None
    if before is None:
        before = mean_loss(model, reference, pad, batch_size)
    result: list[Influence | None] = []
    for probe in probes:
        taken = (trainer.step([[probe]]) if saved is not None
                 else trainer.lookahead([[probe]], keep_on=keep_on))
        if taken is None:
            result.append(None)
        else:
            after = _after(trainer, reference, batch_size, before, gradient)
            if saved is not None:
                restore(model, optimizer, saved)
            else:
                trainer.undo_lookahead()
            result.append(Influence(before, after, before - after))
        if on_done is not None:
            on_done(1)
    return result


def influences_across(
    trainers: Sequence[Trainer],
    probes: Sequence[Encoded],
    reference: Sequence[Encoded],
    on_done: Callable[[int], None] | None = None,
    **options: Any,
) -> list[Influence | None]:
    """``local_influences`` with the probes split evenly over several copies of the same
    warmed-up trainer (one per GPU: ``Trainer.replica``), each in its own thread (CUDA work
    releases the GIL); the results in probe order, the same as one trainer's."""
    if len(trainers) == 1:
        return local_influences(trainers[0], probes, reference, on_done=on_done, **options)
    lock = threading.Lock()

    def counted(count: int) -> None:
        if on_done is not None:
            with lock:
                on_done(count)

    size = -(-len(probes) // len(trainers))
    chunks = [probes[start : start + size] for start in range(0, len(probes), size)]
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        parts = pool.map(
            lambda pair: local_influences(pair[0], pair[1], reference, on_done=counted, **options),
            zip(trainers, chunks, strict=False),
        )
        return [value for part in parts for value in part]
