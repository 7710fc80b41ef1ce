"""Small problem and rationale files for distillation runs that ask no teacher."""

from __future__ import annotations

import json
from pathlib import Path

PROBLEMS = [{"id": "a", "question": "What is 2 + 3?", "answer": "5"},
            {"id": "b", "question": "What is 4 + 4?", "answer": "8"}]


def rationale_files(folder: Path, problems: list[dict] = PROBLEMS) -> tuple[Path, Path]:
    """(rationales, test problems): four rationales per question, right on even samples and
    wrong (42) on odd ones; one held-out problem."""
    rationales = folder / "rationales.jsonl"
    rationales.write_text("".join(
        json.dumps({**p, "rationale": f"The answer is {p['answer'] if k % 2 == 0 else 42}."})
        + "\n" for p in problems for k in range(4)
    ))
    test = folder / "test.jsonl"
    test.write_text(json.dumps({"question": "What is 1 + 6?", "answer": "7"}) + "\n")
    return rationales, test
