"""A test plugin: a map step that takes its time, so a test can kill a run mid-stage."""

import time

import pyarrow as pa
from pydantic import Field

from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions


class SlowOptions(StepOptions):
    seconds_per_part: float = Field(0.2, ge=0)


@register_step
class SlowCopy(MapStep[SlowOptions]):
    """Keeps every record after sleeping: stands in for an expensive model step."""

    name = "slow_copy"

    def process(self, batch: pa.Table) -> pa.Table:
        time.sleep(self.options.seconds_per_part)
        return batch


@register_step
class LosesRows(MapStep):
    """A broken step that deletes rows instead of rejecting them."""

    name = "loses_rows"

    def process(self, batch: pa.Table) -> pa.Table:
        return batch.slice(1)
