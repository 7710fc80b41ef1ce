"""Answer extraction and equivalence on real-looking rationales."""

from __future__ import annotations

import pytest

from goldpan.distill.answers import equivalent, extract_answer, is_correct, to_number

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
