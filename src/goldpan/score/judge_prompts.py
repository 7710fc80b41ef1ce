"""Judge prompts and how their answers become scores.

Built-ins (``src/goldpan/resources/judge/*.jinja``):
- ``fineweb_edu``: FineWeb-Edu's additive 0-5 educational rubric, the prompt of
  HuggingFaceFW/fineweb-edu-classifier (``utils/prompt.txt``) word for word; the answer ends
  with "Educational score: N".
- ``ask_llm``: Ask-LLM (Sachdeva et al. 2024, "How to Train Data-Efficient LLMs", the prompt on
  page 4); the score is P("yes") at the first answer position, summed over the ``yes_tokens``
  among the most likely tokens, as nano-askllm does with the softmax over the vocabulary.
- ``rating``: a 1-10 quality rating ("Rating: N"), in the spirit of the GPT-4 ratings the
  reverse-modeling paper reports for its selections (the paper does not print its prompt, so
  this wording is ours).

A custom template is a Jinja file; it sees ``text`` (cut to ``max_chars``) and every field of
the record by name (``source``, ``title``, ...). Templates render in Jinja's sandbox.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from goldpan.errors import GoldpanError
from goldpan.llm.params import Completion


@dataclass(frozen=True)
class Rubric:
    """How a template's answer is scored: a pattern whose first group is the number (the last
    match counts: a justification may quote numbers first), or P(yes)."""

    kind: str  # "pattern" | "p_yes"
    pattern: str | None = None
    low: float = -math.inf
    high: float = math.inf
    max_new_tokens: int = 256


BUILTINS: dict[str, Rubric] = {
    "fineweb_edu": Rubric("pattern", r"Educational score:\s*\**\s*(\d+(?:\.\d+)?)", 0, 5, 256),
    "ask_llm": Rubric("p_yes", max_new_tokens=1),
    "rating": Rubric("pattern", r"Rating:\s*\**\s*(\d+(?:\.\d+)?)", 1, 10, 128),
}

# The JSON answer asked for when the server supports structured output.
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string"}, "score": {"type": "number"}},
    "required": ["reason", "score"],
    "additionalProperties": False,
}


def template_source(name_or_path: str) -> str:
    if name_or_path in BUILTINS:
        folder = resources.files("goldpan.resources") / "judge"
        return (folder / f"{name_or_path}.jinja").read_text(encoding="utf-8")
    path = Path(name_or_path)
    if not path.is_file():
        raise GoldpanError(
            f"llm_judge: template {name_or_path!r} is neither a built-in "
            f"({', '.join(BUILTINS)}) nor a file"
        )
    return path.read_text(encoding="utf-8")


@lru_cache(maxsize=8)
def compiled(name_or_path: str) -> Any:
    from jinja2 import StrictUndefined, TemplateSyntaxError
    from jinja2.sandbox import SandboxedEnvironment

    environment = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False)
    try:
        return environment.from_string(template_source(name_or_path))
    except TemplateSyntaxError as error:
        raise GoldpanError(f"llm_judge: template {name_or_path!r}: {error}") from None


def render(name_or_path: str, record: dict[str, Any], max_chars: int) -> str:
    from jinja2 import UndefinedError

    fields = {k: v for k, v in record.items() if isinstance(k, str) and k.isidentifier()}
    fields["text"] = (record.get("text") or "")[:max_chars]
    try:
        return compiled(name_or_path).render(**fields).strip()
    except UndefinedError as error:
        raise GoldpanError(f"llm_judge: template {name_or_path!r}: {error.message}") from None


def pattern_score(text: str, rubric: Rubric) -> float | None:
    """The number the answer concludes with, or None when it has none in range."""
    assert rubric.pattern is not None
    matches = re.findall(rubric.pattern, text)
    if not matches:
        return None
    value = float(matches[-1])
    return value if rubric.low <= value <= rubric.high else None


def json_score(text: str, rubric: Rubric) -> float | None:
    """The ``score`` of a JSON answer (structured output), None when it is not one."""
    try:
        payload = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return None
    value = payload.get("score") if isinstance(payload, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value) if rubric.low <= value <= rubric.high else None


def yes_probability(completion: Completion, yes_tokens: tuple[str, ...]) -> float | None:
    """P(yes) at the first answer position: the probabilities of the alternatives that are
    a yes token (surrounding spaces ignored), added. None when no alternatives came back."""
    if not completion.top_logprobs:
        return None
    first = completion.top_logprobs[0]
    wanted = set(yes_tokens)
    return float(sum(math.exp(lp) for token, lp in first.items() if token.strip() in wanted))


def score_answer(
    completion: Completion, rubric: Rubric, yes_tokens: tuple[str, ...], structured: bool
) -> float | None:
    if rubric.kind == "p_yes":
        return yes_probability(completion, yes_tokens)
    if structured:
        found = json_score(completion.text, rubric)
        if found is not None:
            return found
    return pattern_score(completion.text, rubric)
