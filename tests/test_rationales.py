"""Problems from reasoning-gym and JSONL; rationales split into D_pos and D_neg."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goldpan.distill.rationales import (
    collect_rationales,
    load_problems,
    reasoning_gym_problems,
    write_collected,
)
from goldpan.distill.records import Problem
from goldpan.errors import GoldpanError
from goldpan.llm import make_llm
from tests.test_llm import ok, serve


def test_reasoning_gym_gives_reproducible_problems_and_separate_test_seeds() -> None:
    train = reasoning_gym_problems("basic_arithmetic", 5, seed=1)
    assert train == reasoning_gym_problems("basic_arithmetic", 5, seed=1)
    test = reasoning_gym_problems("basic_arithmetic", 5, seed=2)
    assert {p.question for p in train} != {p.question for p in test}
    assert all(p.question and p.answer for p in train)
    with pytest.raises(GoldpanError, match="choose one of"):
        reasoning_gym_problems("chess", 1, seed=0)


def test_problems_load_from_jsonl_with_a_clear_error_for_bad_lines(tmp_path: Path) -> None:
    good = tmp_path / "p.jsonl"
    good.write_text('{"q": "1 + 1?", "a": 2}\n\n{"q": "2 + 2?", "a": "4"}\n')
    assert [p.answer for p in load_problems(good, "q", "a")] == ["2", "4"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "1 + 1?"}\n')
    with pytest.raises(GoldpanError, match=r"bad.jsonl:1: expected MATH .* or 'q' and 'a'"):
        load_problems(bad, "q", "a")


def test_rationales_split_into_positive_and_negative_with_counts(tmp_path: Path) -> None:
    problems = [Problem("p1", "What is 2 + 3?", "5"), Problem("p2", "What is 10 / 4?", "2.5")]

    def teacher(number: int, body: dict) -> object:
        question = body["messages"][0]["content"]
        if "2 + 3" in question:
            return ok(
                "2 + 3 = 5. The answer is 5." if body["seed"] % 2 == 0 else "The answer is 6."
            )
        return ok("10 / 4 = 5/2, so \\boxed{\\frac{5}{2}}")

    with serve(teacher) as (_, url):
        collected = collect_rationales(make_llm(f"openai:t@{url}", None, backoff=0.01), problems, 4)
    summary = write_collected(collected, tmp_path / "data")
    assert summary == {"questions": 2, "positive": 6, "negative": 2, "questions_with_both": 1}
    counts = [json.loads(line) for line in (tmp_path / "data" / "counts.jsonl").open()]
    assert counts == [
        {"id": "p1", "positive": 2, "negative": 2},
        {"id": "p2", "positive": 4, "negative": 0},
    ]
    negative = [json.loads(line) for line in (tmp_path / "data" / "d_neg.jsonl").open()]
    assert {r["extracted"] for r in negative} == {"6"}


def test_a_problems_file_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        '{"question": "Combien font 2 + 2 ? Réponds.", "answer": "4"}\n'.encode("latin-1")
    )
    with pytest.raises(GoldpanError, match=r"latin1.jsonl: not UTF-8 text"):
        load_problems(path)
    with pytest.raises(GoldpanError, match=r"missing.jsonl: no such file"):
        load_problems(tmp_path / "missing.jsonl")


def test_problem_files_in_math_gsm8k_svamp_and_plain_formats(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from goldpan.distill.rationales import load_problems

    rows = {
        "math.jsonl": [{"problem": "What is $\\frac{1}{2} + \\frac{1}{2}$?",
                        "solution": "They add to $\\boxed{1}$.", "level": "Level 1",
                        "type": "Prealgebra"}],
        "gsm8k.jsonl": [{"question": "Tom has 3 bags of 4 apples. How many apples?",
                         "answer": "3 * 4 = <<3*4=12>>12 apples.\n#### 1,200"}],
        "svamp.jsonl": [{"Body": "Jack had 8 pens.", "Question": "He lost 3. How many now?",
                         "Equation": "( 8.0 - 3.0 )", "Answer": 5.0}],
        "plain.jsonl": [{"id": 7, "question": "2 + 2?", "answer": 4, "subject": "arith"}],
    }
    loaded = {}
    for name, items in rows.items():
        (tmp_path / name).write_text("".join(json.dumps(item) + "\n" for item in items))
        loaded[name] = load_problems(tmp_path / name)[0]
    assert loaded["math.jsonl"].to_json() == {
        "id": "1", "question": "What is $\\frac{1}{2} + \\frac{1}{2}$?", "answer": "1",
        "solution": "They add to $\\boxed{1}$.", "subject": "Prealgebra", "level": "Level 1",
    }
    assert loaded["gsm8k.jsonl"].answer == "1200"
    assert loaded["gsm8k.jsonl"].solution == "3 * 4 = 12 apples."
    assert loaded["svamp.jsonl"].question == "Jack had 8 pens. He lost 3. How many now?"
    assert loaded["svamp.jsonl"].answer == "5"
    assert loaded["plain.jsonl"].to_json() == {"id": "7", "question": "2 + 2?", "answer": "4",
                                     "subject": "arith"}


def test_accuracy_is_reported_per_subject_with_a_macro_average_and_per_extra_set() -> None:
    from types import SimpleNamespace

    from goldpan.distill.pipeline import Evaluator
    from goldpan.distill.results import DistillResults, RationaleCounts

    class Knows:
        """A stand-in model that answers 4 to every question."""

        def generate(self, prompts, params):  # type: ignore[no-untyped-def]
            return [[SimpleNamespace(text="The answer is 4.")] for _ in prompts]

    from goldpan.distill.records import Problem

    test = [
        Problem("a", "2 + 2?", "4", subject="algebra"),
        Problem("b", "1 + 1?", "2", subject="algebra"),
        Problem("c", "8 / 2?", "4", subject="geometry"),
    ]
    extra = {"svamp": [Problem("x", "3 + 1?", "4")]}
    results = DistillResults(data=RationaleCounts(questions=0, positive=0, negative=0,
                                                  questions_with_both=0))
    flags = Evaluator(results, test, extra, 8)("nat", Knows())  # type: ignore[arg-type]
    assert flags == [True, False, True]
    assert results.accuracy["nat"] == pytest.approx(2 / 3)
    assert results.accuracy_by_subject["nat"] == {"algebra": 0.5, "geometry": 1.0}
    assert results.macro_accuracy["nat"] == pytest.approx(0.75)  # the mean over subjects
    assert results.extra_accuracy == {"svamp": {"nat": 1.0}}


def test_the_simulated_teacher_slips_at_its_rate_and_its_slips_are_graded_wrong() -> None:
    from goldpan.distill.rationales import collect_rationales, reasoning_gym_problems
    from goldpan.distill.simulated import SimulatedTeacher
    from goldpan.llm.client import LLM

    problems = reasoning_gym_problems("chain_sum", 40, seed=3)
    problems += reasoning_gym_problems("gsm_symbolic", 10, seed=3)
    teacher = LLM(SimulatedTeacher(problems, error_rate=0.4, seed=0, style="slips"))
    collected = collect_rationales(teacher, problems, samples=8)
    share_wrong = len(collected.negative) / (len(collected.positive) + len(collected.negative))
    assert 0.3 < share_wrong < 0.5  # 400 rationales at a 40% slip rate
    assert all(row.extracted != row.gold for row in collected.negative)
    gsm = [row for row in collected.positive if row.id.startswith("gsm_symbolic")]
    assert gsm and all(row.rationale.endswith(f"The answer is {row.gold}.") for row in gsm)
    again = collect_rationales(LLM(SimulatedTeacher(problems, 0.4, 0, "slips")), problems, 8)
    assert again.positive == collected.positive  # seeded: the same rationales again
    wrong = next(r.rationale for r in collected.negative if r.id.startswith("chain_sum"))
    steps = [line for line in wrong.split("\n") if "=" in line]
    assert steps  # the slip sits in a worked step, not only in the final line
