"""``sample``: keep a seeded fraction of the documents.

The decision for a record depends only on its id and the seed, not on batch boundaries, part
order or executor, so a sample is reproducible and nested samples stay nested."""

from __future__ import annotations

import pyarrow as pa
from pydantic import Field

from goldpan.data.draws import uniform_from_ids
from goldpan.data.schema import ID
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_reject_reasons


class SampleOptions(StepOptions):
    fraction: float = Field(gt=0, le=1, description="Share of records to keep.")
    seed: int | None = Field(None, description="Sampling seed (default: the recipe's seed).")


@register_step
class Sample(MapStep[SampleOptions]):
    """Keep a seeded, reproducible random fraction of the records."""

    name = "sample"
    text_side = "all"

    def process(self, batch: pa.Table) -> pa.Table:
        options = self.options
        seed = self.seed if options.seed is None else options.seed
        draws = uniform_from_ids(batch.column(ID).to_pylist(), seed)
        reason = self.reason("not_sampled")
        reasons = [None if draw < options.fraction else reason for draw in draws.tolist()]
        return with_reject_reasons(batch, pa.array(reasons, pa.string()))
