"""A finished curation run as SQL tables: ``kept``, ``rejected`` and ``records`` (both).

The report and the inspector ask their questions through DuckDB views over the run's Parquet
files, so nothing is loaded whole: a histogram reads one column, a page of the inspector reads
fifty rows, and a run of millions of documents costs what its query costs. Parts and stages
may differ in their columns (a step adds some, the rejects of an early stage lack them);
``union_by_name`` fills the gaps with nulls.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from goldpan.data.schema import ID, REJECT_REASON, REJECT_STEP, SOURCE, TEXT
from goldpan.engine.rundir import STAGE_META, RunDir, read_json
from goldpan.errors import GoldpanError

STATUS = "status"
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE",
                 "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "DECIMAL")


def quote(name: str) -> str:
    """A column name as a DuckDB identifier, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def fetch_dicts(cursor: Any) -> list[dict[str, Any]]:
    """The rows of an executed query, each as a dict by column name."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def quiet(connection: Any) -> Any:
    """No progress bar: DuckDB draws one on stdout for long queries, which would land in the
    middle of a run's summary or the inspector's log."""
    connection.execute("SET enable_progress_bar = false")
    return connection


def kept_files(run: RunDir) -> list[Path]:
    """The last stage's parts: the kept records whatever format the output was written in."""
    recipe_path = run.root / "recipe.yaml"
    if recipe_path.exists():
        stages = (yaml.safe_load(recipe_path.read_text()) or {}).get("stages") or []
        if stages:
            folder = run.stages_dir / stages[-1]["name"]
            meta_path = folder / STAGE_META
            if meta_path.exists():
                parts = read_json(meta_path).get("parts", [])
                return [RunDir.part_path(folder, part) for part in parts]
    if run.output_dir.exists():
        return sorted(run.output_dir.rglob("*.parquet"))
    return []


def reject_files(run: RunDir) -> list[Path]:
    if not run.rejects_root.exists():
        return []
    return sorted(run.rejects_root.rglob("*.parquet"))


def is_curation_run(root: Path) -> bool:
    stats = root / "stats.json"
    if not stats.exists():
        return False
    try:
        return "stages" in read_json(stats)
    except ValueError:
        return False


class CurationRun:
    """The SQL face of one run directory. Views: ``kept`` (the output), ``rejected`` (every
    stage's rejects, with ``reject_step`` and ``reject_reason``), ``records`` (both, with a
    ``status`` column of 'kept' or 'rejected')."""

    def __init__(self, root: str | Path, threads: int | None = None) -> None:
        import duckdb

        self.root = Path(root)
        self.run = RunDir(self.root)
        if not self.root.is_dir():
            raise GoldpanError(f"{self.root}: no such run directory")
        if not is_curation_run(self.root):
            raise GoldpanError(
                f"{self.root}: not a finished `goldpan run` directory (no stats.json with stages)"
            )
        self.stats: dict[str, Any] = read_json(self.run.stats_path)
        self.connection = duckdb.connect(config={"threads": threads or os.cpu_count() or 1})
        quiet(self.connection)
        self.kept_files = kept_files(self.run)
        self.reject_files = reject_files(self.run)
        missing = [p for p in self.kept_files if not p.exists()]
        if missing:
            raise GoldpanError(
                f"{self.root}: {len(missing)} part file(s) of the last stage are missing (e.g. "
                f"{missing[0].name}); rerun the recipe to rebuild them"
            )
        self._create_view("kept", self.kept_files, with_reject_columns=False)
        self._create_view("rejected", self.reject_files, with_reject_columns=True)
        self.connection.execute(
            f"CREATE VIEW records AS SELECT 'kept' AS {STATUS}, * FROM kept "
            f"UNION ALL BY NAME SELECT 'rejected' AS {STATUS}, * FROM rejected"
        )
        self.columns = self.column_types("records")

    def _create_view(self, name: str, files: list[Path], with_reject_columns: bool) -> None:
        if files:
            source = f"read_parquet({_sql_list(files)}, union_by_name = true)"
            self.connection.execute(f"CREATE VIEW {name} AS SELECT * FROM {source}")
            return
        # No files (zero kept, or nothing rejected): an empty table with the columns every
        # record has, so every query still runs and simply finds nothing.
        columns = [ID, TEXT, SOURCE] + ([REJECT_STEP, REJECT_REASON] if with_reject_columns else [])
        listed = ", ".join(f"NULL::VARCHAR AS {quote(c)}" for c in columns)
        self.connection.execute(f"CREATE VIEW {name} AS SELECT {listed} WHERE false")

    # ------------------------------------------------------------------ schema
    def column_types(self, view: str) -> dict[str, str]:
        rows = self.connection.execute(f"DESCRIBE {view}").fetchall()
        return {row[0]: str(row[1]) for row in rows}

    def has(self, column: str) -> bool:
        return column in self.columns

    def numeric_columns(self) -> list[str]:
        return [
            name
            for name, kind in self.columns.items()
            if kind.split("(")[0] in NUMERIC_TYPES and not name.startswith("reject_")
        ]

    # ------------------------------------------------------------------ queries
    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, params or []).fetchall()

    def dicts(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        return fetch_dicts(self.connection.execute(sql, params or []))

    def scalar(self, sql: str, params: list[Any] | None = None) -> Any:
        row = self.connection.execute(sql, params or []).fetchone()
        return row[0] if row else None

    def cursor(self) -> Any:
        """A connection for another thread (the inspector serves requests concurrently)."""
        return quiet(self.connection.cursor())

    def close(self) -> None:
        self.connection.close()
