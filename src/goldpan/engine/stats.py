"""Per-stage accounting: records in and out, rejects by reason, time; stats.json and the table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class StageStats:
    stage: str
    step: str
    kind: str  # read | map | global
    records_in: int = 0
    records_out: int = 0
    rejects: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the stage in the run that computed it
    cpu_seconds: float = 0.0  # summed task time over all parts, resumed ones included
    resumed_parts: int = 0
    unit: str = "records"
    metrics: dict[str, float] = field(default_factory=dict)  # the step's own counts

    @property
    def rejected(self) -> int:
        return sum(self.rejects.values())

    def to_json(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["rejected"] = self.rejected
        payload["records_per_second"] = (
            round(self.records_in / self.seconds, 1) if self.seconds > 0 else None
        )
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> StageStats:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in payload.items() if k in names})


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


def format_metric(value: float) -> str:
    """Counts as integers with separators, amounts (a cost) with four significant digits."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4g}"
    return f"{int(value):,}"


def metric_lines(stages: list[StageStats]) -> list[str]:
    """One line per step that counted more than records (an LLM's requests, tokens, cost)."""
    return [
        f"{stage.stage}: " + ", ".join(f"{name.replace('_', ' ')} {format_metric(value)}"
                                       for name, value in stage.metrics.items())
        for stage in stages if stage.metrics
    ]


def print_summary(stages: list[StageStats], output_records: int, console: Console) -> None:
    console.print(summary_table(stages, output_records))
    for line in metric_lines(stages):
        console.print(line, highlight=False)
