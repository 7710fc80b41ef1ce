"""Inputs, run directories and outputs in a bucket of a real S3 server (SeaweedFS on
127.0.0.1): the same recipe gives the same output as on local disk, resumes after a kill, and
verifies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from tests.conftest import goldpan, read_output, recipe_dict
from tests.s3_server import ACCESS_KEY, SECRET_KEY, seaweed_s3

pytest.importorskip("s3fs")
pytest.importorskip("upath")

BUCKET = "goldpan-test"
DEMO_STEPS = yaml.safe_load(
    (Path(__file__).parent.parent / "recipes" / "demo.yaml").read_text()
)["steps"]


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bucket's URL, with the endpoint and credentials in the environment as a user's
    would be (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...)."""
    folder = tmp_path_factory.mktemp("seaweed")
    with seaweed_s3(folder, BUCKET) as endpoint, pytest.MonkeyPatch.context() as patch:
        for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                            "AWS_DEFAULT_REGION": "us-east-1"}.items():
            patch.setenv(name, value)
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        deadline = time.monotonic() + 30
        while not fs.exists(BUCKET):  # the server creates it just after it starts listening
            if time.monotonic() > deadline:
                raise RuntimeError("the test bucket was not created")
            time.sleep(0.2)
        yield f"s3://{BUCKET}"


def _upload(local: Path, url: str) -> None:
    from goldpan.util.storage import to_path

    to_path(url).write_bytes(local.read_bytes())


def _bucket_output(run_url: str) -> pa.Table:
    from goldpan.util.storage import read_parquet, to_path

    files = sorted((to_path(run_url) / "output").glob("*.parquet"), key=str)
    return pa.concat_tables([read_parquet(f) for f in files])


def _demo_recipe(inputs: str, out: str) -> dict:
    data = recipe_dict([inputs], Path("unused"), steps=DEMO_STEPS, workers=2)
    data["output"]["dir"] = out
    data["input"]["part_records"] = 150
    return data


@pytest.fixture(scope="module")
def demo_runs(s3: str, corpus: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, str]:
    """The demo recipe run on local disk and, with input, run directory and output, in the
    bucket: (the local run directory, the bucket's)."""
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    _upload(corpus, f"{s3}/inputs/corpus.jsonl")
    local = tmp_path_factory.mktemp("local-demo") / "run"
    run_recipe(parse_recipe(_demo_recipe(str(corpus), str(local))))
    remote = f"{s3}/runs/demo"
    run_recipe(parse_recipe(_demo_recipe(f"{s3}/inputs/corpus.jsonl", remote)))
    return local, remote


def test_the_demo_recipe_on_a_bucket_gives_the_local_output(demo_runs: tuple[Path, str]
                                                            ) -> None:
    from goldpan.engine.ledger import verify_run

    local, remote = demo_runs
    expected = read_output(local)
    assert expected.num_rows > 100
    assert _bucket_output(remote).equals(expected)
    assert verify_run(remote)[0] == []


def test_verify_report_and_inspect_work_on_the_buckets_run(demo_runs: tuple[Path, str]) -> None:
    from fastapi.testclient import TestClient

    from goldpan.report.inspector import create_app
    from goldpan.util.storage import to_path

    local, remote = demo_runs
    verified = goldpan("verify", remote)
    assert verified.returncode == 0 and "ledger holds" in verified.stderr, verified.stderr
    reported = goldpan("report", remote)
    assert reported.returncode == 0, reported.stderr
    page = (to_path(remote) / "report.html").read_text()
    assert "minhash_dedup" in page and "Rejected" in page
    client = TestClient(create_app(remote))
    listing = client.get("/api/records", params={"status": "kept", "per_page": 500}).json()
    assert listing["total"] == read_output(local).num_rows
    rejected = client.get("/api/records", params={"status": "rejected"}).json()
    assert rejected["total"] > 0
    record = client.get("/api/record", params={"id": listing["records"][0]["id"]}).json()
    assert record["text"]
    assert client.get("/report").status_code == 200


def test_a_run_killed_mid_stage_on_a_bucket_resumes_to_the_same_output(
    s3: str, corpus: Path, tmp_path: Path
) -> None:
    from goldpan.engine.ledger import verify_run
    from goldpan.util.storage import to_path

    _upload(corpus, f"{s3}/inputs/corpus.jsonl")
    recipe = tmp_path / "recipe.yaml"
    remote = f"{s3}/runs/killed"
    data = _demo_recipe(f"{s3}/inputs/corpus.jsonl", remote)
    data["input"]["part_records"] = 40
    data["workers"] = 1
    recipe.write_text(yaml.safe_dump(data))
    command = [sys.executable, "-m", "goldpan", "run", str(recipe), "--quiet"]
    started = subprocess.Popen(command, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    markers = to_path(remote) / "stages"
    deadline = time.monotonic() + 300
    while started.poll() is None and time.monotonic() < deadline:  # kill once parts are done
        if len(list(markers.glob("*/part-*._SUCCESS"))) >= 3:
            os.killpg(started.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    started.wait()
    assert started.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (to_path(remote) / "output" / "_SUCCESS").exists()
    finished = subprocess.run(command, env=os.environ.copy(), capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    whole = tmp_path / "whole"
    whole_data = {**data, "output": {**data["output"], "dir": str(whole)}}
    whole_data["input"] = {**data["input"], "paths": [str(corpus)]}
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    run_recipe(parse_recipe(whole_data))
    assert _bucket_output(remote).equals(read_output(whole))
    assert verify_run(remote)[0] == []


def test_inputs_are_listed_from_the_bucket_without_downloading(s3: str, tmp_path: Path) -> None:
    from goldpan.data.inputs import expand_inputs

    for name in ("a.jsonl", "b.jsonl.gz", "sub/c.parquet", ".hidden.jsonl", "notes.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"{}\n")
        _upload(tmp_path / name, f"{s3}/listing/{name}")
    units = expand_inputs([f"{s3}/listing/*.jsonl*", f"{s3}/listing/sub"])
    assert [(u.label, u.format) for u in units] == [
        ("a.jsonl", "jsonl"), ("b.jsonl.gz", "jsonl"), ("sub/c.parquet", "parquet")]
    assert all(u.size == 3 and u.mtime_ns > 0 for u in units)
    from goldpan.errors import GoldpanError

    with pytest.raises(GoldpanError, match=r"input.paths\[0\]: no such file or folder"):
        expand_inputs([f"{s3}/listing/missing.jsonl"])


def test_a_gzipped_jsonl_in_the_bucket_is_read_as_it_streams(s3: str, tmp_path: Path) -> None:
    import gzip

    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    rows = [{"id": f"r{k}", "text": f"document number {k} " * 5} for k in range(500)]
    local = tmp_path / "rows.jsonl.gz"
    local.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    _upload(local, f"{s3}/gz/rows.jsonl.gz")
    data = recipe_dict([f"{s3}/gz/rows.jsonl.gz"], Path("unused"))
    data["output"] = {"dir": f"{s3}/runs/gz", "format": "jsonl.gz"}
    run_recipe(parse_recipe(data))
    from goldpan.engine.ledger import output_ids
    from goldpan.util.storage import to_path

    assert sorted(output_ids(to_path(f"{s3}/runs/gz/output"))) == sorted(r["id"] for r in rows)


@pytest.fixture(scope="module")
def ray_cluster(s3: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Two Ray nodes as separate processes, started after the S3 server so that their workers
    find the bucket the way the driver does (the AWS_* environment)."""
    pytest.importorskip("ray")
    from tests.ray_cluster import two_node_cluster

    with two_node_cluster(tmp_path_factory.mktemp("ray-cluster")) as cluster:
        yield cluster


def test_a_ray_run_across_two_nodes_shares_nothing_but_the_bucket(
    s3: str, ray_cluster: dict[str, str], demo_runs: tuple[Path, str], tmp_path: Path
) -> None:
    local, _ = demo_runs
    remote = f"{s3}/runs/ray"
    data = _demo_recipe(f"{s3}/inputs/corpus.jsonl", remote)
    data.update(executor="ray", ray_address=ray_cluster["address"], workers=2)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(data))
    environment = {k: ray_cluster[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    ran = goldpan("run", str(recipe), "--quiet", env=environment, timeout=900)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert _bucket_output(remote).equals(read_output(local))
    assert goldpan("verify", remote).returncode == 0
    # Ray reads its authentication mode once per process: ask from a fresh one.
    listing = subprocess.run(
        [sys.executable, "-c", "import json, sys; from ray.util.state import list_tasks; "
         "print(json.dumps([[t.name, t.node_id, t.state, t.type] for t in list_tasks("
         "address=sys.argv[1], detail=True, limit=10000, raise_on_missing_output=False)]))",
         ray_cluster["dashboard"]],
        env={**os.environ, **environment}, capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0, listing.stderr[-2000:]
    tasks = json.loads(listing.stdout.strip().splitlines()[-1])
    ours = [(name, node) for name, node, state, kind in tasks
            if state == "FINISHED" and kind == "NORMAL_TASK"]
    assert len({node for _, node in ours}) == 2, ours


def test_a_scorer_folder_and_a_benchmark_file_in_the_bucket_are_used_as_local_ones(
    s3: str, corpus: Path, tiny_lm: Path, tmp_path: Path
) -> None:
    """Model folders are fetched once per machine into a cache; benchmark files are read from
    the bucket. The run equals the same recipe with every file local."""
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe

    for file in tiny_lm.iterdir():
        _upload(file, f"{s3}/models/tiny-lm/{file.name}")
    rows = [json.loads(line) for line in corpus.read_text().splitlines()[:40]]
    quiz = tmp_path / "quiz.jsonl"
    quiz.write_text("".join(json.dumps({"question": r["text"][:400]}) + "\n" for r in rows[:3]))
    _upload(quiz, f"{s3}/benchmarks/quiz.jsonl")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def steps(model: str, benchmark: str) -> list[dict]:
        return [{"name": "decontaminate", "benchmarks": [
                    {"name": "quiz", "path": benchmark, "fields": ["question"]}]},
                {"name": "lm_score", "model": model, "max_length": 32, "stride": 16}]

    local = tmp_path / "local"
    run_recipe(parse_recipe(recipe_dict([str(inputs)], local,
                                        steps=steps(str(tiny_lm), str(quiz)))))
    remote = tmp_path / "remote"
    run_recipe(parse_recipe(recipe_dict(
        [str(inputs)], remote,
        steps=steps(f"{s3}/models/tiny-lm", f"{s3}/benchmarks/quiz.jsonl"))))
    expected = read_output(local)
    assert 0 < expected.num_rows < len(rows)  # the quiz's three documents are gone
    assert read_output(remote).equals(expected)


def test_token_output_in_the_bucket_with_a_tokenizer_from_the_bucket(
    s3: str, tiny_lm: Path, tmp_path: Path
) -> None:
    from goldpan.data.token_shards import check_token_shards
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe
    from goldpan.util.storage import to_path

    _upload(tiny_lm / "tokenizer.json", f"{s3}/tokenizers/tiny/tokenizer.json")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(json.dumps({"id": str(i), "text": f"the river {i} runs"}) + "\n"
                              for i in range(50)))
    data = recipe_dict([str(inputs)], Path("unused"))
    data["output"] = {"dir": f"{s3}/runs/tokens", "format": "tokens",
                      "tokenizer": f"{s3}/tokenizers/tiny/tokenizer.json"}
    run_recipe(parse_recipe(data))
    output = to_path(f"{s3}/runs/tokens/output")
    assert check_token_shards(output) == []
    manifest = json.loads((output / "manifest.json").read_text())
    assert manifest["documents"] == 50 and manifest["tokens"] > 50


def test_a_changed_step_invalidates_its_stages_in_the_bucket_as_on_disk(
    s3: str, corpus: Path, tmp_path: Path
) -> None:
    """Rerunning with another option drops the stages from that step on (every key under
    their prefixes) and keeps the ones before it; the result equals a fresh local run."""
    from goldpan.engine.ledger import verify_run
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe
    from goldpan.util.storage import to_path

    _upload(corpus, f"{s3}/inputs/corpus.jsonl")
    remote = f"{s3}/runs/invalidated"

    def recipe(min_words: int, out: str, inputs: str) -> dict:
        steps = [{"name": "exact_dedup"}, {"name": "length_filter", "min_words": min_words},
                 {"name": "minhash_dedup"}]
        data = recipe_dict([inputs], Path("unused"), steps=steps, workers=2)
        data["output"]["dir"] = out
        return data

    run_recipe(parse_recipe(recipe(5, remote, f"{s3}/inputs/corpus.jsonl")))
    stages = to_path(remote) / "stages"

    def written() -> dict[str, tuple[str, str]]:
        """Every object under the stages: when the store last wrote it, and its content hash."""
        found = stages.fs.find(stages.path, detail=True)
        return {name: (str(info["LastModified"]), info["ETag"]) for name, info in found.items()}

    before = written()
    time.sleep(1.1)  # the store's times are in whole seconds
    run_recipe(parse_recipe(recipe(40, remote, f"{s3}/inputs/corpus.jsonl")))
    after = written()
    read_stage = [k for k in before if "/00-read/part-" in k]  # (_key is rewritten each run)
    assert read_stage and all(after[k] == before[k] for k in read_stage)  # kept, not redone
    redone = [k for k in before if "/00-read/" not in k and k.endswith(".parquet")]
    assert redone and all(after.get(k, ("", ""))[1] != before[k][1] for k in redone)
    local = tmp_path / "local"
    run_recipe(parse_recipe(recipe(40, str(local), str(corpus))))
    assert _bucket_output(remote).equals(read_output(local))
    assert verify_run(remote)[0] == []
