"""The inspector's questions as SQL: which records match a filter, in what order, which page.

Every user-supplied value travels as a query parameter; column names are accepted only when
the run has them, so nothing the browser sends becomes SQL text. Without a sort the records
come in file order (kept first, then the rejects stage by stage), which DuckDB streams with
LIMIT/OFFSET instead of sorting the run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from goldpan.data.schema import ID, REJECT_REASON, REJECT_STEP, SOURCE, TEXT, TOKENS
from goldpan.errors import GoldpanError
from goldpan.report.rundata import STATUS, fetch_dicts, quote

Status = Literal["all", "kept", "rejected"]
LIST_SNIPPET_CHARS = 240
MAX_PER_PAGE = 500
DEEP_OFFSET = 5_000  # from here on, pages are found by id first (see find_records)
SEARCH_COUNT_CAP = 10_000  # with a text search, "10,000+" instead of scanning every text
_TERMS = re.compile(r'"([^"]+)"|(\S+)')


def search_terms(search: str | None) -> list[str]:
    """Words of a search, each required; a "quoted phrase" counts as one term."""
    return [phrase or word for phrase, word in _TERMS.findall(search or "")]


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass
class RecordFilter:
    status: Status = "all"
    source: str | None = None
    step: str | None = None
    reason: str | None = None
    search: str | None = None
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    sort: str | None = None
    descending: bool = False
    page: int = 1
    per_page: int = 50

    def where(self, columns: dict[str, str]) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.status != "all":
            clauses.append(f"{STATUS} = ?")
            params.append(self.status)
        for column, value in ((SOURCE, self.source), (REJECT_STEP, self.step),
                              (REJECT_REASON, self.reason)):
            if value:
                if column not in columns:  # the run has no such column: nothing matches
                    return "false", []
                clauses.append(f"CAST({quote(column)} AS VARCHAR) = ?")
                params.append(value)
        for term in search_terms(self.search):
            clauses.append(f"{quote(TEXT)} ILIKE ? ESCAPE '\\'")
            params.append(_like_pattern(term))
        for column, (low, high) in self.ranges.items():
            if column not in columns:
                raise GoldpanError(f"no column {column!r} in this run")
            if low is not None:
                clauses.append(f"{quote(column)} >= ?")
                params.append(low)
            if high is not None:
                clauses.append(f"{quote(column)} <= ?")
                params.append(high)
        return (" AND ".join(clauses) or "true"), params

    def order(self, columns: dict[str, str]) -> str:
        if not self.sort:
            return ""
        if self.sort not in columns:
            raise GoldpanError(f"cannot sort by {self.sort!r}: no such column in this run")
        direction = "DESC" if self.descending else "ASC"
        return f"ORDER BY {quote(self.sort)} {direction} NULLS LAST, {quote(ID)}"

    @property
    def offset(self) -> int:
        return (max(1, self.page) - 1) * self.limit

    @property
    def limit(self) -> int:
        return max(1, min(self.per_page, MAX_PER_PAGE))


def list_columns(columns: dict[str, str], numeric: list[str], sort: str | None) -> list[str]:
    """What a list row shows: where the record went, where it came from, its numbers."""
    shown = [c for c in (STATUS, ID, SOURCE, REJECT_STEP, REJECT_REASON) if c in columns]
    shown += numeric[:5]
    if sort and sort in columns and sort not in shown and sort != TEXT:
        shown.append(sort)
    return shown


@dataclass
class Page:
    total: int  # records that match; a lower bound when not exact
    exact: bool
    rows: list[dict[str, Any]]


def count_records(cursor: Any, where: str, params: list[Any], cap: int | None = None) -> int:
    """How many records match, counting no further than ``cap`` (when given) so that a scan
    can stop early."""
    if cap is None:
        return cursor.execute(f"SELECT count(*) FROM records WHERE {where}", params).fetchone()[0]
    sql = f"SELECT count(*) FROM (SELECT 1 FROM records WHERE {where} LIMIT {cap})"
    # Order does not matter to a count; kept, it makes the LIMIT run on one thread (a search
    # with fewer matches than the cap then takes twice as long as an exact count on two cores).
    cursor.execute("SET preserve_insertion_order = false")
    try:
        return cursor.execute(sql, params).fetchone()[0]
    finally:
        cursor.execute("SET preserve_insertion_order = true")


def find_records(
    cursor: Any, record_filter: RecordFilter, columns: dict[str, str], shown: list[str]
) -> Page:
    """One page of rows (the shown columns, the start of the text and its length: a 50 MB
    document costs the list 240 characters) and how many records match. Filters on columns
    are counted exactly; with a text search the count stops at SEARCH_COUNT_CAP, since an
    exact count would read every text of the run even when the first page is found at once."""
    where, params = record_filter.where(columns)
    searching = bool(search_terms(record_filter.search))
    cap = SEARCH_COUNT_CAP + 1 if searching else None
    total = count_records(cursor, where, params, cap)
    exact = cap is None or total < cap
    selected = ", ".join(quote(c) for c in shown)
    text, key, order = quote(TEXT), quote(ID), record_filter.order(columns)
    page = f"LIMIT {record_filter.limit} OFFSET {record_filter.offset}"
    listed = (
        f"SELECT {selected}, left({text}, {LIST_SNIPPET_CHARS}) AS __snippet, "
        f"length({text}) AS __chars FROM records"
    )
    if record_filter.sort or record_filter.offset >= DEEP_OFFSET:
        # Sorted or deep pages in two steps: the page's ids from the narrow columns, then the
        # text of those records alone; otherwise every skipped or sorted record's text is read
        # (on a million documents: a middle page 1.8 s -> 0.5 s, sorted 0.8 s -> 0.6 s).
        sql = (
            f"WITH page AS (SELECT {key} FROM records WHERE {where} {order} {page}) "
            f"{listed} WHERE {key} IN (SELECT {key} FROM page) {order}"
        )
    else:  # early pages in file order: the scan stops after the page, one step is cheaper
        sql = f"{listed} WHERE {where} {page}"
    rows = fetch_dicts(cursor.execute(sql, params))
    return Page(total if exact else SEARCH_COUNT_CAP, exact, rows)


def get_record(cursor: Any, record_id: str) -> dict[str, Any] | None:
    sql = f"SELECT * FROM records WHERE {quote(ID)} = ? LIMIT 1"
    rows = fetch_dicts(cursor.execute(sql, [record_id]))
    if rows:  # token ids are bytes for the shards; token_count says how many there are
        rows[0].pop(TOKENS, None)
    return rows[0] if rows else None


def facet_counts(cursor: Any, columns: dict[str, str]) -> dict[str, list[tuple[str, int]]]:
    """Values to filter on, with how many records have each (most common first)."""
    facets: dict[str, list[tuple[str, int]]] = {}
    for column in (SOURCE, REJECT_STEP, REJECT_REASON):
        if column in columns:
            rows = cursor.execute(
                f"SELECT CAST({quote(column)} AS VARCHAR) AS v, count(*) AS n FROM records "
                f"WHERE v IS NOT NULL GROUP BY 1 ORDER BY n DESC, v LIMIT 1000"
            ).fetchall()
            facets[column] = [(value, count) for value, count in rows]
    return facets


def numeric_ranges(cursor: Any, numeric: list[str]) -> dict[str, tuple[float, float]]:
    """Each numeric column's smallest and largest value: the placeholders of the range inputs."""
    if not numeric:
        return {}
    listed = ", ".join(f"min({quote(c)}), max({quote(c)})" for c in numeric)
    row = cursor.execute(f"SELECT {listed} FROM records").fetchone()
    return {c: (row[2 * i], row[2 * i + 1]) for i, c in enumerate(numeric)}
