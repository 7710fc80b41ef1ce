"""Answer checking on the authors' released teacher rationales: goldpan's grader against the
reference code's two: the split its training data loaders make into positive and negative
rationales (TDG ``code/dataset.py`` and ``code/RM/data_pro.py``: the last ``\\boxed{}`` only,
``remove_boxed(last_boxed_only_string(...))`` then ``is_equiv``) and the extractor its evaluation
uses (``code/RM/Test.py``'s ``extract_math_answer``: "The answer is ...", else the last boxed,
else the last number; then ``is_equiv``).

Both graders see every GPT-4 (or GPT-3.5) rationale of the release, converted by goldpan's own
``tdg_rows`` (gold answer: the solution's last ``\\boxed{}``). The reference functions are read
from the TDG checkout at run time (only the pure string functions of ``code/dataset.py``, so
neither torch nor its imports are needed), not copied here. Printed: how often the two agree,
the rationales each calls correct that the other does not, with examples, and the time of each.

    python benchmarks/answer_checking.py PATH/TO/TDG [--teacher GPT4-MATH] [--examples 8]

``fetch github:Yiwei98/TDG`` brings the checkout; ``git worktree`` or ``git archive`` gives a
folder to point at.
"""

from __future__ import annotations

import argparse
import ast
import time
from collections import Counter
from pathlib import Path
from typing import Any

from goldpan.distill.answers import extract_answer, is_correct
from goldpan.distill.imported import tdg_rows

MATH_FUNCTIONS = (
    "_fix_fracs", "_fix_a_slash_b", "_remove_right_units", "_fix_sqrt", "_strip_string",
    "is_equiv", "last_boxed_only_string", "remove_boxed",
)


def _functions(file: Path, names: tuple[str, ...], namespace: dict[str, Any]) -> None:
    """Defines the named top-level functions of a reference file in namespace (no imports run)."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    wanted = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    missing = set(names) - {n.name for n in wanted}
    if missing:
        raise SystemExit(f"{file} lacks {sorted(missing)}")
    namespace.setdefault("re", __import__("re"))
    exec(compile(ast.Module(body=wanted, type_ignores=[]), str(file), "exec"), namespace)


def reference_graders(tdg: Path) -> dict[str, Any]:
    """The reference's two gradings, built from its own source."""
    math: dict[str, Any] = {}
    _functions(tdg / "code" / "dataset.py", MATH_FUNCTIONS, math)
    evaluation = dict(math)
    _functions(tdg / "code" / "RM" / "Test.py", ("extract_math_answer",), evaluation)

    def gold(solution: str) -> Any:
        return math["remove_boxed"](math["last_boxed_only_string"](solution))

    def training_split(rationale: str, solution: str) -> bool:
        # code/dataset.py (NAT's loader): output vs label, both from the last \boxed{}.
        try:
            output = math["remove_boxed"](math["last_boxed_only_string"](rationale))
            return bool(math["is_equiv"](output, gold(solution)))
        except Exception:  # the reference's own failures count as "wrong"
            return False

    def evaluation_grade(rationale: str, solution: str) -> bool:
        # code/RM/Test.py: extract_math_answer(prediction) vs the gold's last \boxed{}.
        try:
            prediction = evaluation["extract_math_answer"](rationale)
            return bool(math["is_equiv"](prediction, gold(solution)))
        except Exception:
            return False

    return {"training split": training_split, "evaluation extractor": evaluation_grade}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tdg", type=Path, help="A checkout of github.com/Yiwei98/TDG.")
    parser.add_argument("--teacher", default="GPT4-MATH", help="GPT4-MATH or GPT3.5-turbo-MATH.")
    parser.add_argument("--examples", type=int, default=8, help="Disagreements to print.")
    args = parser.parse_args()

    rows = list(tdg_rows([args.tdg / args.teacher]))
    print(f"{args.teacher}: {len(rows)} rationales of {len({r['id'] for r in rows})} questions")
    started = time.perf_counter()
    ours = [is_correct(r["rationale"], r["answer"]) for r in rows]
    goldpan_seconds = time.perf_counter() - started
    print(f"goldpan: {sum(ours)} correct ({goldpan_seconds:.2f} s)")
    for name, reference in reference_graders(args.tdg).items():
        started = time.perf_counter()
        theirs = [reference(r["rationale"], r["solution"]) for r in rows]
        seconds = time.perf_counter() - started
        compare(name, rows, theirs, ours, args.examples)
        print(f"  time: reference {seconds:.2f} s, goldpan {goldpan_seconds:.2f} s "
              f"(goldpan / reference {goldpan_seconds / max(seconds, 1e-9):.2f})")


def compare(name: str, rows: list[dict[str, Any]], theirs: list[bool], ours: list[bool],
            examples: int) -> None:
    tally = Counter(zip(theirs, ours, strict=True))
    right, total = sum(theirs), len(rows)
    print(f"\nreference, {name}: {right} correct; agrees with goldpan on "
          f"{(tally[(True, True)] + tally[(False, False)]) / total:.2%}")
    print(f"  reference correct, goldpan wrong: {tally[(True, False)]} "
          f"({tally[(True, False)] / max(1, right):.2%} of the reference's correct)")
    print(f"  goldpan correct, reference wrong: {tally[(False, True)]} "
          f"({tally[(False, True)] / max(1, total - right):.2%} of the reference's wrong)")
    for label, want in (("reference correct, goldpan wrong", (True, False)),
                        ("goldpan correct, reference wrong", (False, True))):
        shown = [r for r, t, o in zip(rows, theirs, ours, strict=True) if (t, o) == want]
        for row in shown[:examples]:
            print(f"  [{label}] {row['id']}: gold {row['answer']!r}, goldpan read "
                  f"{extract_answer(row['rationale'])!r}, tail {row['rationale'][-70:]!r}")

if __name__ == "__main__":
    main()
