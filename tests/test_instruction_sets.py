"""D_ref and the held-out set (issue 32, point 5): seeded draws as the reference takes them,
Alpaca-Eval's layout read, the default sets disjoint, and the "short" filter optional."""

from __future__ import annotations

import json
from pathlib import Path

from goldpan.synth.instruction_sets import (
    montessori_sets,
    read_instruction_rows,
    seeded_draw,
    sharegpt_pool,
)


def test_the_draw_is_hf_datasets_shuffle_with_the_same_seed() -> None:
    """The reference draws D_ref with ``eval_dataset.shuffle(seed=42).select(range(256))``."""
    from datasets import Dataset

    rows = list(range(300))
    expected = Dataset.from_dict({"row": rows}).shuffle(seed=42)["row"]
    assert seeded_draw(rows, 42) == expected
    assert seeded_draw(rows, 42)[:256] != rows[:256]


def test_a_reference_file_in_alpaca_evals_layout_is_drawn_not_cut(tmp_path: Path) -> None:
    path = tmp_path / "alpaca_eval.jsonl"
    rows = [{"instruction": f"Question {i}?", "output": f"Answer {i}.", "generator": "gpt4"}
            for i in range(40)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    read = read_instruction_rows(path, "--reference")
    assert [(r.instruction, r.response) for r in read[:2]] == [("Question 0?", "Answer 0."),
                                                               ("Question 1?", "Answer 1.")]
    d_ref, held_out = montessori_sets(path, None, 8, 16, seed=42)
    assert [r.instruction for r in d_ref] == [r.instruction for r in seeded_draw(read, 42)[:8]]
    assert [r.instruction for r in d_ref] != [f"Question {i}?" for i in range(8)]
    assert len(held_out) == 16  # from the packaged ShareGPT turns


def test_the_default_sets_never_share_an_example_and_short_is_a_choice() -> None:
    d_ref, held_out = montessori_sets(None, None, 64, 64)
    assert not {r.instruction for r in d_ref} & {r.instruction for r in held_out}
    assert montessori_sets(None, None, 64, 64) == (d_ref, held_out)  # seeded
    assert montessori_sets(None, None, 64, 64, seed=7)[0] != d_ref
    short = sharegpt_pool("short")
    assert all(len(r.response) < 1500 and len(r.instruction) < 500 for r in short)
    assert any(len(r.response) >= 1500 for r in sharegpt_pool("none"))
    assert len(short) < len(sharegpt_pool("none"))
