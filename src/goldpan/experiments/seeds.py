"""A method run once per seed, as separate processes, then compared: the experiments whose
figures must carry intervals (issues 16 and 17).

Each seed's run is the method's own command with ``--seed`` and any seed-dependent settings,
in ``OUT/seed-N`` (its log there too), so a run can be inspected, resumed or rerun on its own;
``jobs`` runs share the machine's cores evenly (``OMP_NUM_THREADS``): on a small CPU several
single-threaded runs finish sooner than the same runs one after another.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from goldpan.errors import GoldpanError


def run_seeds(
    command: list[str],
    seeds: list[int],
    out: Path,
    arguments_for_seed: Callable[[int], list[str]],
    jobs: int = 1,
    on_done: Callable[[int, int, float], None] | None = None,
) -> list[Path]:
    """``goldpan COMMAND --out OUT/seed-N ...`` for every seed, ``jobs`` at a time; the run
    folders, in seed order. A failed run is one error naming its log."""
    out.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // max(1, jobs))
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}

    def one(seed: int) -> Path:
        folder = out / f"seed-{seed}"
        folder.mkdir(exist_ok=True)
        started = time.perf_counter()
        with (folder / "log.txt").open("ab") as log:
            code = subprocess.call(
                [sys.executable, "-m", "goldpan", *command, "--out", str(folder),
                 *arguments_for_seed(seed)],
                stdout=log, stderr=subprocess.STDOUT, env=environment,
            )
        if on_done is not None:
            on_done(seed, code, time.perf_counter() - started)
        if code != 0:
            raise GoldpanError(f"seed {seed} failed (exit {code}); its log: {folder / 'log.txt'}")
        return folder

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, seeds))
