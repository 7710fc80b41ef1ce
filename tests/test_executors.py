"""One recipe, two executors, the same output."""

from __future__ import annotations

from pathlib import Path

import pytest

from goldpan.engine.ledger import verify_run
from goldpan.engine.runner import run_recipe
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
    run_recipe(parse_recipe(data), quiet=True)


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
    pytest.importorskip("ray")
    _run(corpus, tmp_path / "local", "local", 2)
    _run(corpus, tmp_path / "ray", "ray", 2)
    local, ray = read_output(tmp_path / "local"), read_output(tmp_path / "ray")
    assert local.num_rows > 0
    assert ray.equals(local)
    assert _sorted_rejects(tmp_path / "ray") == _sorted_rejects(tmp_path / "local")
    assert verify_run(tmp_path / "ray")[0] == []
