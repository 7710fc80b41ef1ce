"""One recipe, two executors, the same output."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest

from goldpan.engine.executors import make_executor
from goldpan.engine.ledger import verify_run
from goldpan.engine.runner import run_recipe
from goldpan.errors import StorageError
from goldpan.recipe import parse_recipe
from tests.conftest import read_output, read_rejects, recipe_dict

STEPS = [
    {"name": "length_filter", "min_words": 10, "max_chars": 100_000},
    {"name": "exact_dedup"},
    {"name": "sample", "fraction": 0.7},
]


def _run(corpus: Path, out: Path, executor: str, workers: int) -> None:
    data = recipe_dict([str(corpus)], out, steps=STEPS, executor=executor, workers=workers)
    data["input"]["part_records"] = 50
    run_recipe(parse_recipe(data))


def _sorted_rejects(run_dir: Path) -> list[tuple[str, str]]:
    rejects = read_rejects(run_dir)
    return sorted(
        zip(
            rejects.column("id").to_pylist(),
            rejects.column("reject_reason").to_pylist(),
            strict=True,
        )
    )


def test_local_pool_and_in_process_runs_agree(corpus: Path, tmp_path: Path) -> None:
    _run(corpus, tmp_path / "one", "local", 1)
    _run(corpus, tmp_path / "two", "local", 2)
    assert read_output(tmp_path / "one").equals(read_output(tmp_path / "two"))
    assert _sorted_rejects(tmp_path / "one") == _sorted_rejects(tmp_path / "two")


def test_ray_executor_gives_the_local_executors_output(corpus: Path, tmp_path: Path) -> None:
    _run(corpus, tmp_path / "local", "local", 2)
    _run(corpus, tmp_path / "ray", "ray", 2)
    local, ray = read_output(tmp_path / "local"), read_output(tmp_path / "ray")
    assert local.num_rows > 0
    assert ray.equals(local)
    assert _sorted_rejects(tmp_path / "ray") == _sorted_rejects(tmp_path / "local")
    assert verify_run(tmp_path / "ray")[0] == []


def test_workers_start_cleanly_after_the_driver_used_torch(tmp_path: Path, tiny_lm: Path) -> None:
    """A process that ran torch (training scorers, say) and then starts a worker pool must not
    hang: forked children of a process with live torch thread pools deadlock."""
    import subprocess
    import sys

    script = f"""
import torch
torch.set_num_threads(2)
x = torch.randn(256, 256)
(x @ x).sum()
from goldpan.engine.runner import run_recipe
from goldpan.errors import StorageError
from goldpan.recipe import parse_recipe
import orjson, pathlib
path = pathlib.Path({str(tmp_path / "in.jsonl")!r})
path.write_bytes(b"".join(orjson.dumps({{"id": str(i), "text": "some words here " * i}}) + b"\\n"
                          for i in range(1, 60)))
recipe = parse_recipe({{"input": {{"paths": [str(path)], "id_field": "id", "part_records": 10}},
                       "output": {{"dir": {str(tmp_path / "run")!r}}}, "workers": 2,
                       "steps": [{{"name": "lm_score", "model": {str(tiny_lm)!r},
                                   "max_length": 32, "stride": 16}}]}})
print(run_recipe(recipe).output_records)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("59")


def _refused_write(part: int) -> None:
    raise StorageError(f"/runs/x/part-{part}.parquet: no space left on the device")


def _refused_read(part: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_a_workers_refused_write_reaches_the_driver_as_itself(executor: str) -> None:
    """The driver prints a worker's failure as its one line: Ray must not wrap it in a
    traceback of its own, on either of its paths (tasks, and Ray Data for per-part maps)."""
    with make_executor(executor, 2) as running:
        running.start()
        for phase in ("task", "map"):
            with pytest.raises(StorageError, match=r"^/runs/x/part-"):
                list(running.run(_refused_write, [(1,), (2,)], phase=phase))
            with pytest.raises(OSError) as raised:
                list(running.run(_refused_read, [(1,), (2,)], phase=phase))
            assert raised.value.errno == errno.ENOSPC
            del raised  # the traceback, which holds the failed map's frames
    if executor == "ray":
        # Nothing of Ray Data's outlives the executor: a streaming executor thread still
        # running after close() would auto-connect a new Ray session on its next call.
        import ray

        assert not ray.is_initialized()
        assert not [t for t in threading.enumerate()
                    if type(t).__name__ == "StreamingExecutor" and t.is_alive()]


def _environment_value(name: str) -> str | None:
    import os

    return os.environ.get(name)


def test_pool_workers_see_the_drivers_environment_even_from_an_older_fork_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fork server outlives the pool that started it; credentials or a store endpoint set in
    the driver after that must still reach the next pool's workers."""
    monkeypatch.setenv("GOLDPAN_START_METHOD", "forkserver")
    monkeypatch.delenv("GOLDPAN_TEST_ENDPOINT", raising=False)
    with make_executor("local", 2) as first:
        first.start()
        assert list(first.run(_environment_value, [("GOLDPAN_TEST_ENDPOINT",)] * 2)) == [None] * 2
    monkeypatch.setenv("GOLDPAN_TEST_ENDPOINT", "http://127.0.0.1:9")
    with make_executor("local", 2) as second:
        second.start()
        seen = list(second.run(_environment_value, [("GOLDPAN_TEST_ENDPOINT",)] * 2))
    assert seen == ["http://127.0.0.1:9"] * 2
