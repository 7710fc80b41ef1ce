"""reverse_score and select: the reverse-modeling score and budgeted selection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pytest
from pydantic import ValidationError

from goldpan.score.reverse import ReverseScore
from goldpan.score.select import Select
from tests.conftest import read_output, read_rejects, run_steps_on
from tests.realtext import batch, news_articles


def test_s_is_forward_loss_minus_reverse_loss() -> None:
    table = batch(["a", "b", "c"]).append_column("fwd_loss", [[3.0, 2.5, None]])
    table = table.append_column("rev_loss", [[2.0, 3.0, 1.0]])
    result = ReverseScore().process(table)
    assert result.column("s_score").to_pylist() == [1.0, -0.5, None]
    assert result.column("reject_reason").to_pylist() == [None, None, "reverse_score:missing_loss"]


def scored_corpus(tmp_path: Path, count: int = 200) -> Path:
    rng = np.random.default_rng(0)
    rows = [
        {
            "id": f"doc-{i:03d}",
            "text": text,
            "s_score": float(rng.normal()),
            "n_tokens": int(rng.integers(50, 500)),
        }
        for i, text in enumerate((news_articles() * 2)[:count])
    ]
    rows[7]["s_score"] = None
    path = tmp_path / "scored.jsonl"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def run_select(tmp_path: Path, name: str, **options) -> tuple[pa.Table, pa.Table]:
    run_steps_on(
        scored_corpus(tmp_path),
        tmp_path / name,
        [{"name": "select", **options}],
        part_records=30,
        seed=1,
    )
    return read_output(tmp_path / name), read_rejects(tmp_path / name)


def test_top_fraction_keeps_the_highest_scores_across_parts(tmp_path: Path) -> None:
    kept, rejects = run_select(tmp_path, "top", by="s_score", mode="top", fraction=0.25)
    scores = kept.column("s_score").to_pylist()
    rejected_scores = [s for s in rejects.column("s_score").to_pylist() if s is not None]
    assert len(scores) == int(np.ceil(0.25 * 199))
    assert min(scores) > max(rejected_scores)
    reasons = set(rejects.column("reject_reason").to_pylist())
    assert reasons == {"select:not_selected", "select:no_score"}


def test_bottom_with_a_token_budget_is_a_perplexity_style_filter(tmp_path: Path) -> None:
    kept, rejects = run_select(
        tmp_path, "bottom", by="s_score", mode="bottom", budget_tokens=10_000
    )
    assert sum(kept.column("n_tokens").to_pylist()) <= 10_000
    cheapest_rejected = min(s for s in rejects.column("s_score").to_pylist() if s is not None)
    assert max(kept.column("s_score").to_pylist()) < cheapest_rejected


def test_random_mode_is_seeded_and_the_same_size(tmp_path: Path) -> None:
    first, _ = run_select(tmp_path, "random1", mode="random", fraction=0.25)
    second, _ = run_select(tmp_path, "random2", mode="random", fraction=0.25)
    assert first.column("id").to_pylist() == second.column("id").to_pylist()
    assert first.num_rows == 50


def test_select_options_are_checked() -> None:
    with pytest.raises(ValidationError, match="exactly one of budget_tokens and fraction"):
        Select.Options(by="s_score", fraction=0.5, budget_tokens=10)
    with pytest.raises(ValidationError, match="need 'by'"):
        Select.Options(mode="top", fraction=0.5)


def test_stats_report_the_s_distribution_per_source(tmp_path: Path) -> None:
    import json

    run_select(tmp_path, "stats", by="s_score", mode="top", fraction=0.5)
    stats = json.loads((tmp_path / "stats" / "stats.json").read_text())
    s = stats["scores"]["s_score"]
    assert s["all"]["count"] == 199  # kept and rejected records alike, not the unscored one
    assert 0 < s["all"]["share_positive"] < 1
    assert set(s["by_source"]) == {"scored"}


def test_s_averaged_over_scorer_pairs_is_the_mean_of_their_s() -> None:
    table = batch(["a", "b"]).append_column("fwd_loss", [[3.0, 2.0]])
    table = table.append_column("rev_loss", [[2.0, 3.0]])
    table = table.append_column("fwd_loss_1", [[4.0, None]])
    table = table.append_column("rev_loss_1", [[2.0, 1.0]])
    step = ReverseScore(ReverseScore.Options(members=["", "_1"]))
    result = step.process(table)
    assert result.column("s_score").to_pylist() == [1.5, None]  # (1 + 2) / 2; a null member
    assert result.column("reject_reason").to_pylist() == [None, "reverse_score:missing_loss"]
    missing = ReverseScore(ReverseScore.Options(members=["", "_2"])).process(table)
    assert missing.column("s_score").null_count == 2
    with pytest.raises(ValidationError):
        ReverseScore.Options(members=[])
