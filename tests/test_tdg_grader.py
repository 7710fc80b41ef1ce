"""TDG's split of teacher rationales, rule by rule (issue 33, point 3): code/dataset.py grades
a rationale by its last \\boxed{} against the gold solution's last \\boxed{}, with MATH's
is_equiv, so that the released rationales split as the paper's did."""

from __future__ import annotations

import pytest

from goldpan.distill.answers import grade, tdg_correct, tdg_last_boxed
from goldpan.distill.imported import grade_rationales

SOLUTION = "We add. First $\\boxed{5}$ is wrong; the total is $\\boxed{\\frac{1}{2}}$."


@pytest.mark.parametrize(("rationale", "tdg", "lenient"), [
    ("So the answer is $\\boxed{\\dfrac12}$.", True, True),  # MATH's normal form
    ("Half: $\\boxed{0.5}$", True, True),  # MATH turns 0.5 into \\frac{1}{2}
    ("$\\boxed{\\frac{1}{2}}$ then, finally, $\\boxed{3}$", False, False),  # the last box
    ("The answer is 1/2.", False, True),  # no box: TDG cannot read it
    ("$\\fbox{\\frac{1}{2}}$", False, True),  # remove_boxed takes \\boxed{ only
    ("$\\boxed{.5}$", True, True),  # a leading "." becomes "0.", and 0.5 is \\frac{1}{2}
])
def test_each_rule_of_tdgs_grader(rationale: str, tdg: bool, lenient: bool) -> None:
    assert tdg_correct(rationale, "\\frac{1}{2}", SOLUTION) is tdg
    assert grade(rationale, "\\frac{1}{2}", SOLUTION, "tdg") is tdg
    assert grade(rationale, "\\frac{1}{2}", SOLUTION, "lenient") is lenient


def test_the_label_is_the_solutions_last_box_and_missing_boxes_match() -> None:
    assert tdg_last_boxed(SOLUTION) == "\\boxed{\\frac{1}{2}}"
    assert tdg_last_boxed("\\boxed{a{b}c} and \\boxed{d") is None  # unclosed: nothing
    # TDG's is_equiv calls two missing answers equal: a rationale without a box is right
    # for a solution without one.
    assert tdg_correct("I think it is 7.", "7", "It is seven, as shown.")
    assert not tdg_correct("$\\boxed{7.0}$", "7", "$\\boxed{7}$")  # strings, no tolerance
    assert grade("$\\boxed{7.0}$", "7", "$\\boxed{7}$", "lenient")
    # Without a worked solution the gold answer is the label.
    assert tdg_correct("$\\boxed{12}$", "12", None)


def test_where_normalising_raises_tdg_compares_the_strings() -> None:
    two_units = "5 \\text{ cm} + 2 \\text{ cm}"
    assert tdg_correct(f"$\\boxed{{{two_units}}}$", "", f"$\\boxed{{{two_units}}}$")
    assert not tdg_correct("$\\boxed{5 \\text{ cm} +2 \\text{ cm}}$", "",
                           f"$\\boxed{{{two_units}}}$")  # equal after stripping, not as text
    assert tdg_correct("$\\boxed{3\\sqrt}$", "", "$\\boxed{3\\sqrt}$")


def test_imported_rationales_split_by_the_chosen_grader() -> None:
    rows = [{"id": "q1", "question": "Half of one?", "answer": "\\frac{1}{2}",
             "solution": SOLUTION, "rationale": text}
            for text in ("$\\boxed{\\frac12}$", "The answer is 0.5.", "$\\boxed{2}$")]
    _, lenient = grade_rationales(rows)
    _, tdg = grade_rationales(rows, "tdg")
    assert (len(lenient.positive), len(lenient.negative)) == (2, 1)
    assert (len(tdg.positive), len(tdg.negative)) == (1, 2)
    assert tdg.per_question[0].positive == 1
