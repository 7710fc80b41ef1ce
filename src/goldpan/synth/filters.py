"""Instruction filters, as reject reasons: Self-Instruct's (Wang et al. 2023;
bootstrap_instructions.py of the original code) and Montessori-Instruct's reference code's
(src/utils.py ``post_process``), which measures characters instead of words."""

from __future__ import annotations

import re
import string

# The original's keyword blacklist (bootstrap_instructions.py, post_process_gpt3_response).
BLACKLIST = (
    "image", "images", "graph", "graphs", "picture", "pictures",
    "file", "files", "map", "maps", "draw", "plot", "go to",
)  # fmt: skip
_BLACKLIST = re.compile(r"\b(" + "|".join(re.escape(w) for w in BLACKLIST) + r")\b", re.I)


def instruction_problem(instruction: str, min_words: int = 4, max_words: int = 150) -> str | None:
    """Why the original's filters reject an instruction, or None when it passes."""
    words = len(instruction.split())
    if words < min_words:
        return "too_short"
    if words > max_words:
        return "too_long"
    if _BLACKLIST.search(instruction):
        return "unsuitable_keyword"
    if instruction.startswith("Write a program"):
        return "write_a_program"
    if instruction[0] in string.punctuation:
        return "starts_with_punctuation"
    if not instruction[0].isascii():
        return "starts_non_ascii"
    return None


_INPUT_TAGS = re.compile(r"<input>|\s*<input>\s*|\s*</input>\s*|</input>")


def reference_cleaned(raw: str) -> str:
    """post_process's normal form: whitespace collapsed, then ``str.capitalize`` (which also
    lowercases every later letter: "Explain NASA" becomes "Explain nasa", as in the reference)."""
    return re.sub(r"\s+", " ", raw).strip().capitalize()


def reference_problem(instruction: str) -> str | None:
    """Why post_process rejects a cleaned instruction (6 to 400 characters, the keyword list,
    no leading punctuation or non-ASCII character), or None when it passes."""
    if not instruction:
        return "empty"
    if len(instruction) <= 5:
        return "too_short"
    if len(instruction) > 400:
        return "too_long"
    if _BLACKLIST.search(instruction):
        return "unsuitable_keyword"
    if instruction[0] in string.punctuation:
        return "starts_with_punctuation"
    if not instruction[0].isascii():
        return "starts_non_ascii"
    return None


def without_input_tags(instruction: str) -> str:
    """post_process's last step: ``<input>`` and ``</input>`` removed, the rest kept."""
    return _INPUT_TAGS.sub("", instruction)
