"""mix: target shares per source within a token budget."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pyarrow as pa

from tests.conftest import read_output, read_rejects, run_steps_on


def corpus(tmp_path: Path) -> Path:
    """600 'web' records and 100 'dialogue' records of 100 tokens each."""
    rows = [
        {"id": f"web-{i}", "text": "web page text", "source": "web", "n_tokens": 100}
        for i in range(600)
    ]
    rows += [
        {"id": f"chat-{i}", "text": "User: hi", "source": "dialogue", "n_tokens": 100}
        for i in range(100)
    ]
    rows += [{"id": "code-0", "text": "x = 1", "source": "code", "n_tokens": 100}]
    path = tmp_path / "mix.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def run_mix(tmp_path: Path, name: str, **options) -> tuple[pa.Table, pa.Table]:
    run_steps_on(
        corpus(tmp_path), tmp_path / name, [{"name": "mix", **options}], part_records=100, seed=3
    )
    return read_output(tmp_path / name), read_rejects(tmp_path / name)


def tokens_by_source(kept: pa.Table) -> Counter:
    totals: Counter = Counter()
    for source, tokens, repeats in zip(
        kept.column("source").to_pylist(),
        kept.column("n_tokens").to_pylist(),
        kept.column("mix_repeats").to_pylist(),
        strict=True,
    ):
        totals[source] += tokens * repeats
    return totals


def test_half_dialogue_downsamples_the_larger_source(tmp_path: Path) -> None:
    kept, rejects = run_mix(
        tmp_path, "down", shares={"web": 1, "dialogue": 1}, budget_tokens=20_000
    )
    totals = tokens_by_source(kept)
    assert totals == {"web": 10_000, "dialogue": 10_000}
    reasons = Counter(rejects.column("reject_reason").to_pylist())
    assert reasons == {"mix:over_share": 500, "mix:not_in_mix": 1}


def test_short_sources_are_kept_whole_or_repeated_when_allowed(tmp_path: Path) -> None:
    kept, _ = run_mix(tmp_path, "short", shares={"web": 0.5, "dialogue": 0.5}, budget_tokens=50_000)
    assert tokens_by_source(kept)["dialogue"] == 10_000
    kept, _ = run_mix(
        tmp_path,
        "up",
        shares={"web": 0.5, "dialogue": 0.5},
        budget_tokens=50_000,
        upsample=True,
        max_repeats=4,
    )
    totals = tokens_by_source(kept)
    assert totals["dialogue"] == 25_000  # 2.5 repeats on average: half twice, half three times
    assert set(
        kept.filter(pa.compute.equal(kept.column("source"), "dialogue"))
        .column("mix_repeats")
        .to_pylist()
    ) == {2, 3}


def test_the_mix_is_reproducible(tmp_path: Path) -> None:
    first, _ = run_mix(tmp_path, "a", shares={"web": 1, "dialogue": 1}, budget_tokens=20_000)
    second, _ = run_mix(tmp_path, "b", shares={"web": 1, "dialogue": 1}, budget_tokens=20_000)
    assert first.column("id").to_pylist() == second.column("id").to_pylist()
