"""Self-Instruct's instruction filters (Wang et al. 2023; bootstrap_instructions.py of the
original code), as reject reasons."""

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
