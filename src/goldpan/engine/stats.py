"""Per-stage accounting: records in and out, rejects by reason, time; stats.json and the table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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


def format_metric(value: float) -> str:
    """Counts as integers with separators, amounts (a cost) with four significant digits."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.4g}"
    return f"{int(value):,}"
