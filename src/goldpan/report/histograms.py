"""Histograms asked of DuckDB: the range in one scan, the counts in a second, so memory does
not grow with the run."""

from __future__ import annotations

from typing import Any

from goldpan.report.bins import Bins, choose_bins
from goldpan.report.rundata import CurationRun

MEASURES = "measures"  # the report's narrow table of each record's measures (curation.py)


def sql_histogram(
    run: CurationRun, expression: str, group: str, params: list[Any] | None = None,
    view: str = MEASURES,
) -> tuple[Bins, dict[str, list[int]]] | None:
    """Bins and counts per group of ``expression`` over every record's measures, computed in
    two scans (range, then counts), so memory does not grow with the run. ``params`` fill the
    placeholders of ``expression`` and ``group``."""
    values = (
        f"SELECT CAST({expression} AS DOUBLE) AS v, CAST({group} AS VARCHAR) AS g "
        f"FROM {view}"
    )
    finite = f"FROM ({values}) WHERE v IS NOT NULL AND isfinite(v)"
    low, high, median, p99, integer, count = run.rows(
        f"SELECT min(v), max(v), quantile_cont(v, 0.5), quantile_cont(v, 0.99), "
        f"bool_and(v = round(v)), count(*) {finite}",
        params,
    )[0]
    if not count:
        return None
    bins = choose_bins(low, high, median, p99, bool(integer))
    rows = run.rows(
        f"SELECT g, {bins.sql_index('v')} AS b, count(*) {finite} GROUP BY ALL", params
    )
    counts: dict[str, list[int]] = {}
    for name, index, n in rows:
        counts.setdefault(name, [0] * bins.count)[index] = n
    return bins, counts
