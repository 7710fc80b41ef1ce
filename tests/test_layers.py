"""The package's layers and acyclic modules are checked by import-linter, and the check bites:
a copy of the package with one upward import, or one cycle between sibling modules, fails it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(package_parent: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        capture_output=True, text=True, env=env, cwd=package_parent, timeout=300,
    )


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    parent = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "goldpan", parent / "goldpan",
                    ignore=shutil.ignore_patterns("__pycache__"))
    path = parent / "goldpan" / module
    path.write_text(path.read_text() + f"\n{line}\n")
    return parent


@pytest.fixture(scope="module", autouse=True)
def _linter() -> None:
    if not LINT.exists():
        pytest.fail("lint-imports is missing: install the dev extra (make test does)")


def test_the_package_keeps_its_layers_and_has_no_cycles() -> None:
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    copy = _copy_with(tmp_path, "data/records.py", "import goldpan.report  # noqa")
    result = _lint(copy)
    assert result.returncode != 0
    assert "goldpan.data is not allowed to import goldpan.report" in result.stdout


def test_a_cycle_between_sibling_modules_breaks_the_contract(tmp_path: Path) -> None:
    copy = _copy_with(tmp_path, "engine/rundir.py", "import goldpan.engine.runner  # noqa")
    result = _lint(copy)
    assert result.returncode != 0
    assert "No import cycles between the modules of any package BROKEN" in result.stdout


def test_no_function_of_the_methods_is_longer_than_60_lines() -> None:
    """A method's module holds its math and its phase list; bookkeeping lives in the training
    core, so no function in distill/, synth/ or train/ grows past 60 lines."""
    import ast

    long = []
    for package in ("distill", "synth", "train"):
        for path in sorted((ROOT / "src" / "goldpan" / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > 60:
                        long.append(f"{path.relative_to(ROOT)}:{node.name} ({lines} lines)")
    assert long == []


def test_every_type_ignore_names_its_error_and_says_why() -> None:
    """mypy runs in make test with zero errors; what it is told to ignore is named and
    explained on the line (``# type: ignore[code]  # why``)."""
    import re

    explained = re.compile(r"# type: ignore\[[\w\-, ]+\]\s+#\s*\S")
    bare = [f"{path.relative_to(ROOT)}:{number}"
            for path in sorted((ROOT / "src" / "goldpan").rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if "# type: ignore" in line and not explained.search(line)]
    assert bare == []
