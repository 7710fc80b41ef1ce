"""Teacher rationales a user already has: the paper authors' release converted, graded into
D_pos and D_neg, and a data-only run that loads no model."""

from __future__ import annotations

import json
from pathlib import Path

from goldpan.distill.imported import grade_rationales, read_rationales, tdg_rows
from tests.conftest import goldpan

# Two questions in the TDG release's format (GPT4-MATH/train_gpt4_algebra_8/N.jsonl).
TDG_FILES = {
    "0.jsonl": {
        "question": "What is $x$ if $2x + 3 = 7$?",
        "answer": "Subtract 3: $2x = 4$, so $x = \\boxed{2}$.",
        "generated_answer": [
            "Let's think step by step\n2x = 4, so x = 2.\nThe answer is 2",
            "Let's think step by step\n2x = 10, so x = 5.\nThe answer is 5",
        ],
    },
    "1.jsonl": {
        "question": "Simplify $\\frac{2}{4}$.",
        "answer": "Divide both by 2: $\\boxed{\\frac{1}{2}}$.",
        "generated_answer": [
            "Let's think step by step\nDividing gives \\boxed{\\dfrac12}.",
            "Let's think step by step\nThe answer is 0.5",
            "Let's think step by step\nThe answer is \\frac{1}{4}",
        ],
    },
}


def _release(tmp_path: Path) -> Path:
    folder = tmp_path / "GPT4-MATH" / "train_gpt4_algebra_8"
    folder.mkdir(parents=True)
    for name, item in TDG_FILES.items():
        (folder / name).write_text(json.dumps(item) + "\n")
    return folder


def test_the_authors_release_becomes_one_row_per_rationale(tmp_path: Path) -> None:
    rows = list(tdg_rows([_release(tmp_path)]))
    first, second = "train_gpt4_algebra_8/0", "train_gpt4_algebra_8/1"
    assert [r["id"] for r in rows] == [first] * 2 + [second] * 3
    assert rows[0]["answer"] == "2" and rows[2]["answer"] == "\\frac{1}{2}"
    assert rows[0]["solution"].startswith("Subtract 3")
    assert [r["sample"] for r in rows] == [0, 1, 0, 1, 2]


def test_imported_rationales_are_graded_into_d_pos_and_d_neg(tmp_path: Path) -> None:
    path = tmp_path / "rationales.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in tdg_rows([_release(tmp_path)])))
    problems, collected = grade_rationales(read_rationales(path))
    assert [p["id"] for p in problems] == ["train_gpt4_algebra_8/0", "train_gpt4_algebra_8/1"]
    assert problems[0]["solution"].startswith("Subtract 3")
    right = {(r["id"], r["sample"]) for r in collected.positive}
    assert right == {("train_gpt4_algebra_8/0", 0), ("train_gpt4_algebra_8/1", 0),
                     ("train_gpt4_algebra_8/1", 1)}  # \dfrac12 and 0.5 both equal 1/2
    assert len(collected.negative) == 2
    assert collected.per_question == [
        {"id": "train_gpt4_algebra_8/0", "positive": 1, "negative": 1},
        {"id": "train_gpt4_algebra_8/1", "positive": 2, "negative": 1},
    ]


def test_a_rationale_line_without_its_answer_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "rationales.jsonl"
    path.write_text(json.dumps({"id": "q1", "question": "2 + 2?", "rationale": "4"}) + "\n")
    result = goldpan("distill", "run", "--out", str(tmp_path / "run"), "--rationales", str(path),
                     "--until", "data")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}:1: expected an object with id, question, answer and rationale" in result.stderr


def test_a_data_only_run_from_imported_rationales_loads_no_model(tmp_path: Path) -> None:
    converted = tmp_path / "rationales.jsonl"
    imported = goldpan("distill", "import-tdg", str(_release(tmp_path)), "--out", str(converted),
                       check=True)
    assert "5 rationales of 2 questions" in imported.stderr
    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"question": "3 + 4?", "answer": "7"}) + "\n")
    run = tmp_path / "run"
    goldpan("distill", "run", "--out", str(run), "--rationales", str(converted),
            "--test-problems", str(test), "--until", "data",
            "--student", "/no/such/model",  # never loaded: the run stops after the data
            check=True)
    positive = [json.loads(line) for line in (run / "data" / "d_pos.jsonl").open()]
    negative = [json.loads(line) for line in (run / "data" / "d_neg.jsonl").open()]
    assert len(positive) == 3 and len(negative) == 2
    results = json.loads((run / "results.json").read_text())
    assert results["data"]["questions_with_both"] == 2 and results["accuracy"] == {}
