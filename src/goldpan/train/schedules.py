"""Learning-rate schedules as a multiplier of the peak rate at each optimiser step.

``constant``, ``linear`` and ``cosine`` warm up linearly over ``warmup_ratio`` of the steps and
then hold or decay to ``min_lr_ratio``; ``wsd`` (warm-up, stable, decay) holds the peak until the
last ``decay_ratio`` of the steps and then decays linearly, as the Montessori-Instruct
reference trains its students (Hu et al. 2024, MiniCPM's WSD scheduler).
"""

from __future__ import annotations

import math

from goldpan.train.config import TrainConfig


def warmup_steps(config: TrainConfig, total_steps: int) -> int:
    if config.warmup_steps is not None:
        return min(config.warmup_steps, total_steps)
    return math.ceil(config.warmup_ratio * total_steps)


def lr_multiplier(step: int, total_steps: int, config: TrainConfig) -> float:
    """The share of the peak learning rate used for optimiser step ``step`` (0-based). Warm-up
    starts above zero ((step + 1) / warm-up steps), so no step is spent at a rate of zero."""
    total_steps = max(1, total_steps)
    warmup = warmup_steps(config, total_steps)
    if step < warmup:
        return (step + 1) / warmup
    floor = config.min_lr_ratio
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "wsd":
        decay = math.ceil(config.decay_ratio * total_steps)
        decay_start = total_steps - decay
        if step < decay_start:
            return 1.0
        progress = (step - decay_start) / max(1, decay)
        return floor + (1.0 - floor) * (1.0 - min(1.0, progress))
    # Decay as transformers' schedulers do: the full rate right after warm-up, a small positive
    # rate at the last step (never a wasted step at zero).
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    if config.schedule == "linear":
        return floor + (1.0 - floor) * (1.0 - progress)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def make_scheduler(optimizer, total_steps: int, config: TrainConfig):
    """A torch ``LambdaLR`` following ``lr_multiplier``; step it after each optimiser step."""
    from torch.optim.lr_scheduler import LambdaLR

    return LambdaLR(optimizer, lambda step: lr_multiplier(step, total_steps, config))
