"""How the engine reports a run's progress without printing: the caller hands it an object
with this shape (the command line's bars, ``cli.progress.StageProgress``); without one the run
is silent."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol


class StageBars(Protocol):
    """One bar per stage: opened with its total, advanced as parts finish."""

    def __enter__(self) -> StageBars: ...

    def __exit__(self, *exc: Any) -> Any: ...

    def stage(self, description: str, total: int, unit: str = "records", done: int = 0) -> int: ...

    def advance(self, task: int, amount: int) -> None: ...


class NoBars(AbstractContextManager):
    """Progress nobody watches (a library call, a test, ``--quiet``)."""

    def __enter__(self) -> NoBars:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def stage(self, description: str, total: int, unit: str = "records", done: int = 0) -> int:
        return 0

    def advance(self, task: int, amount: int) -> None:
        return None
