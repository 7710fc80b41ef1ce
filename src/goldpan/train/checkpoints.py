"""Resumable training inside one phase: the trainer's whole state saved every few steps.

A method's phases resume at phase boundaries (``method_run``); a long training phase (a scorer
of thousands of steps) also saves its trainer every ``every`` steps, so a killed run loses at
most that many. The file holds the trainer's weights, fp32 masters, optimiser moments and
schedule position, the number of steps taken, whatever the method keeps beside them (loss
curves), and the key of the run it belongs to: a checkpoint of other data or settings is never
restored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from goldpan.util.atomic import atomically


class Resumable(Protocol):
    """What a checkpoint saves and restores (``Trainer`` is one)."""

    device: Any

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Checkpoint:
    """``path`` saved every ``every`` steps and at the last one; ``extra`` is a dict the
    method fills as it trains (saved with the trainer and filled back in place on restore)."""

    def __init__(self, path: str | Path, every: int, key: str,
                 extra: dict[str, Any] | None = None) -> None:
        self.path, self.every, self.key = Path(path), max(1, every), key
        self.extra: dict[str, Any] = {} if extra is None else extra

    def due(self, step: int, total: int) -> bool:
        return step % self.every == 0 or step == total

    def save(self, trainer: Resumable, step: int) -> None:
        import torch

        payload = {"key": self.key, "step": step, "trainer": trainer.state_dict(),
                   "extra": self.extra}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomically(self.path) as partial:
            torch.save(payload, partial)

    def restore(self, trainer: Resumable) -> int:
        """The steps a saved checkpoint of this key had taken (its state now in ``trainer``
        and ``extra``), or 0."""
        import torch

        if not self.path.is_file():
            return 0
        payload = torch.load(self.path, weights_only=True, map_location=trainer.device)
        if payload.get("key") != self.key:
            return 0
        trainer.load_state_dict(payload["trainer"])
        self.extra.clear()
        self.extra.update(payload["extra"])
        return int(payload["step"])
