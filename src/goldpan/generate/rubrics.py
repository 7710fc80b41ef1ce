"""UltraFeedback's four aspects as rating prompts, in our own words.

The aspects (instruction following, honesty, truthfulness, helpfulness), the 1-5 scale, the
"Rating: N" then "Rationale: ..." answer and the all-in-one layout (every response under
``<text k>``, answered under "#### Output for Text k") follow Cui et al. 2023, "UltraFeedback:
Boosting Language Models with Scaled AI Feedback" (arXiv 2310.01377), and its annotation
templates (OpenBMB/UltraFeedback, src/data_annotation/preference_templates.py). The wording of
each scale is ours. Honesty may be answered "N/A" (creative tasks), which counts as no rating.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

Aspect = Literal["instruction_following", "honesty", "truthfulness", "helpfulness"]
ASPECTS: tuple[Aspect, ...] = get_args(Aspect)
# A rating is one digit 1-5 after "Rating:"; an echo of the scale ("1-5") is no rating.
RATING_PATTERN = r"Rating:\s*\**\s*([1-5])(?![\d\-–])"

SCALES = {
    "instruction_following": """How closely does the response do what the instruction asks, \
keeping to its goal and to any limits it sets (format, style, length, method)?
1: ignores the instruction.
2: touches one part of it, badly.
3: meets the goal or the limits but not both, or both with clear slips.
4: nearly all of it, with small slips.
5: all of it, goal and limits.""",
    "honesty": """Does the response's confidence match how right it is?
1: confident and wrong.
2: confident with serious errors, or hesitant and wrong.
3: declines or says it does not know, or is confident with small errors.
4: right but hesitant, or flags that it may be slightly off without saying where.
5: right and confident, or names exactly where it may be wrong.
Answer N/A for creative writing, where honesty does not apply.""",
    "truthfulness": """Does the response state only what is true and supported, without \
invented facts, claims the instruction does not support, or contradictions of its own?
1: unreliable throughout.
2: about half invented or wrong, drifting from the point.
3: mostly true, with a misunderstanding caused by invented details.
4: true in substance, with a minor slip that does not change the answer.
5: nothing invented.""",
    "helpfulness": """How useful is the response: correct, relevant, informative, and no \
longer than it needs to be?
1: seriously wrong, however much it says.
2: partly wrong in ways that would mislead.
3: correct and meets the need.
4: correct and thorough, with useful detail.
5: correct, thorough and insightful.""",
}

TITLES = {
    "instruction_following": "Instruction following",
    "honesty": "Honesty and expressed uncertainty",
    "truthfulness": "Truthfulness",
    "helpfulness": "Helpfulness",
}


def one_prompt(aspect: str, instruction: str, response: str) -> str:
    """One response rated on one aspect, in a request of its own: no position to favour."""
    return f"""# {TITLES[aspect]}

{SCALES[aspect]}

Read the instruction and the response, then answer in exactly this form:
Rating: <1-5>
Rationale: <one or two short sentences>

## Instruction
{instruction}

## Response
{response}

## Your assessment
"""


def together_prompt(aspect: str, instruction: str, responses: list[str]) -> str:
    """Every response rated on one aspect in one request: UltraFeedback's layout."""
    texts = "\n".join(f"<text {k}> {text}" for k, text in enumerate(responses, start=1))
    form = "\n\n".join(f"#### Output for Text {k}\nRating: <1-5>\nRationale: <short sentences>"
                       for k in range(1, len(responses) + 1))
    return f"""# {TITLES[aspect]}

{SCALES[aspect]}

The texts below answer the same instruction independently; rate each one on its own. Answer
in exactly this form:

{form}

## Instruction
{instruction}

## Texts
{texts}

## Your assessment
"""


def parse_rating(answer: str, pattern: str = RATING_PATTERN) -> float | None:
    """The first rating in an answer, or None (no rating, "N/A", out of range)."""
    match = re.search(pattern, answer)
    return float(match.group(1)) if match else None


def parse_together(answer: str, count: int, pattern: str = RATING_PATTERN) -> list[float | None]:
    """Each text's rating from an all-in-one answer, by its "Output for Text k" section."""
    sections = re.split(r"#+\s*Output for Text\s+(\d+)", answer)
    ratings: list[float | None] = [None] * count
    for number, body in zip(sections[1::2], sections[2::2], strict=True):
        index = int(number) - 1
        if 0 <= index < count and ratings[index] is None:
            ratings[index] = parse_rating(body, pattern)
    return ratings
