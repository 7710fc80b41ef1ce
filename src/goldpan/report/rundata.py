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

from goldpan.data.schema import ID, REJECT_REASON, REJECT_STEP, SOURCE, TEXT
from goldpan.engine.rundir import RunDir, read_json
from goldpan.errors import GoldpanError
from goldpan.util.storage import is_local, parquet_schema, to_path

STATUS = "status"
NUMERIC_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE",
                 "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "DECIMAL")


def quote(name: str) -> str:
    """A column name as a DuckDB identifier, whatever characters it holds."""
    return '"' + name.replace('"', '""') + '"'


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _parquet(paths: list[Path]) -> str:
    return f"read_parquet({_sql_list(paths)}, union_by_name = true)"


INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")


def common_type(kinds: list[str]) -> str:
    """One DuckDB type for a column whose parts disagree: the same type when they agree,
    BIGINT or DOUBLE for numbers, text otherwise (every value can be cast to text)."""
    distinct = set(kinds)
    if len(distinct) == 1:
        return kinds[0]
    bases = {kind.split("(")[0] for kind in distinct}
    if bases <= set(INTEGER_TYPES):
        return "BIGINT"
    if bases <= set(NUMERIC_TYPES):
        return "DOUBLE"
    return "VARCHAR"


def fetch_dicts(cursor: Any) -> list[dict[str, Any]]:
    """The rows of an executed query, each as a dict by column name."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def quiet(connection: Any) -> Any:
    """No progress bar: DuckDB draws one on stdout for long queries, which would land in the
    middle of a run's summary or the inspector's log."""
    connection.execute("SET enable_progress_bar = false")
    return connection


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

        self.root = to_path(root)
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
        if not is_local(self.root):  # DuckDB reads the bucket through the run's own filesystem
            self.connection.register_filesystem(self.root.fs)
        self.kept_files = self.run.kept_parts()
        self.reject_files = self.run.reject_parts()
        missing = [p for p in self.kept_files if not p.exists()]
        if missing:
            raise GoldpanError(
                f"{self.root}: {len(missing)} part file(s) of the last stage are missing (e.g. "
                f"{missing[0].name}); rerun the recipe to rebuild them"
            )
        self._create_views()
        self.connection.execute(
            f"CREATE VIEW records AS SELECT 'kept' AS {STATUS}, * FROM kept "
            f"UNION ALL BY NAME SELECT 'rejected' AS {STATUS}, * FROM rejected"
        )
        self.columns = self.column_types("records")

    def _create_views(self) -> None:
        """``kept`` and ``rejected`` with one column layout between them: every column of either
        side (``reject_*`` ones on the rejected side only), null where a side or a part lacks it,
        of one type wherever it appears. A column a late step adds is missing from the records
        rejected before it, and a column can change type between parts (JSON text in one, a
        number in another), so each group of parts that share a schema is read on its own and
        cast to the common type: numbers that differ widen to DOUBLE, anything else to text."""
        kept_groups = self._schema_groups(self.kept_files)
        rejected_groups = self._schema_groups(self.reject_files)
        seen: dict[str, list[str]] = {}
        for _, types in kept_groups + rejected_groups:
            for column, kind in types.items():
                seen.setdefault(column, []).append(kind)
        for column in (ID, TEXT, SOURCE, REJECT_STEP, REJECT_REASON):
            seen.setdefault(column, ["VARCHAR"])
        unified = {column: common_type(kinds) for column, kinds in seen.items()}
        kept_columns = {c: t for c, t in unified.items() if not c.startswith("reject_")}
        self._create_view("kept", kept_groups, kept_columns)
        self._create_view("rejected", rejected_groups, unified)

    def _schema_groups(self, files: list[Path]) -> list[tuple[list[Path], dict[str, str]]]:
        """The files grouped by Parquet schema, each group with its columns' DuckDB types."""

        groups: dict[str, list[Path]] = {}
        for path in files:
            groups.setdefault(str(parquet_schema(path).remove_metadata()), []).append(path)
        described = []
        for members in groups.values():
            rows = self.connection.execute(f"DESCRIBE SELECT * FROM {_parquet(members)}").fetchall()
            described.append((members, {row[0]: str(row[1]) for row in rows}))
        return described

    def _create_view(
        self,
        name: str,
        groups: list[tuple[list[Path], dict[str, str]]],
        columns: dict[str, str],
    ) -> None:
        selects = []
        for members, types in groups:
            listed = ", ".join(
                f"CAST({quote(c)} AS {t}) AS {quote(c)}" if c in types
                else f"NULL::{t} AS {quote(c)}"
                for c, t in columns.items()
            )
            selects.append(f"SELECT {listed} FROM {_parquet(members)}")
        if not selects:
            # No files (zero kept, or nothing rejected): the columns and no rows, so every
            # query still runs and simply finds nothing.
            listed = ", ".join(f"NULL::{t} AS {quote(c)}" for c, t in columns.items())
            selects.append(f"SELECT {listed} WHERE false")
        self.connection.execute(f"CREATE VIEW {name} AS " + " UNION ALL ".join(selects))

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
