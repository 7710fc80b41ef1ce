"""Executors run tasks (engine.tasks functions) and hand back results as they complete.

``local``: a process pool on this machine (in-process when there is one worker).
``ray``: Ray Data streams the per-part map tasks, Ray tasks run reading and fit phases.
Both call the same task functions on the same parts, so their output is identical.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from goldpan.errors import GoldpanError
from goldpan.util.bounded import bounded_map


def start_method() -> str:
    """How local workers start. ``fork`` where the OS has it and the driver has not loaded
    torch: a worker is then ready in milliseconds. Once torch is loaded (a model was trained or
    scored in this process) its thread pools make forked children hang, so workers come from a
    fork server instead (started clean, with goldpan preloaded). ``GOLDPAN_START_METHOD``
    overrides both."""
    chosen = os.environ.get("GOLDPAN_START_METHOD")
    if chosen:
        return chosen
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and "torch" not in sys.modules:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def limit_threads(threads: int) -> None:
    """Worker initialiser: share the cores between workers instead of each one's math library
    taking all of them (four busy threads on two cores ran model steps several times slower)."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[variable] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


def start_worker(threads: int, environment: dict[str, str]) -> None:
    """A worker's set-up: the driver's environment as it is when the pool starts (a fork
    server started earlier in the process would pass on its own, older one, without the
    credentials or the store endpoint set since), then its share of the threads."""
    os.environ.clear()
    os.environ.update(environment)
    limit_threads(threads)


def warm_imports() -> None:
    """Load, once in the driver, what every task loads lazily, so that forked workers inherit
    it instead of each paying for it again (pyarrow imports pandas on its first ``pa.array``
    call: 0.2 s a process)."""
    import pyarrow as pa
    import pyarrow.compute
    import pyarrow.json
    import pyarrow.parquet

    pa.array([0])


def outcome_of(fn: Callable[..., Any], args: tuple) -> tuple[BaseException | None, Any]:
    """``fn(*args)`` with a user-facing failure (a ``GoldpanError``, a refused read or write)
    returned rather than raised: Ray would wrap a raised one in its own traceback and log it,
    while the driver should stop with the error's one line, as on the local executor."""
    try:
        return None, fn(*args)
    except (GoldpanError, OSError) as error:
        return error, None


def result_or_raise(outcome: tuple[BaseException | None, Any]) -> Any:
    error, result = outcome
    if error is not None:
        raise error
    return result


class Executor:
    name = "base"

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def run(
        self, fn: Callable[..., Any], calls: Sequence[tuple], phase: str = "task"
    ) -> Iterator[Any]:
        """Results of ``fn(*args)`` for each args tuple, in completion order."""
        for args in calls:
            yield fn(*args)

    def start(self) -> None:
        """Bring workers up before the driver does any work of its own."""

    def close(self) -> None:
        """Release workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, workers: int) -> None:
        super().__init__(workers)
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            method = start_method()
            context = multiprocessing.get_context(method)
            if method == "fork":
                warm_imports()
            if method == "forkserver":
                # Missing modules are skipped by the fork server (pandas is pyarrow's lazy one).
                context.set_forkserver_preload(
                    ["goldpan.engine.tasks", "goldpan.engine.registry", "pyarrow.parquet", "pandas"]
                )
            threads = max(1, (os.cpu_count() or 1) // self.workers)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                initializer=start_worker,
                initargs=(threads, dict(os.environ)),
            )
            # One trivial task per worker starts them all now, while the driver has no threads.
            for future in [self._pool.submit(os.getpid) for _ in range(self.workers)]:
                future.result()
        return self._pool

    def start(self) -> None:
        if self.workers > 1:
            self._ensure_pool()

    def run(
        self, fn: Callable[..., Any], calls: Sequence[tuple], phase: str = "task"
    ) -> Iterator[Any]:
        if self.workers == 1 or len(calls) <= 1:
            yield from super().run(fn, calls, phase)
            return
        items = [(index, args) for index, args in enumerate(calls)]
        for _, result in bounded_map(self._ensure_pool(), fn, items, self.workers * 2):
            yield result

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, workers: int, address: str | None = None) -> None:
        super().__init__(workers)
        try:
            import ray
        except ImportError:
            raise GoldpanError(
                "the ray executor needs the ray extra: pip install 'goldpan[ray]'"
            ) from None
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            try:
                if address:
                    ray.init(address=address, **kwargs)
                else:
                    ray.init(num_cpus=self.workers, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise GoldpanError(
                    f"cannot start or reach Ray at {address or 'local'}: {error}"
                ) from None
        self._data_context_quiet()

    def _data_context_quiet(self) -> None:
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        if hasattr(context, "enable_operator_progress_bars"):
            context.enable_operator_progress_bars = False

    def run(
        self, fn: Callable[..., Any], calls: Sequence[tuple], phase: str = "task"
    ) -> Iterator[Any]:
        if not calls:
            return
        if phase == "map":
            yield from self._run_with_ray_data(fn, calls)
        else:
            yield from self._run_as_tasks(fn, calls)

    def _run_as_tasks(self, fn: Callable[..., Any], calls: Sequence[tuple]) -> Iterator[Any]:
        ray = self._ray
        remote = ray.remote(num_cpus=1)(outcome_of)
        pending = [remote.remote(fn, args) for args in calls]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield result_or_raise(ray.get(done[0]))

    def _run_with_ray_data(self, fn: Callable[..., Any], calls: Sequence[tuple]) -> Iterator[Any]:
        """One Ray Data row per part: Ray schedules and streams them, our task writes the part."""
        import pickle

        ray = self._ray
        payload = ray.put(list(calls))

        def run_one(row: dict[str, Any]) -> dict[str, Any]:
            args = ray.get(payload)[row["index"]]
            return {"index": row["index"], "result": pickle.dumps(outcome_of(fn, args))}

        dataset = ray.data.from_items(
            [{"index": i} for i in range(len(calls))], override_num_blocks=len(calls)
        )
        rows = iter(dataset.map(run_one, concurrency=self.workers).iter_rows())
        try:
            for row in rows:
                yield result_or_raise(pickle.loads(row["result"]))
        finally:
            # A failed part raises here while Ray Data's streaming executor still runs: left to
            # the garbage collector (the traceback keeps it alive), its thread outlived close()
            # and its next Ray call auto-connected a new session, which later ended the process.
            # Closing the iterator stops the executor before the session is shut down.
            close = getattr(rows, "close", None)
            if close is not None:
                close()

    def close(self) -> None:
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(name: str, workers: int, ray_address: str | None = None) -> Executor:
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers, ray_address)
    raise GoldpanError(f"executor: expected local or ray, got {name!r}")
