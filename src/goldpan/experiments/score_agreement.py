"""Which quality signal agrees with which: rank correlations, per-source means and the
selections each signal would make, over the same documents of one run.

Read from a run's kept records (plus, with ``include_rejected_by``, the records a step such as
``select`` rejected after they were scored, so a selection does not hide the half it dropped).
Each signal has a direction: higher is better for a classifier's or a judge's score and for
S, lower for a loss (perplexity filtering keeps the lowest). Spearman correlations are of the
"better" orientation, so +1 means two signals rank the documents the same way. With the
annotation run, the judge's own scores are joined by id and compared with every signal on the
documents it judged: how well each signal reproduces the judge.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from goldpan.data.schema import ID, REJECT_STEP, SOURCE
from goldpan.engine.rundir import RunDir
from goldpan.errors import GoldpanError
from goldpan.util.intervals import spearman_interval
from goldpan.util.storage import read_parquet

LOWER_IS_BETTER_SUFFIXES = ("_loss", "_nll", "perplexity")


class Agreement(BaseModel):
    signals: list[str]
    documents: int
    spearman: dict[str, dict[str, float]]  # signal -> signal -> rho (both "better" up)
    spearman_interval: dict[str, dict[str, tuple[float, float]]]  # 95%, Fisher z
    source_means: dict[str, dict[str, float]]  # source -> signal -> mean
    source_counts: dict[str, int]
    selected_share: dict[str, dict[str, float]]  # signal -> source -> share of its top half
    overlap: dict[str, dict[str, float]]  # signal -> signal -> Jaccard of the top halves
    # source -> other signal -> rho with the first signal, within that source only (what is
    # left once the sources' different levels no longer count)
    within_source: dict[str, dict[str, float]] = {}
    judge: dict[str, float] | None = None  # signal -> rho with the judge, on judged documents
    judge_interval: dict[str, tuple[float, float]] | None = None
    judged_documents: int = 0


def lower_is_better(column: str) -> bool:
    return column.endswith(LOWER_IS_BETTER_SUFFIXES)


def scored_records(run_dir: str | Path, include_rejected_by: str | None) -> pa.Table:
    run = RunDir(run_dir)
    tables = [read_parquet(p) for p in run.kept_parts()]
    if include_rejected_by:
        for path in run.reject_parts():
            rejected = read_parquet(path)
            if REJECT_STEP in rejected.column_names:
                tables.append(rejected.filter(pc.equal(rejected.column(REJECT_STEP),
                                                       include_rejected_by)))
    tables = [t for t in tables if t.num_rows]
    if not tables:
        raise GoldpanError(f"score-agreement: {run_dir} has no scored records")
    return pa.concat_tables(tables, promote_options="permissive")


def _oriented(table: pa.Table, column: str) -> np.ndarray:
    values = np.asarray(table.column(column).to_numpy(zero_copy_only=False), dtype=np.float64)
    return -values if lower_is_better(column) else values


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    keep = ~(np.isnan(a) | np.isnan(b))
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return math.nan
    return float(spearmanr(a[keep], b[keep]).statistic)


def _bounds(rho: float, n: int) -> tuple[float, float]:
    estimate = spearman_interval(rho, n)
    return (estimate.low, estimate.high)


def _top_half(values: np.ndarray) -> set[int]:
    order = np.argsort(-np.nan_to_num(values, nan=-np.inf), kind="stable")
    return set(order[: len(order) // 2].tolist())


def agreement(run_dir: str | Path, signals: list[str], include_rejected_by: str | None = None,
              annotations: str | Path | None = None, judge_column: str = "judge_score"
              ) -> Agreement:
    table = scored_records(run_dir, include_rejected_by)
    missing = [s for s in signals if s not in table.column_names]
    if missing:
        raise GoldpanError(f"score-agreement: {run_dir} has no column {missing}; it has "
                           f"{table.column_names}")
    oriented = {s: _oriented(table, s) for s in signals}
    sources = (table.column(SOURCE).to_pylist() if SOURCE in table.column_names
               else ["(all)"] * table.num_rows)
    names = sorted(set(map(str, sources)))
    source_array = np.array([str(s) for s in sources])
    tops = {s: _top_half(oriented[s]) for s in signals}
    selected_share = {
        s: {name: sum(source_array[i] == name for i in tops[s]) / max(1, len(tops[s]))
            for name in names}
        for s in signals
    }
    raw = {s: np.asarray(table.column(s).to_numpy(zero_copy_only=False), dtype=np.float64)
           for s in signals}
    rho = {a: {b: _spearman(oriented[a], oriented[b]) for b in signals} for a in signals}
    result = Agreement(
        signals=signals,
        documents=table.num_rows,
        spearman=rho,
        spearman_interval={a: {b: _bounds(rho[a][b], table.num_rows) for b in signals}
                           for a in signals},
        source_means={name: {s: float(np.nanmean(raw[s][source_array == name]))
                             for s in signals} for name in names},
        source_counts={name: int((source_array == name).sum()) for name in names},
        selected_share=selected_share,
        overlap={a: {b: len(tops[a] & tops[b]) / max(1, len(tops[a] | tops[b]))
                     for b in signals} for a in signals},
        within_source={
            name: {b: _spearman(oriented[signals[0]][source_array == name],
                                oriented[b][source_array == name]) for b in signals[1:]}
            for name in names
        },
    )
    if annotations is not None:
        judged = scored_records(annotations, None)
        if judge_column not in judged.column_names:
            raise GoldpanError(f"score-agreement: {annotations} has no column {judge_column!r}")
        scores = dict(zip(judged.column(ID).to_pylist(),
                          judged.column(judge_column).to_pylist(), strict=True))
        ids = table.column(ID).to_pylist()
        rows = [i for i, doc in enumerate(ids) if scores.get(doc) is not None]
        judge = np.array([scores[ids[i]] for i in rows], dtype=np.float64)
        result.judge = {s: _spearman(oriented[s][rows], judge) for s in signals}
        result.judge_interval = {s: _bounds(result.judge[s], len(rows)) for s in signals}
        result.judged_documents = len(rows)
    return result


def _number(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _with_interval(value: float, bounds: tuple[float, float]) -> str:
    if math.isnan(value) or math.isnan(bounds[0]):
        return _number(value)
    return f"{value:.2f} ({bounds[0]:.2f} to {bounds[1]:.2f})"


def agreement_table(result: Agreement) -> str:
    """The agreement as Markdown: what the doc page and the console show."""
    signals = result.signals
    lines = [f"{result.documents:,} documents. Spearman correlation with its 95% interval (each "
             "signal oriented so that higher is better; losses negated):", "",
             "| | " + " | ".join(signals) + " |", "|---|" + "---:|" * len(signals)]
    for a in signals:
        lines.append(f"| {a} | " + " | ".join(
            "1" if a == b else _with_interval(result.spearman[a][b],
                                              result.spearman_interval[a][b])
            for b in signals) + " |")
    if result.judge is not None and result.judge_interval is not None:
        lines += ["", f"Against the judge's own scores on the {result.judged_documents:,} "
                  "documents it judged (Spearman, 95% interval):", "",
                  "| signal | rho |", "|---|---:|"]
        lines += [f"| {s} | {_with_interval(result.judge[s], result.judge_interval[s])} |"
                  for s in signals]
    if len(signals) > 1:
        others = signals[1:]
        lines += ["", f"Within each source (Spearman of {signals[0]} with the others, the "
                  "sources' different levels left out):", "",
                  "| source | documents | " + " | ".join(others) + " |",
                  "|---|---:|" + "---:|" * len(others)]
        for name, values in result.within_source.items():
            lines.append(f"| {name} | {result.source_counts[name]:,} | "
                         + " | ".join(_number(values[b], 2) for b in others) + " |")
    lines += ["", "Mean of each signal per source:", "",
              "| source | documents | " + " | ".join(signals) + " |",
              "|---|---:|" + "---:|" * len(signals)]
    for name, means in result.source_means.items():
        lines.append(f"| {name} | {result.source_counts[name]:,} | "
                     + " | ".join(_number(means[s]) for s in signals) + " |")
    lines += ["", "The top half by each signal: share of each source (the pool's share first),"
              " and overlap (Jaccard) between the selections:", "",
              "| source | pool | " + " | ".join(signals) + " |",
              "|---|---:|" + "---:|" * len(signals)]
    for name in result.source_means:
        pool = result.source_counts[name] / max(1, result.documents)
        lines.append(f"| {name} | {pool:.2f} | "
                     + " | ".join(f"{result.selected_share[s][name]:.2f}" for s in signals)
                     + " |")
    lines += ["", "| overlap | " + " | ".join(signals) + " |", "|---|" + "---:|" * len(signals)]
    for a in signals:
        lines.append(f"| {a} | " + " | ".join(f"{result.overlap[a][b]:.2f}" for b in signals)
                     + " |")
    return "\n".join(lines) + "\n"
