"""Answer extraction and equivalence on real-looking rationales."""

from __future__ import annotations

import pytest

from goldpan.distill.answers import (
    equivalent,
    extract_answer,
    is_correct,
    last_boxed,
    math_equivalent,
    to_number,
)

RATIONALES = [
    # (rationale, extracted answer, gold, correct?)
    ("She has 3 apples and buys 4 more, so 3 + 4 = 7. The answer is 7.", "7", "7", True),
    ("Each box holds 12 eggs; 5 boxes hold 5 * 12 = 60 eggs.\nThe answer is: 60", "60", "60", True),
    ("The area is \\boxed{\\frac{3}{4}} square units.", "\\frac{3}{4}", "0.75", True),
    ("So the total cost is $1,250.00. The answer is $1,250.", "$1,250", "1250", True),
    ("Half of 18 is 9, then 9 - 2 = 7 left.", "7", "7", True),
    ("He ran 3.5 km on Monday and 2.25 km on Tuesday, 5.75 km in all.", "5.75", "23/4", True),
    ("The probability is 1/6 + 1/6 = 2/6, so the answer is 1/3.", "1/3", "0.333333333", True),
    ("Thus 20% of the students walk. The answer is 20%.", "20%", "0.2", True),
    ("x + 5 = 12 so \\boxed{x = 7}", "x = 7", "7", True),
    ("We get \\boxed{2\\cdot 3 + 1}", "2\\cdot 3 + 1", "7", True),
    ("The answer is 8.", "8", "9", False),
    ("Adding gives 14, minus 3 is 11... wait, 14 - 3 = 12. The answer is 12.", "12", "11", False),
    ("The capital is Paris. The answer is Paris.", "Paris", "paris", True),
    ("I am not sure how to solve this.", None, "5", False),
    ("\\boxed{\\text{B}}", "\\text{B}", "B", True),
    ("After 2 hours and 30 minutes, the answer is -4.", "-4", "-4.0", True),
]


@pytest.mark.parametrize(("rationale", "extracted", "gold", "correct"), RATIONALES)
def test_extraction_and_equivalence(
    rationale: str, extracted: str | None, gold: str, correct: bool
) -> None:
    assert extract_answer(rationale) == extracted
    assert is_correct(rationale, gold) is correct


def test_nested_boxes_keep_their_braces() -> None:
    assert extract_answer("so \\boxed{\\frac{1}{\\sqrt{2}}} and done") == "\\frac{1}{\\sqrt{2}}"


def test_numbers_are_compared_with_a_tolerance_and_expressions_evaluated() -> None:
    assert to_number("1,234,567") == 1234567
    assert to_number("(2+3)*4") == 20
    assert to_number("2^10") == 1024
    assert to_number("import os") is None and to_number("10**100000") is None
    assert equivalent("0.3333333", "1/3", tolerance=1e-6)
    assert not equivalent("0.33", "1/3", tolerance=1e-6)


# (answer, gold, MATH's is_equiv): the normal forms of MATH's _strip_string, compared as strings.
MATH_PAIRS = [
    ("\\frac{1}{2}", "0.5", True),
    ("\\dfrac{1}{2}", "\\frac12", True),
    ("\\tfrac{3}{4}", "\\frac{3}{4}", True),
    ("1/2", "\\frac{1}{2}", True),
    ("-1/2", "\\frac{-1}{2}", True),
    ("\\frac1{2}", "\\frac{1}{2}", True),
    ("\\frac{1}2", "\\frac{1}{2}", False),  # MATH leaves a braced first argument alone
    ("\\sqrt3", "\\sqrt{3}", True),
    ("2\\sqrt3", "2\\sqrt{3}", True),
    ("\\frac{\\sqrt3}{2}", "\\frac{\\sqrt{3}}{2}", True),
    ("x = 5", "5", True),
    ("k=-2", "-2", True),
    ("xy = 5", "5", False),  # only one- or two-character left sides are dropped
    ("10\\%", "10", True),
    ("10%", "10", False),  # MATH removes the escaped percent sign only
    ("90^\\circ", "90", True),
    ("90^{\\circ}", "90", True),
    ("\\$18.90", "18.90", True),
    ("5 \\text{ cm}", "5", True),
    ("5\\text{cm}", "5", False),  # a unit is "\text{ " with its space
    ("\\left( 3, 4 \\right)", "(3,4)", True),
    ("(3, 4)", "(4, 3)", False),
    ("[2, 5)", "[2,5)", True),
    ("[2, 5)", "[2, 5]", False),
    ("(-\\infty, 0)", "(-\\infty,0)", True),
    (".5", "\\frac{1}{2}", True),
    ("\\{.5\\}", "\\{0.5\\}", True),  # "{." becomes "{0.", after a backslash too
    ("\\frac{2}{4}", "\\frac{1}{2}", False),  # no arithmetic in MATH's check
    ("1,000", "1000", False),
    ("3.0", "3", False),
    ("\\pi", "\\pi", True),
    ("2\\pi", "2 \\pi", True),
    ("\\text{(A)}", "(A)", False),
    ("\\text{(A)}", "\\text{(A)}", True),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
    ("\\!12", "12", True),
    ("01/2", "\\frac{1}{2}", False),  # not a plain a/b: the zero stays
    ("y=\\frac{1}{2}x+3", "\\frac{1}{2}x+3", True),
    ("a+b=3", "3", False),
    ("4\\%", "4", True),
    ("-7", "-7", True),
    ("-7", "7", False),
]


@pytest.mark.parametrize(("answer", "gold", "expected"), MATH_PAIRS)
def test_math_answers_are_graded_as_maths_is_equiv(answer: str, gold: str, expected: bool) -> None:
    assert math_equivalent(answer, gold) is expected
    if expected:  # the lenient check accepts everything MATH accepts
        assert equivalent(answer, gold)


@pytest.mark.parametrize(
    ("answer", "gold"),
    [("\\frac{2}{4}", "\\frac{1}{2}"), ("1,000", "1000"), ("3.0", "3"), ("10%", "10"),
     ("20%", "0.2"), ("(0.5, 3)", "(\\frac{1}{2}, 3)"), ("[1, \\frac{3}{2})", "[1, 1.5)"),
     # Spellings seen in the authors' GPT-4 MATH rationales (benchmarks/answer_checking.py):
     ("2x^{5}", "2x^5"), ("30{,}951", "30,951"), ("50{,}000", "50000"), ("073", "73"),
     ("3^2 = 9", "9"), ("0 \\cdot 3 = 0", "0")],
)
def test_the_lenient_check_also_compares_values_and_elements(answer: str, gold: str) -> None:
    assert equivalent(answer, gold)


def test_an_equation_is_not_read_as_its_last_side_when_the_gold_answer_is_one() -> None:
    assert not equivalent("y = 2x + 1", "2x+1=y")
    assert equivalent("y = 2x + 1", "y=2x+1")
    assert not equivalent("3^2 = 8", "9")


def test_maths_braceless_boxed_answer_is_read_up_to_the_closing_dollar() -> None:
    # MATH's training solutions write "our answer is $\\boxed 2$" (no braces).
    assert extract_answer("Since we want the largest, our answer is $\\boxed 2$.") == "2"
    assert last_boxed("unfinished \\boxed{3") is None  # then the last number is read
    assert extract_answer("unfinished \\boxed{3") == "3"


def test_an_answer_ends_before_a_clause_or_a_trailing_comma() -> None:
    assert extract_answer("So the answer is 5, which is odd.") == "5"
    assert extract_answer("The answer is 12,") == "12"
    assert extract_answer("The answer is (1, 2).") == "(1, 2)"
