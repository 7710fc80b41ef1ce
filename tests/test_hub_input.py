"""Reading a dataset repository on the Hugging Face Hub through ``hf://datasets/...``, against
a stand-in Hub on 127.0.0.1 (tests/hub_server.py): never the network."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pyarrow.json as pa_json
import pyarrow.parquet as pq
import yaml

from tests.conftest import goldpan, read_output, recipe_dict
from tests.hub_server import fake_hub

STEPS = [{"name": "gopher_quality"}, {"name": "exact_dedup"}]


def _repository(corpus: Path, root: Path) -> Path:
    """The demo corpus as a dataset repository: two JSONL files and one Parquet file."""
    lines = corpus.read_bytes().splitlines(keepends=True)
    third = len(lines) // 3
    (root / "data").mkdir(parents=True)
    (root / "data" / "train-0.jsonl").write_bytes(b"".join(lines[:third]))
    (root / "data" / "train-1.jsonl").write_bytes(b"".join(lines[third:2 * third]))
    rest = root / "rest.jsonl"
    rest.write_bytes(b"".join(lines[2 * third:]))
    pq.write_table(pa_json.read_json(rest), root / "data" / "train-2.parquet")
    rest.unlink()
    (root / "README.md").write_text("a dataset card, not an input\n")
    return root


def _run(inputs: list[str], out: Path, tmp_path: Path, env: dict[str, str]
         ) -> subprocess.CompletedProcess:
    recipe = tmp_path / f"{out.name}.yaml"
    recipe.write_text(yaml.safe_dump(recipe_dict(inputs, out, steps=STEPS, workers=2)))
    return goldpan("run", str(recipe), "--quiet", env=env)


def test_a_hub_dataset_is_read_through_hf_urls_as_a_local_copy_would_be(
    corpus: Path, tmp_path: Path
) -> None:
    repo = _repository(corpus, tmp_path / "repo")
    local = _run([str(repo / "data")], tmp_path / "local", tmp_path, {})
    assert local.returncode == 0, local.stderr
    with fake_hub({"goldpan/demo-corpus": repo}) as (endpoint, record):
        env = {"HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf")}
        remote = _run(["hf://datasets/goldpan/demo-corpus/data/*.jsonl",
                       "hf://datasets/goldpan/demo-corpus/data/*.parquet"],
                      tmp_path / "remote", tmp_path, env)
    assert remote.returncode == 0, remote.stderr
    expected = read_output(tmp_path / "local")
    assert expected.num_rows > 100
    assert read_output(tmp_path / "remote").equals(expected)
    downloads = [(path, ranged) for method, path, ranged in record.requests
                 if method == "GET" and "/resolve/" in path]
    assert {path.rsplit("/", 1)[1] for path, _ in downloads} == {
        "train-0.jsonl", "train-1.jsonl", "train-2.parquet"}
    assert all(ranged for _, ranged in downloads), "every download names its byte range"


def test_hf_urls_under_hf_hub_offline_stop_with_one_line(corpus: Path, tmp_path: Path) -> None:
    result = _run(["hf://datasets/goldpan/demo-corpus/data/*.jsonl"], tmp_path / "offline",
                  tmp_path, {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"})
    assert result.returncode == 1, result.stderr  # a read the machine refused: fix, rerun
    assert "Traceback" not in result.stderr
    assert "HF_HUB_OFFLINE" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
