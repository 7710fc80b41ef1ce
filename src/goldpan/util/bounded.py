"""Running many calls on a pool with only a few in flight: memory stays flat however many calls
there are, and results come back in the order they finish."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any, TypeVar

Key = TypeVar("Key")


def bounded_map(
    pool: Executor,
    fn: Callable[..., Any],
    items: Sequence[tuple[Key, tuple]],
    limit: int,
) -> Iterator[tuple[Key, Any]]:
    """``(key, fn(*args))`` for each ``(key, args)``, in completion order, with at most
    ``limit`` submitted and unfinished at a time. Calls not yet finished when the caller stops
    (or a call fails) are cancelled."""
    queue = list(reversed(items))
    pending: dict[Future, Key] = {}
    try:
        while queue or pending:
            while queue and len(pending) < limit:
                key, args = queue.pop()
                pending[pool.submit(fn, *args)] = key
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                key = pending.pop(future)
                yield key, future.result()
    finally:
        for future in pending:
            future.cancel()
