"""What the command line prints after a run: the table of stages, the figures steps report
(model requests, tokens, cost), failures to retry, and the S-score table by source."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from goldpan.engine.runner import RunResult
from goldpan.engine.stats import StageStats, format_metric


def summary_table(stages: list[StageStats], output_records: int) -> Table:
    table = Table(title="goldpan run", show_lines=False)
    table.add_column("stage")
    table.add_column("in", justify="right")
    table.add_column("out", justify="right")
    table.add_column("rejected", justify="right")
    table.add_column("top reasons")
    table.add_column("time", justify="right")
    table.add_column("records/s", justify="right")
    for stage in stages:
        reasons = sorted(stage.rejects.items(), key=lambda item: (-item[1], item[0]))[:3]
        shown = ", ".join(f"{reason} {count:,}" for reason, count in reasons)
        rate = f"{stage.records_in / stage.seconds:,.0f}" if stage.seconds > 0 else "-"
        resumed = " (resumed)" if stage.resumed_parts else ""
        table.add_row(
            stage.stage + resumed,
            f"{stage.records_in:,}",
            f"{stage.records_out:,}",
            f"{stage.rejected:,}",
            shown,
            f"{stage.seconds:.1f}s",
            rate,
        )
    table.caption = f"{output_records:,} records kept"
    return table


def metric_lines(stages: list[StageStats]) -> list[str]:
    """One line per step that counted more than records (an LLM's requests, tokens, cost)."""
    return [
        f"{stage.stage}: " + ", ".join(f"{name.replace('_', ' ')} {format_metric(value)}"
                                       for name, value in stage.metrics.items())
        for stage in stages if stage.metrics
    ]


def score_table(distributions: dict[str, Any], column: str = "s_score") -> Table | None:
    if column not in distributions:
        return None
    table = Table(
        title=f"{column} by source"
        + (" (S = forward loss - reverse loss)" if column == "s_score" else "")
    )
    for name in ("source", "records", "mean", "p10", "median", "p90", "share > 0"):
        table.add_column(name, justify="left" if name == "source" else "right")
    rows = {**distributions[column]["by_source"], "all": distributions[column]["all"]}
    for source, stats in rows.items():
        table.add_row(
            source,
            f"{stats['count']:,}",
            f"{stats['mean']:.3f}",
            f"{stats['p10']:.3f}",
            f"{stats['median']:.3f}",
            f"{stats['p90']:.3f}",
            f"{stats['share_positive']:.1%}",
        )
    return table


def print_run(result: RunResult, console: Console) -> None:
    """The stage table, the metric lines, the failures to retry and the S table."""
    console.print(summary_table(result.stats, result.output_records))
    for line in metric_lines(result.stats):
        console.print(line, highlight=False)
    if result.failures:
        console.print(f"{result.failures:,} model requests failed (their records are rejected "
                      "or hold nulls, with reasons); rerun the same command to retry only those")
    table = score_table(result.scores)
    if table is not None:
        console.print(table)
