"""A model's modes and memory: evaluation without dropout or gradients, and giving memory back.

Generation and evaluation must see the model as it is, not a dropout-thinned sample of it, and
must not build autograd graphs; a method that moves from one model to the next (student, then
teacher, then judge) must let go of the first before loading the second: at 8B parameters two
resident copies do not fit.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def evaluating(model: Any) -> Iterator[Any]:
    """``model.eval()`` and no gradients inside; the model's earlier mode restored after."""
    import torch

    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def release_memory() -> None:
    """Drop goldpan's cached models, collect garbage and return CUDA's cached blocks.

    The caller drops its own references first (``del model``): memory still referenced cannot
    be given back."""
    from goldpan.models.load import load_cached

    load_cached.cache_clear()
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
