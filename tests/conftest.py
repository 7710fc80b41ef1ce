"""Shared fixtures: a small corpus of real text from the embedded packages, recipe helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

PLUGINS = Path(__file__).parent / "plugins"
sys.path.insert(0, str(PLUGINS))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SMALL_MIX = {"wikipedia_en": 300, "news": 100, "code": 60, "chat": 60, "markov": 80}


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 600 real documents of five kinds, with their ids and sources."""
    from goldpan.data.demo_corpus import build_demo_corpus

    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    build_demo_corpus(path, mix=SMALL_MIX, seed=1)
    return path


def write_recipe(path: Path, **fields: Any) -> Path:
    path.write_text(yaml.safe_dump(fields, sort_keys=False))
    return path


def recipe_dict(
    inputs: list[str], out: Path, steps: list[dict] | None = None, **extra: Any
) -> dict:
    data: dict[str, Any] = {
        "input": {"paths": inputs, "id_field": "id"},
        "output": {"dir": str(out), "format": "parquet"},
        "workers": 1,
        "steps": steps if steps is not None else [],
    }
    data.update(extra)
    return data


def goldpan(
    *args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess, as a user would."""
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")]),
    }
    full_env.update(env or {})
    result = subprocess.run(
        [sys.executable, "-m", "goldpan", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"goldpan {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def read_output(run_dir: Path) -> pa.Table:
    """The kept records of a run, in output order."""
    files = sorted((run_dir / "output").glob("*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files]) if files else pa.table({})


def read_rejects(run_dir: Path) -> pa.Table:
    files = sorted((run_dir / "rejects").rglob("*.parquet"))
    tables = [pq.read_table(f) for f in files]
    return pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-initialised Llama with a BPE tokenizer trained on real text: fast
    mechanics tests without any download."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from goldpan.data.demo_corpus import news

    folder = tmp_path_factory.mktemp("tiny-lm")
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator([d["text"] for d in news()], trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    fast.save_pretrained(folder)
    import torch

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def run_steps_on(
    path: Path,
    out: Path,
    steps: list[dict],
    *,
    part_records: int | None = None,
    workers: int = 2,
    seed: int = 0,
    executor: str = "local",
    **input_fields: Any,
) -> Any:
    """Run a recipe of the given steps over one JSONL file with ids, and check its ledger."""
    from goldpan.engine.ledger import verify_run
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe
    from goldpan.report import write_report

    data = recipe_dict([str(path)], out, steps=steps, workers=workers, seed=seed, executor=executor)
    if part_records is not None:
        data["input"]["part_records"] = part_records
    data["input"].update(input_fields)
    result = run_recipe(parse_recipe(data))
    assert verify_run(out)[0] == []
    write_report(out)  # as `goldpan run` does after every run
    return result


HUGE_CHARS = 400_000


@pytest.fixture(scope="session")
def curated_run(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished curation run for the report and the inspector: real documents with a
    numeric score column (``s_score``, as the reverse-modeling step writes it), clusters of
    exact duplicates (three copies of one text, two of another) and one document of 400,000
    characters; filtered by length and Gopher quality, then deduplicated."""
    import random

    rows = [json.loads(line) for line in corpus.read_text().split("\n") if line]
    rng = random.Random(0)
    for row in rows:
        row["s_score"] = round(rng.gauss(0.1, 0.5), 4)
    wikipedia = [r for r in rows if r["source"] == "wikipedia_en"]
    long_ones = [r for r in wikipedia if len(r["text"].split()) >= 80]
    rows += [
        {**long_ones[0], "id": "copy-a-1"},
        {**long_ones[0], "id": "copy-a-2"},
        {**long_ones[1], "id": "copy-b-1"},
    ]
    huge = "\n\n".join([r["text"] for r in wikipedia] * 20)[:HUGE_CHARS]
    rows.append({"id": "huge-0", "text": huge, "source": "wikipedia_en", "s_score": 0.5})
    folder = tmp_path_factory.mktemp("curated")
    path = folder / "input.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    steps = [
        {"name": "length_filter", "min_words": 20},
        {"name": "gopher_quality"},
        {"name": "exact_dedup"},
    ]
    run_steps_on(path, folder / "run", steps, score_fields=["s_score"])
    return folder / "run"


@pytest.fixture(scope="session")
def chat_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """80 ShareGPT conversations through chat_filter (with the SmolLM2 tokenizer's budget),
    PII and exact dedup on user turns; the report written as `goldpan run` writes it."""
    import itertools

    from goldpan.data.demo_chat import sharegpt_items
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe
    from goldpan.report import write_report
    from tests.test_chat_records import _write

    folder = tmp_path_factory.mktemp("chat-report")
    rows = [{"id": f"sg-{n}", "conversations": item["conversations"]}
            for n, item in enumerate(itertools.islice(sharegpt_items(), 80))]
    rows.append({"id": "sg-copy", "conversations": rows[3]["conversations"]})
    rows.append({"id": "broken", "messages": "not a list"})
    source = _write(folder / "chats.jsonl", rows)
    run_recipe(parse_recipe({
        "input": {"paths": [str(source)], "kind": "chat", "id_field": "id"},
        "output": {"dir": str(folder / "run"), "format": "parquet"}, "workers": 1,
        "steps": [{"name": "chat_filter", "max_tokens": 2048,
                   "tokenizer": "smollm2-135m-instruct"},
                  {"name": "pii"}, {"name": "exact_dedup"}],
    }))
    write_report(folder / "run")
    return folder / "run"


@pytest.fixture(scope="session")
def preference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from goldpan.engine.runner import run_recipe
    from goldpan.recipe import parse_recipe
    from goldpan.report import write_report
    from tests.test_chat_records import PREFERENCES, _write

    folder = tmp_path_factory.mktemp("preference-report")
    source = _write(folder / "pairs.jsonl", PREFERENCES)
    run_recipe(parse_recipe({
        "input": {"paths": [str(source)], "kind": "preference", "id_field": "id"},
        "output": {"dir": str(folder / "run"), "format": "jsonl"}, "workers": 1,
        "steps": [{"name": "length_filter", "min_words": 2, "on": "chosen"}],
    }))
    write_report(folder / "run")
    return folder / "run"


@pytest.fixture(autouse=True)
def _no_ray_session_outlives_its_test():  # type: ignore[no-untyped-def]
    """No test leaves a Ray session connected. One used to (Ray Data's streaming executor, left
    running by a failed map, auto-connected a new session after the executor's close; when that
    session's GCS went away, Ray's driver ended the whole pytest process). RayExecutor now stops
    the iterator itself; this check fails the test that leaves a session, instead of hiding it."""
    yield
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
        pytest.fail("a Ray session outlived the test")
