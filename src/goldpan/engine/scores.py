"""Per-source distributions of the score columns a run produced (S, LM losses, quality).

Read back from the output and the rejects (only the source and score columns), so they cover
every record that was scored, kept or not. The reverse-modeling paper reports S per source and
the share of texts with S > 0; both land in ``stats.json`` and the run summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from goldpan.data.schema import SOURCE
from goldpan.util.storage import parquet_schema, read_parquet


def _collect(files: list[Path], column: str) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for path in files:
        names = parquet_schema(path).names
        if column not in names or SOURCE not in names:
            continue
        table = read_parquet(path, columns=[SOURCE, column])
        for source, value in zip(
            table.column(SOURCE).to_pylist(), table.column(column).to_pylist(), strict=True
        ):
            if value is not None and not (isinstance(value, float) and np.isnan(value)):
                values.setdefault(str(source), []).append(float(value))
    return values


def summarize(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=np.float64)
    p10, p50, p90 = np.quantile(array, [0.1, 0.5, 0.9])
    return {
        "count": len(array),
        "mean": round(float(array.mean()), 4),
        "p10": round(float(p10), 4),
        "median": round(float(p50), 4),
        "p90": round(float(p90), 4),
        "share_positive": round(float((array > 0).mean()), 4),
    }


def score_distributions(
    output_dir: Path, rejects_dir: Path, columns: Sequence[str]
) -> dict[str, Any]:
    """For each score column the run's steps declared: its distribution over all records and
    per source. The report shows these figures; it does not compute them again."""
    files = sorted(output_dir.glob("*.parquet"))
    files += sorted(rejects_dir.rglob("*.parquet")) if rejects_dir.exists() else []
    result: dict[str, Any] = {}
    for column in dict.fromkeys(columns):
        by_source = _collect(files, column)
        if by_source:
            everything = [v for values in by_source.values() for v in values]
            result[column] = {
                "all": summarize(everything),
                "by_source": {s: summarize(v) for s, v in sorted(by_source.items())},
            }
    return result
