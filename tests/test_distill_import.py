"""Teacher rationales a user already has: the paper authors' release converted, graded into
D_pos and D_neg, and a data-only run that loads no model."""

from __future__ import annotations

import json
from pathlib import Path

from goldpan.distill.imported import grade_rationales, read_rationales, tdg_rows
from tests.conftest import goldpan

# Three questions in the TDG release's format (GPT4-MATH/train_gpt4_algebra_8/N.jsonl holds
# one question a line, ten a file).
TDG_FILES = {
    "0.jsonl": [{
        "question": "What is $x$ if $2x + 3 = 7$?",
        "answer": "Subtract 3: $2x = 4$, so $x = \\boxed{2}$.",
        "generated_answer": [
            "Let's think step by step\n2x = 4, so x = 2.\nThe answer is 2",
            "Let's think step by step\n2x = 10, so x = 5.\nThe answer is 5",
        ],
    }, {
        "question": "Simplify $\\frac{2}{4}$.",
        "answer": "Divide both by 2: $\\boxed{\\frac{1}{2}}$.",
        "generated_answer": [
            "Let's think step by step\nDividing gives \\boxed{\\dfrac12}.",
            "Let's think step by step\nThe answer is 0.5",
            "Let's think step by step\nThe answer is \\frac{1}{4}",
        ],
    }],
    "1.jsonl": [{
        "question": "What is the largest $x$ with $x^2 = 4$?",
        "answer": "$x = \\pm 2$, so our answer is $\\boxed 2$.",  # MATH's brace-less box
        "generated_answer": ["Let's think step by step\nx is 2 or -2.\nThe answer is 2"],
    }],
}


def _release(tmp_path: Path) -> Path:
    folder = tmp_path / "GPT4-MATH" / "train_gpt4_algebra_8"
    folder.mkdir(parents=True)
    for name, items in TDG_FILES.items():
        (folder / name).write_text("".join(json.dumps(item) + "\n" for item in items))
    return folder


def test_the_authors_release_becomes_one_row_per_rationale(tmp_path: Path) -> None:
    rows = list(tdg_rows([_release(tmp_path)]))
    first, second, third = ("train_gpt4_algebra_8/0:1", "train_gpt4_algebra_8/0:2",
                            "train_gpt4_algebra_8/1:1")
    assert [r["id"] for r in rows] == [first] * 2 + [second] * 3 + [third]
    assert [r["answer"] for r in rows[::2]] == ["2", "\\frac{1}{2}", "\\frac{1}{2}"]
    assert rows[-1]["answer"] == "2"  # read from "\\boxed 2"
    assert rows[0]["solution"].startswith("Subtract 3")
    assert [r["sample"] for r in rows] == [0, 1, 0, 1, 2, 0]


def test_imported_rationales_are_graded_into_d_pos_and_d_neg(tmp_path: Path) -> None:
    path = tmp_path / "rationales.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in tdg_rows([_release(tmp_path)])))
    problems, collected = grade_rationales(read_rationales(path))
    first, second, third = ("train_gpt4_algebra_8/0:1", "train_gpt4_algebra_8/0:2",
                            "train_gpt4_algebra_8/1:1")
    assert [p.id for p in problems] == [first, second, third]
    assert problems[0].solution and problems[0].solution.startswith("Subtract 3")
    right = {(r.id, r.sample) for r in collected.positive}
    assert right == {(first, 0), (second, 0), (second, 1),  # \dfrac12 and 0.5 both equal 1/2
                     (third, 0)}
    assert len(collected.negative) == 2
    assert [c.to_json() for c in collected.per_question] == [
        {"id": first, "positive": 1, "negative": 1},
        {"id": second, "positive": 2, "negative": 1},
        {"id": third, "positive": 1, "negative": 0},
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
    assert "6 rationales of 3 questions" in imported.stderr
    test = tmp_path / "test.jsonl"
    test.write_text(json.dumps({"question": "3 + 4?", "answer": "7"}) + "\n")
    run = tmp_path / "run"
    goldpan("distill", "run", "--out", str(run), "--rationales", str(converted),
            "--test-problems", str(test), "--until", "data",
            "--student", "/no/such/model",  # never loaded: the run stops after the data
            check=True)
    positive = [json.loads(line) for line in (run / "data" / "d_pos.jsonl").open()]
    negative = [json.loads(line) for line in (run / "data" / "d_neg.jsonl").open()]
    assert len(positive) == 4 and len(negative) == 2
    results = json.loads((run / "results.json").read_text())
    assert results["data"]["questions_with_both"] == 2 and results["accuracy"] == {}


def test_a_question_whose_solution_boxes_nothing_is_left_out_and_named(tmp_path: Path) -> None:
    folder = _release(tmp_path)
    empty = {"question": "How many primes?", "answer": "There are $\\boxed{}$ primes.",
             "generated_answer": ["The answer is 0"]}
    (folder / "2.jsonl").write_text(json.dumps(empty) + "\n")
    skipped: list[str] = []
    rows = list(tdg_rows([folder], skipped))
    assert len(rows) == 6 and skipped == [f"{folder / '2.jsonl'}:1"]
    result = goldpan("distill", "import-tdg", str(folder), "--out", str(tmp_path / "r.jsonl"),
                     check=True)
    assert "6 rationales of 3 questions" in result.stderr
    assert "1 question(s) left out, their solution boxes no answer" in result.stderr
