"""A killed run, rerun with the same command, ends exactly like a run that was never killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from goldpan.engine.ledger import verify_run
from goldpan.engine.runner import run_recipe
from goldpan.recipe import parse_recipe
from tests.conftest import PLUGINS, goldpan, read_output, read_rejects, recipe_dict, write_recipe

STEPS = [
    {"name": "length_filter", "min_words": 10},
    {"name": "exact_dedup"},
    {"name": "slow_copy", "seconds_per_part": 0.15},
    {"name": "sample", "fraction": 0.8},
]


def _recipe(corpus: Path, tmp_path: Path, name: str) -> Path:
    data = recipe_dict(
        [str(corpus)], tmp_path / name, steps=STEPS, workers=2, plugins=["slow_steps"]
    )
    data["input"]["part_records"] = 20
    return write_recipe(tmp_path / f"{name}.yaml", **data)


def _markers(stage_dir: Path) -> int:
    return len(list(stage_dir.glob("*._SUCCESS"))) if stage_dir.exists() else 0


def test_sigkill_mid_stage_then_rerun_matches_an_uninterrupted_run(
    corpus: Path, tmp_path: Path
) -> None:
    goldpan("run", str(_recipe(corpus, tmp_path, "clean")), "-q", check=True)

    killed = _recipe(corpus, tmp_path, "killed")
    env = {**os.environ, "PYTHONPATH": str(PLUGINS)}
    process = subprocess.Popen(
        [sys.executable, "-m", "goldpan", "run", str(killed), "-q"], env=env, start_new_session=True
    )
    stage = tmp_path / "killed" / "stages" / "02-exact_dedup+slow_copy+sample"
    deadline = time.monotonic() + 120
    while _markers(stage) < 4 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)  # the driver and its workers, mid-stage
    process.wait()
    done_before_rerun = _markers(stage)
    assert done_before_rerun >= 4, "the run was not caught mid-stage"
    assert not (stage / "_stage.json").exists()
    assert not (tmp_path / "killed" / "output" / "_SUCCESS").exists()

    goldpan("run", str(killed), "-q", check=True)

    assert read_output(tmp_path / "killed").equals(read_output(tmp_path / "clean"))
    assert sorted(read_rejects(tmp_path / "killed").column("id").to_pylist()) == sorted(
        read_rejects(tmp_path / "clean").column("id").to_pylist()
    )
    assert verify_run(tmp_path / "killed")[0] == []
    assert goldpan("verify", str(tmp_path / "killed")).returncode == 0


def test_rerun_of_a_finished_run_reuses_every_stage(corpus: Path, tmp_path: Path) -> None:
    data = recipe_dict([str(corpus)], tmp_path / "run", steps=STEPS[:2])
    run_recipe(parse_recipe(data))
    stage = tmp_path / "run" / "stages" / "02-exact_dedup"
    first = {p.name: p.stat().st_mtime_ns for p in stage.glob("*.parquet")}
    run_recipe(parse_recipe(data))
    assert {p.name: p.stat().st_mtime_ns for p in stage.glob("*.parquet")} == first


def test_a_changed_step_config_reruns_that_stage_and_later_ones_only(
    corpus: Path, tmp_path: Path
) -> None:
    steps = [
        {"name": "length_filter", "min_words": 10},
        {"name": "exact_dedup"},
        {"name": "sample", "fraction": 0.5},
    ]
    data = recipe_dict([str(corpus)], tmp_path / "run", steps=steps)
    run_recipe(parse_recipe(data))
    read_stage = tmp_path / "run" / "stages" / "00-read+length_filter"
    before = {p.name: p.stat().st_mtime_ns for p in read_stage.glob("*.parquet")}
    kept_half = read_output(tmp_path / "run").num_rows

    data["steps"][2]["fraction"] = 0.9
    run_recipe(parse_recipe(data))
    assert {p.name: p.stat().st_mtime_ns for p in read_stage.glob("*.parquet")} == before
    assert read_output(tmp_path / "run").num_rows > kept_half
    assert verify_run(tmp_path / "run")[0] == []

    data["steps"][0]["min_words"] = 30  # the first stage changes: everything is redone
    run_recipe(parse_recipe(data))
    assert {p.name: p.stat().st_mtime_ns for p in read_stage.glob("*.parquet")} != before
    assert verify_run(tmp_path / "run")[0] == []


def test_removed_steps_leave_no_stale_stages(corpus: Path, tmp_path: Path) -> None:
    data = recipe_dict([str(corpus)], tmp_path / "run", steps=STEPS[:2])
    run_recipe(parse_recipe(data))
    data["steps"] = STEPS[:1]
    run_recipe(parse_recipe(data))
    assert [p.name for p in (tmp_path / "run" / "stages").iterdir()] == ["00-read+length_filter"]
    assert [p.name for p in (tmp_path / "run" / "rejects").iterdir()] == ["00-read+length_filter"]
    assert verify_run(tmp_path / "run")[0] == []
