"""A method as a list of named phases: what is finished, ``until``, memory and progress, once.

Each method (distillation, Montessori-Instruct, scorer training, Self-Instruct) used to keep
its own "finished?" checks, early exits and memory releases between long steps. Here a method
is a list of ``Phase`` objects over one state object of its own: a phase's ``run`` does the
work and leaves its result on disk and in the state; its ``load`` puts a finished phase's
result back into the state. ``MethodRun`` records finished phases in ``phases.json`` under a
key (a hash of everything the results depend on: a changed key starts the run over), skips
them on a rerun, loads a finished phase's result only when a phase after it still has to run,
stops after ``until``, and releases memory after each phase. A run killed in the middle of a
phase redoes that phase from its start.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from goldpan.errors import GoldpanError
from goldpan.models.memory import release_memory
from goldpan.util.atomic import atomic_write_json
from goldpan.util.config_hash import config_hash

PHASES_FILE = "phases.json"
State = TypeVar("State")


class Progress(Protocol):
    """Progress of a method's phases: ``progress(phase, done, total, loss="0.51", ...)``; a
    total of 0 means the phase's length is unknown and ``done`` counts up."""

    def __call__(self, phase: str, done: int, total: int, /, **figures: str) -> None: ...


def _nothing(state: Any) -> None:
    """A phase whose result later phases never read (an evaluation that only adds figures)."""


@dataclass(frozen=True)
class Phase(Generic[State]):
    name: str
    run: Callable[[State], None]
    load: Callable[[State], None] = _nothing
    release_memory: bool = True  # free the models the phase dropped before the next one


def file_stamp(path: str | Path | None) -> Any:
    """A file as a run key sees it: path, size and modification time (the path alone when it
    is not a local file)."""
    if not path or not os.path.exists(path):
        return None if path is None else str(path)
    stat = os.stat(path)
    return [str(path), stat.st_size, stat.st_mtime_ns]


def run_key(**parts: Any) -> str:
    """The key of a run: a hash of the settings, models and file stamps its results depend on."""
    return config_hash(parts)


class MethodRun(Generic[State]):
    """The phases of one method in one folder, under one key."""

    def __init__(self, folder: str | Path, key: str, phases: Sequence[Phase[State]],
                 save: Callable[[State], None] | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path, self.key, self.phases, self.save = self.folder / PHASES_FILE, key, phases, save
        names = [phase.name for phase in phases]
        if len(set(names)) != len(names):
            raise ValueError(f"phase names repeat: {names}")
        stored: dict[str, Any] = {}
        if self.path.is_file():
            try:
                stored = json.loads(self.path.read_text())
            except ValueError:
                stored = {}
        self.done: list[str] = list(stored.get("done", [])) if stored.get("key") == key else []

    @property
    def names(self) -> list[str]:
        return [phase.name for phase in self.phases]

    def finished(self, name: str) -> bool:
        return name in self.done

    def check_until(self, until: str | None) -> None:
        if until is not None and until not in self.names:
            raise GoldpanError(f"--until {until!r}: choose one of {', '.join(self.names)}")

    def run(self, state: State, until: str | None = None) -> State:
        """Every phase up to ``until`` (all without it) that is not finished yet; a finished
        phase's result is loaded only when a phase after it still runs."""
        self.check_until(until)
        stop = self.names.index(until) if until is not None else len(self.phases) - 1
        todo = self.phases[: stop + 1]
        pending = [k for k, phase in enumerate(todo) if not self.finished(phase.name)]
        for index, phase in enumerate(todo):
            if self.finished(phase.name):
                if pending and index < pending[-1]:
                    phase.load(state)
                continue
            phase.run(state)
            if self.save is not None:  # what the phase found, saved before it counts as done
                self.save(state)
            self._mark(phase.name)
            if phase.release_memory:
                release_memory()
        return state

    def _mark(self, name: str) -> None:
        if name not in self.done:
            self.done.append(name)
        atomic_write_json(self.path, {"key": self.key, "done": self.done})
