"""SemDeDup on real text with the packaged all-MiniLM-L6-v2 embeddings."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import orjson

from goldpan.curate.dedup.semantic import spherical_kmeans
from goldpan.engine.ledger import verify_run
from goldpan.engine.runner import run_recipe
from goldpan.recipe import parse_recipe
from tests.conftest import read_output, read_rejects
from tests.realtext import summaries


def test_spherical_kmeans_recovers_well_separated_directions() -> None:
    rng = np.random.default_rng(0)
    axes = np.eye(8, dtype=np.float32)[:3]
    points = np.concatenate([axis + 0.05 * rng.standard_normal((20, 8)) for axis in axes])
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    _, labels = spherical_kmeans(points.astype(np.float32), 3, seed=1, iterations=20)
    groups = [set(labels[i * 20 : (i + 1) * 20].tolist()) for i in range(3)]
    assert all(len(g) == 1 for g in groups) and len(set.union(*groups)) == 3


def light_edit(text: str, rng: random.Random) -> str:
    """Swap two neighbouring words and drop one: the same statement, not the same string."""
    words = text.split()
    i = rng.randrange(1, len(words) - 2)
    words[i], words[i + 1] = words[i + 1], words[i]
    del words[rng.randrange(1, len(words) - 1)]
    return " ".join(words)


def test_semantic_duplicates_are_removed_and_distinct_texts_kept(tmp_path: Path) -> None:
    rng = random.Random(3)
    originals = [t for t in summaries() if len(t.split()) > 40][:40]
    rows = [{"id": f"orig-{i:02d}", "text": t} for i, t in enumerate(originals)]
    rows += [
        {"id": f"edit-{i:02d}", "text": light_edit(t, rng)} for i, t in enumerate(originals[:15])
    ]
    rng.shuffle(rows)
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    recipe = parse_recipe(
        {
            "input": {"paths": [str(path)], "id_field": "id", "part_records": 20},
            "output": {"dir": str(tmp_path / "run")},
            "workers": 1,
            "steps": [{"name": "semantic_dedup", "n_clusters": 6, "eps": 0.05}],
        }
    )
    run_recipe(recipe)
    assert verify_run(tmp_path / "run")[0] == []
    rejects = read_rejects(tmp_path / "run")
    removed = dict(
        zip(
            rejects.column("id").to_pylist(),
            rejects.column("reject_duplicate_of").to_pylist(),
            strict=True,
        )
    )
    pairs_found = sum(
        1 for i in range(15) if f"orig-{i:02d}" in removed or f"edit-{i:02d}" in removed
    )
    assert pairs_found >= 14
    wrongly = [r for r in removed if r.startswith("orig-") and int(r[5:]) >= 15]
    assert not wrongly
    kept = set(read_output(tmp_path / "run").column("id").to_pylist())
    assert set(removed.values()) <= kept
    assert set(rejects.column("reject_reason").to_pylist()) == {"semantic_dedup:semantic_duplicate"}
