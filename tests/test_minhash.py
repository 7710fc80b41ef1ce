"""MinHash near-duplicate removal on real articles and edited copies of known similarity."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from goldpan.curate.dedup.minhash import MinHashDedup, jaccard, shingles
from tests.conftest import read_output, read_rejects, run_steps_on
from tests.realtext import news_articles, summaries


def edited(text: str, rng: random.Random, edits: int) -> str:
    """A copy with ``edits`` random word insertions, deletions and swaps."""
    words = text.split()
    donor = " ".join(summaries()[:50]).split()
    for _ in range(edits):
        kind = rng.choice(["insert", "delete", "swap"])
        position = rng.randrange(1, len(words) - 1)
        if kind == "insert":
            words.insert(position, rng.choice(donor))
        elif kind == "delete":
            del words[position]
        else:
            words[position], words[position + 1] = words[position + 1], words[position]
    return " ".join(words)


def true_jaccard(a: str, b: str) -> float:
    return jaccard(shingles(a, 5), shingles(b, 5))


def build_pairs(tmp_path: Path, edit_rate: float, count: int = 120) -> tuple[Path, list[float]]:
    """Originals and one edited copy each, in a JSONL file; returns the copies' Jaccards."""
    rng = random.Random(7)
    distinct = {t[:80]: t for t in reversed(news_articles())}  # the corpus repeats a few articles
    originals = [t for t in news_articles() if distinct.get(t[:80]) is t and len(t.split()) > 120]
    originals = originals[:count]
    rows, similarities = [], []
    for index, text in enumerate(originals):
        copy = edited(text, rng, max(1, int(len(text.split()) * edit_rate)))
        similarities.append(true_jaccard(text, copy))
        rows += [
            {"id": f"orig-{index:03d}", "text": text},
            {"id": f"copy-{index:03d}", "text": copy},
        ]
    rng.shuffle(rows)
    path = tmp_path / f"pairs-{edit_rate}.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path, similarities


def run_minhash(path: Path, out: Path, executor: str = "local", **options) -> set[str]:
    run_steps_on(
        path, out, [{"name": "minhash_dedup", **options}], part_records=40, executor=executor
    )
    rejects = read_rejects(out)
    return set(rejects.column("id").to_pylist()) if rejects.num_rows else set()


def test_copies_above_0_9_jaccard_are_found(tmp_path: Path) -> None:
    path, similarities = build_pairs(tmp_path, edit_rate=0.005)
    assert min(similarities) >= 0.9
    removed = run_minhash(path, tmp_path / "run")
    found = sum(
        f"copy-{i:03d}" in removed or f"orig-{i:03d}" in removed for i in range(len(similarities))
    )
    assert found / len(similarities) >= 0.98  # recall at the threshold's safe side
    both = [
        i
        for i in range(len(similarities))
        if f"copy-{i:03d}" in removed and f"orig-{i:03d}" in removed
    ]
    assert not both  # one record of each cluster always stays
    kept = set(read_output(tmp_path / "run").column("id").to_pylist())
    assert set(read_rejects(tmp_path / "run").column("reject_duplicate_of").to_pylist()) <= kept


def test_copies_below_0_5_jaccard_are_kept(tmp_path: Path) -> None:
    path, similarities = build_pairs(tmp_path, edit_rate=0.12)
    assert max(similarities) <= 0.5
    removed = run_minhash(path, tmp_path / "run")
    assert len(removed) / len(similarities) <= 0.03  # precision: few false candidates


def test_jaccard_check_removes_every_false_positive(tmp_path: Path) -> None:
    path, similarities = build_pairs(tmp_path, edit_rate=0.025)  # about a third below 0.8
    removed = run_minhash(path, tmp_path / "run", check_jaccard=0.8)
    unchecked = run_minhash(path, tmp_path / "unchecked")
    for index, similarity in enumerate(similarities):
        pair_removed = f"copy-{index:03d}" in removed or f"orig-{index:03d}" in removed
        if similarity < 0.8:
            assert not pair_removed
    above = [i for i, s in enumerate(similarities) if s >= 0.8]
    found = [i for i in above if f"copy-{i:03d}" in removed or f"orig-{i:03d}" in removed]
    assert len(found) >= 0.9 * len(above)
    assert len(unchecked) > len(removed)  # without the check, some pairs below 0.8 merge


def test_the_kept_record_follows_the_rule_and_rejects_name_it(tmp_path: Path) -> None:
    path, _ = build_pairs(tmp_path, edit_rate=0.0, count=30)  # exact copies in disguise
    removed = run_minhash(path, tmp_path / "run", keep="lowest_id")
    assert removed == {f"orig-{i:03d}" for i in range(30)}  # "copy-" sorts first
    rejects = read_rejects(tmp_path / "run")
    assert rejects.column("reject_reason").unique().to_pylist() == ["minhash_dedup:near_duplicate"]
    duplicates_of = dict(
        zip(
            rejects.column("id").to_pylist(),
            rejects.column("reject_duplicate_of").to_pylist(),
            strict=True,
        )
    )
    assert duplicates_of["orig-007"] == "copy-007"
    kept = read_output(tmp_path / "run")
    clusters = dict(
        zip(kept.column("id").to_pylist(), kept.column("minhash_cluster").to_pylist(), strict=True)
    )
    assert clusters["copy-007"] == "copy-007"


def test_clusters_are_the_same_on_both_executors(tmp_path: Path) -> None:
    path, _ = build_pairs(tmp_path, edit_rate=0.02, count=60)
    local = run_minhash(path, tmp_path / "local")
    ray = run_minhash(path, tmp_path / "ray", executor="ray")
    assert local == ray
    assert read_output(tmp_path / "local").equals(read_output(tmp_path / "ray"))


def test_empty_and_tiny_texts_are_never_clustered_together() -> None:
    step = MinHashDedup()
    assert len(shingles("", 5)) == 0
    assert len(shingles("two words", 5)) == 1
    assert step.name == "minhash_dedup"
