"""Final answers in chain-of-thought rationales: extraction and equivalence.

Extraction looks, in order, for the last ``\\boxed{...}`` (braces balanced), the last "the
answer is ...", and the last number in the text. Equivalence compares numbers with a
tolerance (fractions, percentages, thousands separators, currency signs, LaTeX fractions and
simple arithmetic expressions are evaluated first) and falls back to comparing normalised text.
"""

from __future__ import annotations

import ast
import math
import operator
import re

_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?\s*(.+?)(?:\.\s|\.$|\n|$)", re.I)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?|-?\.\d+")
_FRAC = re.compile(r"\\d?frac\{([^{}]+)\}\{([^{}]+)\}")
_TEXT = re.compile(r"\\(?:text|mathrm|mbox)\{([^{}]*)\}")
_OPERATORS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def last_boxed(text: str) -> str | None:
    """The content of the last \\boxed{...} (or \\fbox{...}), nested braces included."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    position = text.index("{", start) + 1
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
        answer = found[-1].strip().rstrip(".").strip()
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
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # thousands separators
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


def equivalent(answer: str | None, gold: str, tolerance: float = 1e-6) -> bool:
    """Whether an extracted answer matches the gold one (numbers within a relative tolerance,
    else normalised text)."""
    if answer is None:
        return False
    left, right = to_number(answer), to_number(gold)
    if left is not None and right is not None:
        return math.isclose(left, right, rel_tol=tolerance, abs_tol=tolerance)
    return _normalised(answer) == _normalised(gold)


def is_correct(rationale: str, gold: str, tolerance: float = 1e-6) -> bool:
    return equivalent(extract_answer(rationale), gold, tolerance)
