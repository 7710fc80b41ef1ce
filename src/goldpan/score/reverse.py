"""``reverse_score``: the reverse-modeling quality score of Yu et al. 2024 ("Reverse Modeling in
Large Language Models", arXiv 2410.09817).

S = mean forward token loss - mean reverse token loss, from two scorers trained from scratch
on the same data, one on forward and one on token-reversed text. A text that is easier to
model in reverse than forwards (S > 0) is, by the paper's finding, more coherent and of higher
quality. Needs the ``fwd_loss`` and ``rev_loss`` columns of two ``lm_score`` steps; adds
``s_score``. With ``members`` (the column suffixes of several scorer pairs, e.g. trained with
different seeds), S is the mean of the pairs' S: one pair's S carries its seed's noise, which
the mean averages out (issue 34).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_column, with_reject_reasons


class ReverseScoreOptions(StepOptions):
    members: list[str] = Field(
        default_factory=lambda: [""], min_length=1,
        description="Column suffixes of the scorer pairs to average S over (\"\" reads "
        "fwd_loss and rev_loss; \"_1\" reads fwd_loss_1 and rev_loss_1).",
    )


@register_step
class ReverseScore(MapStep[ReverseScoreOptions]):
    """S = fwd_loss - rev_loss per record (Yu et al. 2024): higher is more coherent; with
    several scorer pairs, the mean of their S."""

    name = "reverse_score"
    text_side = "answer"

    def score_columns(self) -> tuple[str, ...]:
        return ("s_score",)

    def process(self, batch: pa.Table) -> pa.Table:
        members = self.options.members
        needed = [f"{d}_loss{m}" for m in members for d in ("fwd", "rev")]
        if any(c not in batch.column_names for c in needed):
            nulls = pa.nulls(batch.num_rows, pa.float64())
            batch = with_column(batch, "s_score", nulls)
            return with_reject_reasons(batch, [self.reason("missing_loss")] * batch.num_rows)
        # S = L_fwd - L_rev (Yu et al. 2024), averaged over the members; null if any is null.
        score = None
        for member in members:
            one = pc.subtract(batch.column(f"fwd_loss{member}"), batch.column(f"rev_loss{member}"))
            score = one if score is None else pc.add(score, one)
        score = pc.divide(score, float(len(members)))
        batch = with_column(batch, "s_score", score)
        reasons = pc.if_else(
            pc.is_null(score), pa.scalar(self.reason("missing_loss")), pa.scalar(None, pa.string())
        )
        return with_reject_reasons(
            batch, reasons.combine_chunks() if isinstance(reasons, pa.ChunkedArray) else reasons
        )
