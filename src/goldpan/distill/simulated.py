"""A simulated teacher for arithmetic problems: clearly not a model, for experiments that need
a teacher whose errors are known.

A 135M teacher is right on a few percent of arithmetic questions, so a CPU run with it compares
nothing. This teacher writes worked solutions instead (``simulated:RATE``, RATE its mean error
rate over the problems it is given). For an arithmetic expression (reasoning-gym's
``basic_arithmetic`` and ``chain_sum``) it works the expression one operation per line
(``arithmetic_solver``):

- a wrong rationale follows a mistaken method: a minus distributed over the later terms, the
  operations worked in reading order against precedence, a term skipped, a number misread, or,
  less often, a careless slip; each question has a misconception of its own that most of its
  wrong rationales share, as a teacher that misunderstands a question tends to repeat itself;
- errors depend on difficulty: a question with d operations (plus one per number of three or
  more digits) is answered wrong with probability 1 - (1 - h)^d, h set so that the mean over
  the problems is RATE;
- correct rationales vary in wording and, for chains of additions and subtractions, in method.

``simulated:RATE:slips`` is the earlier teacher, kept so its documented runs can be repeated:
every question wrong with probability RATE, by one slip in one step, in one wording.

For a word problem with a worked solution (``gsm_symbolic``'s, GSM8K's) either teacher writes
that solution, with a slip when wrong. Everything is seeded by the question, the sample index
and the seed: a rerun writes the same rationales.

It answers through the ``llm`` backend interface, so D_pos and D_neg are collected, cached and
graded like a real teacher's.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import random
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from fractions import Fraction

from goldpan.distill.answers import is_correct
from goldpan.distill.arithmetic_solver import applicable_errors, difficulty, solve
from goldpan.distill.arithmetic_solver import text as _text
from goldpan.distill.records import Problem, Rationale
from goldpan.errors import GoldpanError
from goldpan.llm.params import Completion, GenerationParams, Prompt

SPEC = "simulated"
_OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_EQUATION = re.compile(r"(-?\d[\d,]*(?:\.\d+)?)\s*([+\-×x*/÷])\s*(-?\d[\d,]*(?:\.\d+)?)\s*=\s*"
                       r"(-?\d[\d,]*(?:\.\d+)?)")


STYLES = ("methods", "slips")


def parse_spec(spec: str) -> tuple[float, str]:
    """(error rate, style) of ``simulated`` (0.3, methods), ``simulated:RATE`` or
    ``simulated:RATE:slips``."""
    _, _, rest = spec.partition(":")
    rate, _, style = rest.partition(":")
    try:
        value = float(rate) if rate else 0.3
    except ValueError:
        value = -1.0
    style = style or "methods"
    if not 0.0 <= value <= 1.0 or style not in STYLES:
        raise GoldpanError(f"teacher {spec!r}: write simulated, simulated:RATE (0 <= RATE <= 1) "
                           "or simulated:RATE:slips")
    return value, style


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


# How often each mistaken method is drawn, among those that change a question's answer: the
# method errors dominate, careless slips are the rarer kind.
ERROR_WEIGHTS = {"distribute_minus": 3.0, "left_to_right": 3.0, "skip_term": 2.0,
                 "misread": 2.0, "slip": 1.0}
OWN_MISCONCEPTION = 0.7  # share of a question's wrong rationales that follow its own error


def per_step_rate(difficulties: Sequence[float], mean_rate: float) -> float:
    """h such that the mean of 1 - (1 - h)^d over the questions is ``mean_rate`` (bisection)."""
    if not difficulties or mean_rate <= 0:
        return 0.0
    low, high = 0.0, 1.0
    for _ in range(60):
        middle = (low + high) / 2
        mean = sum(1 - (1 - middle) ** d for d in difficulties) / len(difficulties)
        low, high = (middle, high) if mean < mean_rate else (low, middle)
    return (low + high) / 2


class SimulatedTeacher:
    """A teacher backend (``llm.Backend``) that writes worked rationales for known problems."""

    name = "simulated"

    def __init__(self, problems: Sequence[Problem], error_rate: float, seed: int = 0,
                 style: str = "methods"):
        # The slips teacher keeps its old name, so its cached rationales stay valid.
        self.model = f"simulated:{error_rate}" + (":methods" if style == "methods" else "")
        self.error_rate, self.seed, self.style = error_rate, seed, style
        self.problems = {p.question: p for p in problems}
        self.difficulty: dict[str, float] = {}
        for problem in problems:
            if problem.expression:
                with contextlib.suppress(ValueError):  # not arithmetic: the constant rate
                    self.difficulty[problem.question] = difficulty(problem.expression)
        self.per_step = per_step_rate(list(self.difficulty.values()), error_rate)

    def _problem(self, prompt: str) -> Problem | None:
        for question, problem in self.problems.items():
            if question in prompt:
                return problem
        return None

    def wrong_probability(self, problem: Problem) -> float:
        """The chance that a rationale for this question is wrong."""
        if self.style == "slips" or problem.question not in self.difficulty:
            return self.error_rate
        return 1 - (1 - self.per_step) ** self.difficulty[problem.question]

    def _rng(self, *key: object) -> random.Random:
        digest = hashlib.sha256("|".join(map(str, (self.seed, *key))).encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "little"))

    def _method_rationale(self, problem: Problem, wrong: bool,
                          rng: random.Random) -> tuple[str, str | None]:
        assert problem.expression is not None
        if not wrong:
            return solve(problem.expression, None, rng)[0], None
        right = solve(problem.expression, None, random.Random(0))[1]
        errors = [e for e in applicable_errors(problem.expression) if e in ERROR_WEIGHTS]
        own = self._rng("misconception", problem.question).choices(
            errors, [ERROR_WEIGHTS[e] for e in errors])[0]
        order = [own] if rng.random() < OWN_MISCONCEPTION else []
        order += rng.sample(errors, len(errors))
        for error in [*order, "slip"]:
            attempt = random.Random(rng.random())
            rationale, value = solve(problem.expression, error, attempt)
            # Graded as a grader would (its tolerance hides a misread digit in a huge product).
            if value is not None and not is_correct(rationale, problem.answer):
                return rationale, error
        assert right is not None
        return f"The answer is {_text(right + _slip(rng))}.", "misread"  # a lone number

    def rationale(self, prompt: str, sample: int) -> str:
        return self.explained(prompt, sample)[0]

    def explained(self, prompt: str, sample: int) -> tuple[str, str | None]:
        """A rationale and the mistaken method it follows (None when it is meant to be right;
        ``slip`` for the slips teacher's and the word problems' errors)."""
        problem = self._problem(prompt)
        if problem is None:
            return "I cannot solve this problem.", None
        rng = self._rng(sample, problem.question)  # seed|sample|question, as ever
        wrong = rng.random() < self.wrong_probability(problem)
        slip = "slip" if wrong else None
        if problem.expression:
            try:
                if self.style == "methods":
                    return self._method_rationale(problem, wrong, rng)
                return expression_rationale(problem.expression, wrong, rng), slip
            except (ValueError, SyntaxError, ZeroDivisionError):
                pass
        if problem.solution:
            return solution_rationale(problem.solution, problem.answer, wrong, rng), slip
        answer = problem.answer
        if wrong:
            try:
                answer = _text(_number(answer) + _slip(rng))
            except (ValueError, ZeroDivisionError):
                answer = answer + "0"
        return f"The answer is {answer}.", slip

    def error_kinds(self, rows: Sequence[Rationale]) -> dict[str, int]:
        """How many of these rationales (D_neg) follow each mistaken method."""
        kinds = Counter(self.explained(row.question, int(row.sample))[1] or "none"
                        for row in rows)
        return dict(sorted(kinds.items()))

    def complete(
        self, requests: Sequence[tuple[Prompt, int]], params: GenerationParams
    ) -> Iterator[tuple[int, Completion]]:
        for index, (asked, sample) in enumerate(requests):
            prompt = asked if isinstance(asked, str) else asked[-1]["content"]  # the question
            text = self.rationale(prompt, sample)
            yield index, Completion(text, None, len(prompt.split()), len(text.split()), "stop")
