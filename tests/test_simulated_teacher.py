"""The simulated teacher is wrong the way a solver is: by mistaken methods, more often on hard
questions, and right in more than one wording."""

from __future__ import annotations

import random
from collections import Counter
from fractions import Fraction

import pytest

from goldpan.distill.answers import extract_answer, is_correct
from goldpan.distill.arithmetic_solver import applicable_errors, difficulty, solve
from goldpan.distill.rationales import reasoning_gym_problems
from goldpan.distill.records import Problem
from goldpan.distill.simulated import SimulatedTeacher, parse_spec
from goldpan.errors import GoldpanError


@pytest.mark.parametrize(("expression", "method", "answer"), [
    ("10 - 3 + 2", "distribute_minus", Fraction(5)),  # 10 - (3 + 2)
    ("10 - 3 - 2", "distribute_minus", Fraction(9)),  # 10 - (3 - 2)
    ("2 + 3 * 4", "left_to_right", Fraction(20)),  # (2 + 3) * 4
    ("( 2 + 3 ) * 4", "left_to_right", Fraction(20)),  # parentheses still hold
    ("10 - 3 + 2", None, Fraction(9)),
    ("2 + 3 * 4", None, Fraction(14)),
])
def test_each_mistaken_method_computes_what_it_misunderstands(
    expression: str, method: str | None, answer: Fraction
) -> None:
    rationale, value = solve(expression, method, random.Random(0))
    assert value == answer
    assert rationale.endswith(f"The answer is {answer}.")


def test_a_skipped_term_and_a_misread_number_change_the_worked_lines_not_only_the_answer() -> None:
    skipped, value = solve("12 + 30 + 5", "skip_term", random.Random(0))
    assert value in {Fraction(17), Fraction(42)}
    assert skipped.count("=") == 1  # one addition left to work
    misread, value = solve("12 + 30", "misread", random.Random(0))
    assert value in {Fraction(33), Fraction(15)}  # 21 + 30 or 12 + 03
    assert "21 + 30" in misread or "12 + 03" in misread or "12 + 3 " in misread


def test_a_method_that_would_not_change_the_answer_is_not_offered() -> None:
    assert "left_to_right" not in applicable_errors("1 + 2 + 3")  # no precedence to ignore
    assert "distribute_minus" not in applicable_errors("1 + 2 + 3")  # no minus
    assert "misread" not in applicable_errors("1 + 2")  # no number to misread
    assert set(applicable_errors("205 - 838 + 505")) >= {"distribute_minus", "skip_term",
                                                         "misread", "slip"}


def test_difficulty_counts_operations_and_long_numbers() -> None:
    assert difficulty("1 + 5") == 1
    assert difficulty("205 - 838 + 505") == 2 + 3
    assert difficulty("( 56 + -33 ) - 84") == 2


def _problems() -> list[Problem]:
    return reasoning_gym_problems("chain_sum", 60, seed=3) + reasoning_gym_problems(
        "basic_arithmetic", 60, seed=3)


def test_wrong_rationales_follow_several_methods_and_each_question_mostly_repeats_its_own() -> None:
    problems = _problems()
    teacher = SimulatedTeacher(problems, 0.4, seed=0)
    kinds: Counter[str] = Counter()
    repeats, wrong_questions = 0, 0
    for problem in problems:
        errors = [teacher.explained(problem.prompt, sample)[1] for sample in range(8)]
        errors = [e for e in errors if e is not None]
        kinds.update(errors)
        if len(errors) >= 2:
            wrong_questions += 1
            repeats += Counter(errors).most_common(1)[0][1] / len(errors)
    assert {"distribute_minus", "left_to_right", "skip_term", "misread", "slip"} <= set(kinds)
    assert kinds["slip"] < sum(kinds.values()) / 3  # method errors dominate
    assert repeats / wrong_questions > 0.6  # a question's wrong rationales share a method


def test_every_wrong_rationale_is_graded_wrong_and_every_right_one_right() -> None:
    problems = _problems()
    teacher = SimulatedTeacher(problems, 0.4, seed=0)
    for problem in problems:
        for sample in range(4):
            rationale, error = teacher.explained(problem.prompt, sample)
            assert is_correct(rationale, problem.answer) == (error is None), rationale


def test_errors_grow_with_difficulty_and_average_to_the_rate() -> None:
    problems = _problems()
    teacher = SimulatedTeacher(problems, 0.4, seed=0)
    chances = {p.question: teacher.wrong_probability(p) for p in problems}
    assert sum(chances.values()) / len(chances) == pytest.approx(0.4, abs=1e-6)
    easy = [p for p in problems if p.expression and difficulty(p.expression) <= 1]
    hard = [p for p in problems if p.expression and difficulty(p.expression) >= 6]
    assert easy and hard

    def wrong_share(group: list[Problem]) -> float:
        flags = [teacher.explained(p.prompt, s)[1] is not None for p in group for s in range(8)]
        return sum(flags) / len(flags)

    assert wrong_share(hard) > wrong_share(easy) + 0.3


def test_right_rationales_vary_in_wording_and_method() -> None:
    problem = next(p for p in reasoning_gym_problems("chain_sum", 60, seed=3)
                   if p.expression and p.expression.count("-") >= 1
                   and len(p.expression.split()) >= 5)
    teacher = SimulatedTeacher([problem], 0.0, seed=0)
    texts = {teacher.rationale(problem.prompt, sample) for sample in range(16)}
    assert len(texts) >= 6
    assert all(extract_answer(t) is not None and is_correct(t, problem.answer) for t in texts)
    first_steps = {t.split("\n")[1 if not t[0].isdigit() else 0] for t in texts}
    assert len(first_steps) >= 3


def test_the_teacher_spec_names_rate_and_style() -> None:
    assert parse_spec("simulated") == (0.3, "methods")
    assert parse_spec("simulated:0.4") == (0.4, "methods")
    assert parse_spec("simulated:0.4:slips") == (0.4, "slips")
    with pytest.raises(GoldpanError, match="slips"):
        parse_spec("simulated:0.4:typos")
    old = SimulatedTeacher([Problem("a", "1 + 2?", "3", expression="1 + 2")], 0.5, 0, "slips")
    assert old.model == "simulated:0.5"  # its cached rationales stay valid


def test_a_run_with_the_simulated_teacher_counts_d_negs_mistaken_methods(tmp_path) -> None:
    from goldpan.distill.pipeline import DistillConfig, run_distillation

    config = DistillConfig.small(tasks=["chain_sum", "basic_arithmetic"], train_per_task=12,
                                 samples=4)
    results = run_distillation(config, tmp_path / "run", teacher="simulated:0.4", until="data")
    assert sum(results.teacher_errors.values()) == results.data.negative
    assert len(results.teacher_errors) >= 3 and "none" not in results.teacher_errors
