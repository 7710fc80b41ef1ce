"""Teacher rationales a user already has: read, graded and split into D_pos and D_neg without
asking any model.

goldpan's format is one JSON object per rationale: ``id`` (the question's), ``question``,
``answer`` (the gold final answer) and ``rationale``; ``solution`` (a worked gold solution)
goes with the problem, other fields are left out of D_pos and D_neg. The authors of "Turning
Dust into Gold" released their GPT-4 and GPT-3.5 MATH rationales (the TDG repository's
``GPT4-MATH/train_gpt4_SUBJECT_8/N.jsonl``), one question a line, each holding ``question``,
``answer`` (the gold solution, its final answer in ``\\boxed{}``) and ``generated_answer``
(the teacher's rationales); ``tdg_rows`` converts them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from goldpan.data.json_lines import json_object, read_json_lines
from goldpan.data.records import id_as_text
from goldpan.distill.answers import Grader, extract_answer, last_boxed
from goldpan.distill.rationales import Collected
from goldpan.distill.records import Problem, QuestionCounts, Rationale
from goldpan.errors import GoldpanError

REQUIRED = ("id", "question", "answer", "rationale")


def _rationale_row(row: Any, number: int) -> dict[str, Any]:
    row = json_object(row, number)
    missing = [key for key in REQUIRED if row.get(key) in (None, "")]
    if missing:
        raise KeyError(missing[0])
    return {**row, "id": id_as_text(row["id"]), "answer": str(row["answer"]),
            "question": str(row["question"]), "rationale": str(row["rationale"])}


def read_rationales(path: str | Path) -> list[dict[str, Any]]:
    """Rationales in goldpan's format; a line without id, question, answer or rationale is one
    clear error naming it."""
    return read_json_lines(
        path, "rationales", _rationale_row, "an object with id, question, answer and rationale"
    )


def grade_rationales(
    rows: Iterable[dict[str, Any]], grader: Grader = "lenient"
) -> tuple[list[Problem], Collected]:
    """The training problems (one per id, in file order) and D_pos/D_neg with counts; with
    ``grader="tdg"`` split as TDG's dataset.py splits the release (against the solution)."""
    problems: dict[str, Problem] = {}
    collected = Collected([], [], [], grader)
    counts: dict[str, list[int]] = {}
    for row in rows:
        key = row["id"]
        problem = problems.setdefault(key, Problem(key, row["question"], row["answer"],
                                                   row.get("solution") or None))
        if problem.answer != row["answer"] or problem.question != row["question"]:
            raise GoldpanError(f"rationales: id {key!r} has two different questions or answers")
        tally = counts.setdefault(key, [0, 0])
        right = collected.add(Rationale(key, problem.question, problem.answer, row["rationale"],
                                        sum(tally), extract_answer(row["rationale"])),
                              problem.solution)
        tally[0 if right else 1] += 1
    collected.per_question = [QuestionCounts(key, right, wrong)
                              for key, (right, wrong) in counts.items()]
    return list(problems.values()), collected


def tdg_rows(
    paths: Iterable[str | Path], skipped: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """goldpan rationale rows from the TDG release's files (or folders of them), which hold one
    question a line (ten a file): id = ``FOLDER/FILE-STEM:LINE`` (subject folder, file, line),
    the gold answer from the solution's last ``\\boxed{}``, the solution kept, one row per
    generated rationale. A question whose solution boxes no answer (MATH has a few: ``\\boxed{}``)
    cannot be graded: it is left out and named in ``skipped``, so one flawed question does not
    stop the import of thousands."""
    files: list[Path] = []
    for path in map(Path, paths):
        files += sorted(path.rglob("*.jsonl"), key=_natural) if path.is_dir() else [path]
    for file in files:
        items = read_json_lines(file, "TDG release file", _tdg_item, "question, answer and "
                                "generated_answer (the TDG release's format)")
        for number, question, solution, generated in items:
            gold = last_boxed(solution)
            if not gold:
                if skipped is not None:
                    skipped.append(f"{file}:{number}")
                continue
            for sample, rationale in enumerate(generated):
                yield {"id": f"{file.parent.name}/{file.stem}:{number}", "question": question,
                       "answer": gold, "rationale": rationale, "solution": solution,
                       "sample": sample}


def _tdg_item(item: Any, line: int) -> tuple[int, str, str, list[str]]:
    """One question of the release: its line, question, solution and generated rationales."""
    return line, item["question"], item["answer"], list(item["generated_answer"])


def _natural(path: Path) -> tuple:
    return (str(path.parent), int(path.stem) if path.stem.isdigit() else 0, path.stem)
