"""A simulated teacher for arithmetic problems: clearly not a model, for experiments that need
a teacher whose error rate is known.

A 135M teacher is right on a few percent of arithmetic questions, so a CPU run with it compares
nothing. This teacher writes worked solutions instead: for an arithmetic expression (reasoning-
gym's ``basic_arithmetic`` and ``chain_sum``) it evaluates the expression one operation per
line; for a word problem with a worked solution (``gsm_symbolic``'s, GSM8K's) it writes that
solution. With probability ``error_rate`` a rationale carries one realistic slip: one step's
result is off by a small amount, and every later step that uses it is recomputed from the wrong
value, so the final answer is wrong the way a careless solver's is. Everything is seeded by the
question, the sample index and the seed: a rerun writes the same rationales.

It answers through the ``llm`` backend interface (``simulated`` or ``simulated:RATE`` as the
teacher spec), so D_pos and D_neg are collected, cached and graded like a real teacher's.
"""

from __future__ import annotations

import ast
import hashlib
import random
import re
from collections.abc import Iterator, Sequence
from fractions import Fraction

from goldpan.distill.records import Problem
from goldpan.errors import GoldpanError
from goldpan.llm.params import Completion, GenerationParams, Prompt

SPEC = "simulated"
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_EQUATION = re.compile(r"(-?\d[\d,]*(?:\.\d+)?)\s*([+\-×x*/÷])\s*(-?\d[\d,]*(?:\.\d+)?)\s*=\s*"
                       r"(-?\d[\d,]*(?:\.\d+)?)")


def parse_spec(spec: str) -> float:
    """The error rate of ``simulated`` (0.3) or ``simulated:RATE``."""
    _, _, rate = spec.partition(":")
    try:
        value = float(rate) if rate else 0.3
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise GoldpanError(f"teacher {spec!r}: write simulated or simulated:RATE, 0 <= RATE <= 1")
    return value


def _text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.6g}"


def _slip(rng: random.Random) -> Fraction:
    return Fraction(rng.choice([-1, 1]) * rng.randint(1, 9))


class _Steps:
    """Evaluates an expression one operation per line, with an optional slip at one step."""

    def __init__(self, slip_at: int | None, rng: random.Random) -> None:
        self.lines: list[str] = []
        self.slip_at, self.rng = slip_at, rng

    def value(self, node: ast.AST) -> Fraction:
        if isinstance(node, ast.Expression):
            return self.value(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return Fraction(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            inner = self.value(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            left, right = self.value(node.left), self.value(node.right)
            symbol = _OPERATORS[type(node.op)]
            if symbol == "/" and right == 0:
                raise ZeroDivisionError
            result = {"+": left + right, "-": left - right, "*": left * right,
                      "/": left / right if right else left}[symbol]
            if len(self.lines) == self.slip_at:
                result += _slip(self.rng)
            self.lines.append(f"{_text(left)} {symbol} {_text(right)} = {_text(result)}")
            return result
        raise ValueError("not arithmetic")


def count_operations(expression: str) -> int:
    tree = ast.parse(expression, mode="eval")
    return sum(isinstance(n, ast.BinOp) for n in ast.walk(tree))


def expression_rationale(expression: str, wrong: bool, rng: random.Random) -> str:
    """The expression worked one operation per line; with ``wrong``, one step slips."""
    steps_total = count_operations(expression)
    slip_at = rng.randrange(steps_total) if wrong and steps_total else None
    steps = _Steps(slip_at, rng)
    result = steps.value(ast.parse(expression, mode="eval"))
    if wrong and not steps_total:  # a lone number: misread it
        result += _slip(rng)
    lines = ["Let's compute it step by step.", *steps.lines, f"The answer is {_text(result)}."]
    return "\n".join(lines)


def _number(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


def _apply(op: str, left: Fraction, right: Fraction) -> Fraction:
    if op in "+":
        return left + right
    if op == "-":
        return left - right
    if op in "/÷":
        return left / right if right else left
    return left * right  # ×, x, *


def _propagate(
    body: str, equations: list[re.Match], start: int, slip: Fraction
) -> tuple[str, dict[Fraction, Fraction]]:
    """The body with equation ``start``'s result off by ``slip`` and every later equation that
    uses a changed result recomputed; and the map of changed results (old -> new)."""
    replaced: dict[Fraction, Fraction] = {}
    pieces, position = [], 0
    for index in range(start, len(equations)):
        match = equations[index]
        a, op, b, c = (match.group(i) for i in range(1, 5))
        left, right, result = _number(a), _number(b), _number(c)
        if index > start and left not in replaced and right not in replaced:
            continue
        left, right = replaced.get(left, left), replaced.get(right, right)
        new = _apply(op, left, right) + (slip if index == start else 0)
        replaced[result] = new
        pieces += [body[position : match.start()],
                   f"{_text(left)} {op} {_text(right)} = {_text(new)}"]
        position = match.end()
    return "".join(pieces) + body[position:], replaced


def solution_rationale(solution: str, answer: str, wrong: bool, rng: random.Random) -> str:
    """A worked solution (GSM8K style, equations ``a op b = c`` in its text) with its final
    answer restated; with ``wrong``, one equation on the path to the answer gets a result off by
    a little, every later equation that uses it is recomputed, and the final answer follows."""
    body = solution.split("####")[0].rstrip()
    if not wrong:
        return f"{body}\nThe answer is {answer}."
    try:
        gold = _number(answer)
    except (ValueError, ZeroDivisionError):
        return f"{body}\nThe answer is {answer}0."
    equations = list(_EQUATION.finditer(body))
    slip = _slip(rng)
    starts = list(range(len(equations)))
    rng.shuffle(starts)
    for start in starts:  # a slip that reaches the answer, as a careless solver's does
        text, replaced = _propagate(body, equations, start, slip)
        if gold in replaced:
            final = replaced[gold]
            # Prose after the equations that restates the answer follows the wrong value.
            last = max(m.end() for m in equations)
            head, tail = text[: len(text) - (len(body) - last)], body[last:]
            tail = re.sub(rf"(?<![\d.]){re.escape(_text(gold))}(?![\d.])", _text(final), tail)
            return f"{head}{tail}\nThe answer is {_text(final)}."
    return f"{body}\nThe answer is {_text(gold + slip)}."  # no equation leads there: misread


class SimulatedTeacher:
    """A teacher backend (``llm.Backend``) that writes worked rationales for known problems."""

    name = "simulated"

    def __init__(self, problems: Sequence[Problem], error_rate: float, seed: int = 0):
        self.model = f"simulated:{error_rate}"
        self.error_rate, self.seed = error_rate, seed
        self.problems = {p.question: p for p in problems}

    def _problem(self, prompt: str) -> Problem | None:
        for question, problem in self.problems.items():
            if question in prompt:
                return problem
        return None

    def rationale(self, prompt: str, sample: int) -> str:
        problem = self._problem(prompt)
        if problem is None:
            return "I cannot solve this problem."
        digest = hashlib.sha256(f"{self.seed}|{sample}|{problem.question}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "little"))
        wrong = rng.random() < self.error_rate
        if problem.expression:
            try:
                return expression_rationale(problem.expression, wrong, rng)
            except (ValueError, SyntaxError, ZeroDivisionError):
                pass
        if problem.solution:
            return solution_rationale(problem.solution, problem.answer, wrong, rng)
        answer = problem.answer
        if wrong:
            try:
                answer = _text(_number(answer) + _slip(rng))
            except (ValueError, ZeroDivisionError):
                answer = answer + "0"
        return f"The answer is {answer}."

    def complete(
        self, requests: Sequence[tuple[Prompt, int]], params: GenerationParams
    ) -> Iterator[tuple[int, Completion]]:
        for index, (asked, sample) in enumerate(requests):
            prompt = asked if isinstance(asked, str) else asked[-1]["content"]  # the question
            text = self.rationale(prompt, sample)
            yield index, Completion(text, None, len(prompt.split()), len(text.split()), "stop")
