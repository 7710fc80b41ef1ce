"""A worked solver for arithmetic expressions that can be wrong the way people are: with a wrong
method, not only a wrong sum. The simulated teacher (``simulated.py``) writes its rationales
with it.

An expression (reasoning-gym's ``chain_sum`` and ``basic_arithmetic``: numbers, + - * /,
parentheses, unary minus) is parsed into terms and worked one operation per line. A wrong
solution follows one mistaken method, applied consistently wherever it applies:

- ``distribute_minus``: a minus taken to cover the rest of the chain, a - b + c worked as
  a - (b + c) and a - b - c as a - (b - c) (a misconception of subtraction chains);
- ``left_to_right``: the operations worked in reading order, ignoring that * and / bind
  tighter (a wrong rule of precedence);
- ``skip_term``: one term of a chain left out (a skipped case);
- ``misread``: one number of the question copied wrong (two digits swapped, or its sign lost);
- ``slip``: one step's result off by a little, the rest worked from it (a careless sum).

A correct solution varies in wording (several openings, step phrasings and closings) and, for
a chain of additions and subtractions, in method (term by term, or the positive and negative
terms summed apart), so that a student's own correct samples can differ from the teacher's.
Every solution ends "The answer is X.", as graders read it.
"""

from __future__ import annotations

import itertools
import random
import re
from dataclasses import dataclass
from fractions import Fraction

GROUPED_SHARE = 0.3  # right solutions of a +/- chain that sum its positives and negatives apart
ERRORS = ("distribute_minus", "left_to_right", "skip_term", "misread", "slip")
_TOKEN = re.compile(r"\s*(\d+(?:\.\d+)?|[-+*/()])")
_WORDS = {"+": "plus", "-": "minus", "*": "times", "/": "divided by"}


@dataclass
class Number:
    value: Fraction
    text: str  # as the question writes it


@dataclass
class Negated:
    inner: Node


@dataclass
class Chain:
    """first (op term)*: every op of one chain binds equally and works left to right."""

    first: Node
    rest: list[tuple[str, Node]]


Node = Number | Negated | Chain


def tokens(expression: str) -> list[str]:
    found, position = [], 0
    expression = expression.strip()
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise ValueError(f"not arithmetic: {expression!r}")
        found.append(match.group(1))
        position = match.end()
    return found


class _Parser:
    """Recursive descent; with ``flat`` every binary operator binds equally (reading order)."""

    def __init__(self, expression: str, flat: bool = False) -> None:
        self.items, self.at, self.flat = tokens(expression), 0, flat

    def parse(self) -> Node:
        node = self.chain(("+", "-", "*", "/") if self.flat else ("+", "-"))
        if self.at != len(self.items):
            raise ValueError("trailing input")
        return node

    def peek(self) -> str | None:
        return self.items[self.at] if self.at < len(self.items) else None

    def take(self) -> str:
        item = self.peek()
        if item is None:
            raise ValueError("unexpected end")
        self.at += 1
        return item

    def chain(self, ops: tuple[str, ...]) -> Node:
        first = self.operand(ops)
        rest = []
        while self.peek() in ops:
            op = self.take()
            rest.append((op, self.operand(ops)))
        return Chain(first, rest) if rest else first

    def operand(self, ops: tuple[str, ...]) -> Node:
        if ops == ("+", "-"):
            return self.chain(("*", "/"))
        return self.factor()

    def factor(self) -> Node:
        item = self.take()
        if item == "-":
            inner = self.factor()
            if isinstance(inner, Number):
                return Number(-inner.value, "-" + inner.text)
            return Negated(inner)
        if item == "+":
            return self.factor()
        if item == "(":
            node = self.chain(("+", "-", "*", "/") if self.flat else ("+", "-"))
            if self.take() != ")":
                raise ValueError("unbalanced parentheses")
            return node
        if item in "+-*/)":
            raise ValueError(f"unexpected {item!r}")
        return Number(Fraction(item), item)


def parse(expression: str, flat: bool = False) -> Node:
    return _Parser(expression, flat).parse()


def text(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.6g}"


def _apply(op: str, left: Fraction, right: Fraction) -> Fraction:
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if right == 0:
        raise ZeroDivisionError
    return left / right


def evaluate(node: Node) -> Fraction:
    if isinstance(node, Number):
        return node.value
    if isinstance(node, Negated):
        return -evaluate(node.inner)
    value = evaluate(node.first)
    for op, term in node.rest:
        value = _apply(op, value, evaluate(term))
    return value


def operations(node: Node) -> int:
    if isinstance(node, Number):
        return 0
    if isinstance(node, Negated):
        return operations(node.inner)
    return len(node.rest) + operations(node.first) + sum(operations(t) for _, t in node.rest)


def numbers(node: Node) -> list[Number]:
    if isinstance(node, Number):
        return [node]
    if isinstance(node, Negated):
        return numbers(node.inner)
    return [*numbers(node.first), *(n for _, term in node.rest for n in numbers(term))]


def difficulty(expression: str) -> float:
    """How hard a question is to work: its operations, plus one for each number of three or
    more digits (long additions and products are where solvers slip)."""
    tree = parse(expression)
    long_numbers = sum(len(n.text.lstrip("-").split(".")[0]) >= 3 for n in numbers(tree))
    return float(operations(tree) + long_numbers)


# -- how a rationale is worded ------------------------------------------------------------------

_OPENINGS = ("Let's compute it step by step.", "We work it out one operation at a time.",
             "Step by step:", "Let me solve this carefully.", "")
_CLOSINGS = ("", "So the expression equals {v}.", "That gives {v} in total.")


class Wording:
    """One rationale's phrasing, drawn once: an opening, a step style and a closing."""

    def __init__(self, rng: random.Random) -> None:
        self.opening = rng.choice(_OPENINGS)
        self.style = rng.randrange(4)
        self.closing = rng.choice(_CLOSINGS)

    def step(self, number: int, left: Fraction, op: str, right: Fraction,
             result: Fraction) -> str:
        a, b, c = text(left), text(right), text(result)
        if self.style == 0:
            return f"{a} {op} {b} = {c}"
        if self.style == 1:
            return f"Step {number}: {a} {op} {b} = {c}."
        if self.style == 2:
            return f"{a} {_WORDS[op]} {b} is {c}."
        lead = "First" if number == 1 else "Then"
        return f"{lead}, {a} {op} {b} = {c}."

    def finish(self, lines: list[str], value: Fraction) -> str:
        body = [self.opening] if self.opening else []
        body += lines
        if self.closing:
            body.append(self.closing.format(v=text(value)))
        body.append(f"The answer is {text(value)}.")
        return "\n".join(body)


# -- working an expression -------------------------------------------------------------------


class _Worker:
    """Works a tree one operation per line; ``slip_at`` puts a slip in that step's result."""

    def __init__(self, wording: Wording, slip_at: int | None = None,
                 slip: Fraction = Fraction(0)) -> None:
        self.wording, self.slip_at, self.slip = wording, slip_at, slip
        self.lines: list[str] = []

    def combine(self, op: str, left: Fraction, right: Fraction) -> Fraction:
        result = _apply(op, left, right)
        if len(self.lines) == self.slip_at:
            result += self.slip
        self.lines.append(self.wording.step(len(self.lines) + 1, left, op, right, result))
        return result

    def work(self, node: Node) -> Fraction:
        if isinstance(node, Number):
            return node.value
        if isinstance(node, Negated):
            return -self.work(node.inner)
        value = self.work(node.first)
        for op, term in node.rest:
            value = self.combine(op, value, self.work(term))
        return value

    def distribute_minus(self, node: Node) -> Fraction:
        """a - b + c - d as a - (b + c - d): everything after the first minus worked first and
        subtracted once, as if the minus covered the rest of the chain."""
        if not isinstance(node, Chain):
            return self.work(node)
        ops = [op for op, _ in node.rest]
        if "-" not in ops or ops[0] in "*/":
            return self.work(node)
        cut = ops.index("-")
        value = self.work(node.first)
        for op, term in node.rest[:cut]:
            value = self.combine(op, value, self.work(term))
        subtracted = self.work(Chain(node.rest[cut][1], node.rest[cut + 1 :]))
        return self.combine("-", value, subtracted)

    def grouped(self, node: Chain) -> Fraction:
        """A correct alternative for +/- chains of numbers: positives and negatives summed
        apart, then one subtraction."""
        signed = [(Fraction(1), node.first), *((Fraction(1 if op == "+" else -1), t)
                                                for op, t in node.rest)]
        plus = [self.work(t) for sign, t in signed if sign > 0]
        minus = [self.work(t) for sign, t in signed if sign < 0]
        total = plus[0]
        for value in plus[1:]:
            total = self.combine("+", total, value)
        if not minus:
            return total
        taken = minus[0]
        for value in minus[1:]:
            taken = self.combine("+", taken, value)
        return self.combine("-", total, taken)


def _is_plain_chain(node: Node) -> bool:
    return (isinstance(node, Chain) and all(op in "+-" for op, _ in node.rest)
            and all(isinstance(t, Number) for t in [node.first, *(t for _, t in node.rest)]))


def applicable_errors(expression: str) -> list[str]:
    """The mistaken methods that change this question's answer."""
    tree, right = parse(expression), None
    try:
        right = evaluate(tree)
    except ZeroDivisionError:
        return ["slip"]
    found = []
    for error in ERRORS:
        if error == "slip":
            found.append(error)
            continue
        try:
            value = solve(expression, error, random.Random(0))[1]
        except (ZeroDivisionError, ValueError):
            continue
        if value is not None and value != right:
            found.append(error)
    return found


def _misread(tree: Node, rng: random.Random) -> bool:
    """Copy one number wrong: two different digits swapped, else its sign lost."""
    candidates = [n for n in numbers(tree) if len(set(n.text.lstrip("-").replace(".", ""))) > 1]
    if candidates:
        number = rng.choice(candidates)
        digits = [i for i, ch in enumerate(number.text) if ch.isdigit()]
        pairs = [(i, j) for i, j in itertools.pairwise(digits)
                 if number.text[i] != number.text[j]]
        i, j = rng.choice(pairs)
        chars = list(number.text)
        chars[i], chars[j] = chars[j], chars[i]
        number.text = "".join(chars)
        number.value = Fraction(number.text)
        return True
    negative = [n for n in numbers(tree) if n.value < 0]
    if negative:
        number = rng.choice(negative)
        number.value, number.text = -number.value, number.text.lstrip("-")
        return True
    return False


def _skip_term(tree: Node, rng: random.Random) -> bool:
    chains = [node for node in _chains(tree) if node.rest]
    if not chains:
        return False
    chain = rng.choice(chains)
    del chain.rest[rng.randrange(len(chain.rest))]
    return True


def _chains(node: Node) -> list[Chain]:
    if isinstance(node, Number):
        return []
    if isinstance(node, Negated):
        return _chains(node.inner)
    return [node, *_chains(node.first), *(c for _, t in node.rest for c in _chains(t))]


def solve(expression: str, method: str | None, rng: random.Random,
          wording: Wording | None = None) -> tuple[str, Fraction | None]:
    """(rationale, its final answer) by ``method``: None for a correct solution, else one of
    ``ERRORS``. A method that cannot apply to this question returns (\"\", None)."""
    wording = wording or Wording(rng)
    tree = parse(expression, flat=method == "left_to_right")
    if method == "misread" and not _misread(tree, rng):
        return "", None
    if method == "skip_term" and not _skip_term(tree, rng):
        return "", None
    if method == "slip":
        steps = operations(tree)
        if not steps:
            return "", None
        slip = Fraction(rng.choice([-1, 1]) * rng.randint(1, 9))
        worker = _Worker(wording, rng.randrange(steps), slip)
    else:
        worker = _Worker(wording)
    if method == "distribute_minus":
        value = worker.distribute_minus(tree)
    elif (method is None and isinstance(tree, Chain) and _is_plain_chain(tree)
          and len(tree.rest) >= 2 and rng.random() < GROUPED_SHARE):
        value = worker.grouped(tree)
    else:
        value = worker.work(tree)
    return wording.finish(worker.lines, value), value
