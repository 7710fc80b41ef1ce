"""The fastText quality classifier: trained on real example sets, applied as a step."""

from __future__ import annotations

from pathlib import Path

import orjson

from goldpan.data.demo_corpus import markov
from goldpan.engine.ledger import verify_run
from goldpan.engine.runner import run_recipe
from goldpan.recipe import parse_recipe
from tests.conftest import read_output, read_rejects
from tests.realtext import summaries


def write(path: Path, texts: list[str]) -> Path:
    path.write_bytes(b"".join(orjson.dumps({"text": t}) + b"\n" for t in texts))
    return path


def test_classifier_tells_wikipedia_from_markov_text(tmp_path: Path) -> None:
    wiki, babble = summaries(), [d["text"] for d in markov() if d["text"]]
    positive = write(tmp_path / "pos.jsonl", wiki[:1000])
    negative = write(tmp_path / "neg.jsonl", babble[:600])
    held_out = wiki[1000:1100] + babble[600:700]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(
        b"".join(
            orjson.dumps({"id": f"{'wiki' if i < 100 else 'markov'}-{i}", "text": t}) + b"\n"
            for i, t in enumerate(held_out)
        )
    )
    recipe = parse_recipe(
        {
            "input": {"paths": [str(corpus)], "id_field": "id", "part_records": 50},
            "output": {"dir": str(tmp_path / "run")},
            "workers": 2,
            "steps": [
                {
                    "name": "quality_classifier",
                    "min_score": 0.5,
                    "positive": {"paths": [str(positive)]},
                    "negative": {"paths": [str(negative)]},
                }
            ],
        }
    )
    run_recipe(recipe)
    assert verify_run(tmp_path / "run")[0] == []
    kept = read_output(tmp_path / "run").column("id").to_pylist()
    rejected = read_rejects(tmp_path / "run").column("id").to_pylist()
    correct = sum(i.startswith("wiki") for i in kept) + sum(
        i.startswith("markov") for i in rejected
    )
    assert correct / len(held_out) >= 0.85
    scores = read_output(tmp_path / "run").column("quality_score").to_pylist()
    assert all(0.5 <= s <= 1 for s in scores)
    # Every scoring worker loads the model: its n-gram table is 2**18 rows of 64 floats (64 MB),
    # not fastText's 2,000,000 (512 MB).
    (model,) = (tmp_path / "run").rglob("quality.ftz")
    assert model.stat().st_size < 100 * 2**20
