"""The command line as users meet it: run, verify, steps, demo, --set."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from goldpan.recipe import apply_overrides
from tests.conftest import goldpan, read_output, recipe_dict, write_recipe


def test_run_prints_a_summary_writes_stats_and_verify_passes(corpus: Path, tmp_path: Path) -> None:
    data = recipe_dict(
        [str(corpus)],
        tmp_path / "run",
        steps=[{"name": "length_filter", "min_words": 10}, {"name": "exact_dedup"}],
    )
    result = goldpan("run", str(write_recipe(tmp_path / "r.yaml", **data)), check=True)
    assert "goldpan run" in result.stderr and "records kept" in result.stderr
    stats = json.loads((tmp_path / "run" / "stats.json").read_text())
    steps = {s["step"]: s for s in stats["stages"]}
    assert set(steps) == {"read", "length_filter", "exact_dedup"}
    assert steps["length_filter"]["records_in"] == steps["read"]["records_out"]
    assert steps["length_filter"]["rejects"].get("length_filter:min_words", 0) > 0
    assert stats["output"]["records"] == steps["exact_dedup"]["records_out"]
    assert all(s["seconds"] >= 0 for s in stats["stages"])
    verified = goldpan("verify", str(tmp_path / "run"))
    assert verified.returncode == 0 and "ledger holds" in verified.stderr


def test_verify_fails_when_a_record_goes_missing(corpus: Path, tmp_path: Path) -> None:
    data = recipe_dict([str(corpus)], tmp_path / "run", steps=[{"name": "exact_dedup"}])
    goldpan("run", str(write_recipe(tmp_path / "r.yaml", **data)), "-q", check=True)
    shard = next((tmp_path / "run" / "output").glob("*.parquet"))
    table = pq.read_table(shard)
    shard.unlink()  # outputs may be hard links to stage parts: replace, never edit in place
    pq.write_table(table.slice(1), shard)
    result = goldpan("verify", str(tmp_path / "run"))
    assert result.returncode == 1
    assert "accounted for" in result.stderr


def test_verify_on_a_folder_that_is_not_a_finished_run(tmp_path: Path) -> None:
    result = goldpan("verify", str(tmp_path))
    assert result.returncode == 1 and "has not finished" in result.stderr


def test_set_overrides_any_field_from_the_command_line(corpus: Path, tmp_path: Path) -> None:
    data = recipe_dict(
        [str(corpus)], tmp_path / "ignored", steps=[{"name": "sample", "fraction": 0.1}]
    )
    recipe = write_recipe(tmp_path / "r.yaml", **data)
    goldpan(
        "run",
        str(recipe),
        "-q",
        "--set",
        "steps.0.fraction=0.5",
        "--set",
        f"output.dir={tmp_path / 'run'}",
        check=True,
    )
    kept = read_output(tmp_path / "run").num_rows
    assert not (tmp_path / "ignored").exists()
    total = sum(1 for _ in corpus.open())
    assert 0.4 * total < kept < 0.6 * total


def test_set_parses_values_as_yaml_and_reports_bad_paths() -> None:
    data = {"steps": [{"name": "sample"}], "input": {"paths": ["a"]}}
    apply_overrides(data, ["steps.0.fraction=0.5", "input.paths=[x, y]", "workers=2"])
    assert data["steps"][0]["fraction"] == 0.5
    assert data["input"]["paths"] == ["x", "y"]
    assert data["workers"] == 2
    import pytest

    from goldpan.errors import GoldpanError

    with pytest.raises(GoldpanError, match="no list item '3'"):
        apply_overrides(data, ["steps.3.fraction=1"])


def test_steps_lists_every_step_with_its_options() -> None:
    result = goldpan("steps", check=True)
    for expected in ("length_filter", "min_words", "exact_dedup", "keep", "sample", "fraction"):
        assert expected in result.stdout


def test_demo_builds_the_corpus_curates_it_and_the_ledger_holds(tmp_path: Path) -> None:
    out, data = tmp_path / "demo", tmp_path / "data" / "corpus.jsonl"
    result = goldpan("demo", "--out", str(out), "--data", str(data), check=True)
    assert "output:" in result.stderr and "stats:" in result.stderr
    assert f"report:  {out / 'report.html'}" in result.stderr
    assert "<h2>Funnel</h2>" in (out / "report.html").read_text()
    kept = read_output(out)
    assert 10_000 <= sum(1 for _ in data.open()) <= 15_000
    stats = json.loads((out / "stats.json").read_text())
    steps = [stage["step"] for stage in stats["stages"]]
    assert steps[:4] == ["read", "length_filter", "normalize", "langid"]
    assert {"gopher_quality", "c4_quality", "fineweb_quality", "pii", "exact_dedup"} <= set(steps)
    assert set(kept.column("lang").to_pylist()) == {"en"}
    assert "wikipedia_en" in set(kept.column("source").to_pylist())
    assert "wikipedia_fr" not in set(kept.column("source").to_pylist())
    assert goldpan("verify", str(out)).returncode == 0
