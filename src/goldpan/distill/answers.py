"""Final answers in chain-of-thought rationales: extraction and equivalence.

Extraction looks, in order, for the last ``\\boxed{...}`` (braces balanced), the last "the
answer is ...", and the last number in the text. Equivalence is graded like MATH (Hendrycks et
al. 2021), whose ``is_equiv`` the TDG reference uses: both answers are normalised (whitespace,
``\\left``/``\\right``, degrees, ``\\%``, ``\\$``, unit ``\\text{ ...}``, ``tfrac``/``dfrac``,
``\\frac12``, ``\\sqrt3``, ``0.5`` as ``\\frac{1}{2}``, ``a/b``, a leading ``x=``) and compared as
strings; beyond MATH, numbers and simple arithmetic are compared by value with a tolerance
(fractions, thousands separators, currency, percentages read as the number or its hundredth),
and tuples and intervals element by element.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Literal

_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?\s*(.+?)(?:\.\s|\.$|\n|$)", re.I)
# "The answer is 5, which is ..." reads 5: a comma followed by words ends the answer.
_CLAUSE_AFTER = re.compile(r",\s+(?=[A-Za-z]{2,}).*$")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?|-?\.\d+")
_FRAC = re.compile(r"\\d?frac\{([^{}]+)\}\{([^{}]+)\}")
_TEXT = re.compile(r"\\(?:text|mathrm|mbox)\{([^{}]*)\}")
_OPERATORS: dict[type, Callable[..., float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def last_boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} (or \\fbox{...}), nested braces included; MATH's
    brace-less ``\\boxed 2`` reads up to the closing ``$`` (Hendrycks et al.'s
    ``last_boxed_only_string``; the MATH training solutions use it)."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    position = start + len("\\boxed" if text.startswith("\\boxed", start) else "\\fbox")
    if text.startswith(" ", position):
        return text[position:].split("$")[0].strip() or None
    if not text.startswith("{", position):
        return None
    position += 1
    depth, begin = 1, position
    while position < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[position], 0)
        position += 1
    return text[begin : position - 1].strip() if depth == 0 else None


def extract_answer(text: str) -> str | None:
    """The rationale's final answer, or None when it gives none."""
    boxed = last_boxed(text)
    if boxed:
        return boxed
    found = _ANSWER_IS.findall(text)
    if found:
        answer = _CLAUSE_AFTER.sub("", found[-1].strip()).rstrip(".,;").strip()
        if answer:
            return answer
    numbers = _NUMBER.findall(text)
    return numbers[-1].strip() if numbers else None


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ValueError("exponent too large")
        return _OPERATORS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_evaluate(node.operand))
    raise ValueError("not arithmetic")


def to_number(answer: str) -> float | None:
    """A numeric value for an answer string, or None when it is not a number or a simple
    arithmetic expression."""
    text = _TEXT.sub(r"\1", answer.strip())
    text = _FRAC.sub(r"(\1)/(\2)", text)
    text = text.replace("\\cdot", "*").replace("\\times", "*").replace("×", "*").replace("÷", "/")
    text = text.replace("\\left", "").replace("\\right", "").replace("\\!", "").replace("^", "**")
    text = re.sub(r"[$€£\s]|\\\$", "", text).rstrip(".")
    percent = text.endswith("%") or text.endswith("\\%")
    text = text.rstrip("%").removesuffix("\\")
    text = re.sub(r"(?<=\d)(?:,|\{,\})(?=\d{3}\b)", "", text)  # thousands: 1,000 / 1{,}000
    text = re.sub(r"(?<![\d.])0+(?=\d)", "", text)  # leading zeros: "073" (AIME style) is 73
    text = re.sub(r"^[a-zA-Z]\s*=", "", text)  # "x = 5"
    if not text or len(text) > 100 or not re.fullmatch(r"[\d.+\-*/()e]+", text):
        return None
    try:
        value = _evaluate(ast.parse(text, mode="eval"))
    except (ValueError, SyntaxError, ZeroDivisionError, OverflowError, TypeError):
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    return value / 100 if percent else value


def _normalised(answer: str) -> str:
    text = _TEXT.sub(r"\1", answer).lower().strip().rstrip(".")
    return re.sub(r"\s+", " ", text.replace("$", "")).strip()


def _fix_sqrt(text: str) -> str:
    """``\\sqrt3`` as ``\\sqrt{3}``: a one-character argument without braces gets them."""
    pieces = text.split("\\sqrt")
    return pieces[0] + "".join(
        "\\sqrt" + (piece if piece.startswith("{") or not piece else "{" + piece[0] + "}"
                      + piece[1:])
        for piece in pieces[1:]
    )


def _fix_fracs(text: str) -> str:
    """``\\frac12`` as ``\\frac{1}{2}`` and ``\\frac1{2}`` as ``\\frac{1}{2}``, as MATH does: a
    ``\\frac`` whose first argument is braced is left as it is (so ``\\frac{1}2`` stays)."""
    pieces = text.split("\\frac")
    out = pieces[0]
    for piece in pieces[1:]:
        out += "\\frac"
        if piece.startswith("{"):
            out += piece
        elif len(piece) < 2:
            return text  # MATH gives up on a malformed \\frac and keeps the string
        elif piece[1] != "{":
            out += "{" + piece[0] + "}{" + piece[1] + "}" + piece[2:]
        else:
            out += "{" + piece[0] + "}" + piece[1:]
    return out


def _fix_a_slash_b(text: str) -> str:
    """``3/4`` as ``\\frac{3}{4}`` when both sides are plain integers."""
    match = re.fullmatch(r"(-?\d+)/(-?\d+)", text)
    if not match or text != f"{int(match.group(1))}/{int(match.group(2))}":
        return text
    return f"\\frac{{{match.group(1)}}}{{{match.group(2)}}}"


def strip_math(answer: str, strict: bool = False) -> str:
    """MATH's normal form of an answer string: the rules and the order of its
    ``_strip_string`` (Hendrycks et al. 2021, used by the TDG reference's ``is_equiv``).
    ``strict`` raises ValueError where that code raises (two unit ``\\text{ `` or an empty
    ``\\sqrt``), which its ``is_equiv`` turns into a plain string comparison."""
    text = answer.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    text = text.replace("tfrac", "frac").replace("dfrac", "frac")
    text = text.replace("\\left", "").replace("\\right", "")
    text = text.replace("^{\\circ}", "").replace("^\\circ", "")
    text = text.replace("\\$", "")
    if strict and text.count("\\text{ ") > 1:
        raise ValueError("MATH's _remove_right_units asserts a single unit")
    text = text.partition("\\text{ ")[0]  # units: "5 \\text{ cm}"
    text = text.replace("\\%", "")
    text = text.replace(" .", " 0.").replace("{.", "{0.")
    if not text:
        return text
    if text.startswith("."):
        text = "0" + text
    sides = text.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:
        text = sides[1]  # "x = 5", "k=5"
    if strict and any(not piece for piece in text.split("\\sqrt")[1:]):
        raise ValueError("MATH's _fix_sqrt indexes an empty \\sqrt argument")
    text = _fix_sqrt(text).replace(" ", "")
    text = _fix_fracs(text)
    if text == "0.5":
        text = "\\frac{1}{2}"
    return _fix_a_slash_b(text)


def tdg_last_boxed(text: str) -> str | None:
    """TDG's ``last_boxed_only_string`` (code/dataset.py): the last ``\\boxed`` (``\\fbox``
    only when there is none) through the brace that closes the first one opened after it."""
    start = text.rfind("\\boxed")
    if start < 0:
        start = text.rfind("\\fbox")
        if start < 0:
            return None
    depth = 0
    for position in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[position], 0)
        if text[position] == "}" and depth == 0:
            return text[start : position + 1]
    return None


def tdg_remove_boxed(boxed: str | None) -> str | None:
    """TDG's ``remove_boxed``: the inside of ``\\boxed{...}``; None for anything else
    (``\\fbox{...}`` included)."""
    if boxed is None or not boxed.startswith("\\boxed{") or not boxed.endswith("}"):
        return None
    return boxed[len("\\boxed{") : -1]


def tdg_equivalent(answer: str | None, label: str | None) -> bool:
    """TDG's ``is_equiv``: both missing counts as a match, one missing as a miss, equal MATH
    normal forms otherwise, and where normalising raises, equal strings."""
    if answer is None or label is None:
        return answer is None and label is None
    try:
        return strip_math(answer, strict=True) == strip_math(label, strict=True)
    except ValueError:
        return answer == label


def tdg_correct(rationale: str, gold: str, solution: str | None = None) -> bool:
    """TDG's training split (code/dataset.py): the rationale's last ``\\boxed{}`` against the
    gold solution's, by ``is_equiv``; without a worked solution, against the gold answer."""
    label = solution if solution is not None else f"\\boxed{{{gold}}}"
    return tdg_equivalent(tdg_remove_boxed(tdg_last_boxed(rationale)),
                          tdg_remove_boxed(tdg_last_boxed(label)))


def math_equivalent(answer: str | None, gold: str) -> bool:
    """MATH's ``is_equiv``: equal normal forms."""
    return answer is not None and strip_math(answer) == strip_math(gold)


_BRACKETED = re.compile(r"^([\[(])(.*)([\])])$")


def _elements(text: str) -> tuple[str, list[str], str] | None:
    """A tuple or interval, ``(1, 2]``, as (opening, elements, closing); None for anything
    else. Commas inside braces do not split."""
    match = _BRACKETED.match(text.strip())
    if not match:
        return None
    elements, depth, current = [], 0, ""
    for character in match.group(2):
        depth += {"{": 1, "(": 1, "[": 1, "}": -1, ")": -1, "]": -1}.get(character, 0)
        if character == "," and depth == 0:
            elements.append(current)
            current = ""
        else:
            current += character
    elements.append(current)
    if len(elements) < 2:
        return None
    return match.group(1), elements, match.group(3)


def _numbers_match(answer: str, gold: str, tolerance: float) -> bool:
    left, right = to_number(answer), to_number(gold)
    if left is None or right is None:
        return False
    if math.isclose(left, right, rel_tol=tolerance, abs_tol=tolerance):
        return True
    # MATH drops "\\%": "10\\%" equals "10"; "20%" also equals "0.2".
    if re.search(r"\\?%\s*$", answer.strip()):
        return math.isclose(left * 100, right, rel_tol=tolerance, abs_tol=tolerance)
    if re.search(r"\\?%\s*$", gold.strip()):
        return math.isclose(left, right * 100, rel_tol=tolerance, abs_tol=tolerance)
    return False


_BRACED_TOKEN = re.compile(r"([\^_])\{([^{}])\}")


def _unbraced(text: str) -> str:
    """MATH's form with one-character exponents and subscripts unbraced (``x^{5}`` as ``x^5``)
    and LaTeX's thousands separator ``{,}`` read as a comma: spellings MATH's strings differ in."""
    return _BRACED_TOKEN.sub(r"\1\2", strip_math(text)).replace("{,}", ",")


def equivalent(answer: str | None, gold: str, tolerance: float = 1e-6) -> bool:
    """Whether an extracted answer matches the gold one: equal MATH normal forms (or equal up
    to braces around one-character exponents), or equal values, or equal tuples/intervals
    element by element, or equal normalised text; an answer written as a chain ``3^2 = 9``
    is read as its last side when the gold answer is no equation."""
    if answer is None:
        return False
    if math_equivalent(answer, gold) or _unbraced(answer) == _unbraced(gold):
        return True
    if "=" in answer and "=" not in gold:
        return equivalent(answer.rsplit("=", 1)[1], gold, tolerance)
    if _numbers_match(answer, gold, tolerance):
        return True
    left, right = _elements(strip_math(answer)), _elements(strip_math(gold))
    if left is not None and right is not None:
        return (
            left[0] == right[0]
            and left[2] == right[2]
            and len(left[1]) == len(right[1])
            and all(equivalent(a, b, tolerance) for a, b in zip(left[1], right[1], strict=True))
        )
    return _normalised(answer) == _normalised(gold)


def is_correct(rationale: str, gold: str, tolerance: float = 1e-6) -> bool:
    return equivalent(extract_answer(rationale), gold, tolerance)


Grader = Literal["lenient", "tdg"]


def grade(rationale: str, gold: str, solution: str | None, grader: Grader = "lenient") -> bool:
    """Whether a rationale is right: goldpan's lenient grader (``is_correct``) or TDG's exact
    split (``tdg_correct``), which reads only a final ``\\boxed{}``."""
    if grader == "tdg":
        return tdg_correct(rationale, gold, solution)
    return is_correct(rationale, gold)
