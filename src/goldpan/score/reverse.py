"""``reverse_score``: the reverse-modeling quality score of Yu et al. 2024 ("Reverse Modeling in
Large Language Models", arXiv 2410.09817).

S = mean forward token loss - mean reverse token loss, from two scorers trained from scratch
on the same data, one on forward and one on token-reversed text. A text that is easier to
model in reverse than forwards (S > 0) is, by the paper's finding, more coherent and of higher
quality. Needs the ``fwd_loss`` and ``rev_loss`` columns of two ``lm_score`` steps; adds
``s_score``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, with_column, with_reject_reasons


@register_step
class ReverseScore(MapStep):
    """S = fwd_loss - rev_loss per record (Yu et al. 2024): higher is more coherent."""

    name = "reverse_score"
    text_side = "answer"

    def score_columns(self) -> tuple[str, ...]:
        return ("s_score",)

    def process(self, batch: pa.Table) -> pa.Table:
        missing = [c for c in ("fwd_loss", "rev_loss") if c not in batch.column_names]
        if missing:
            nulls = pa.nulls(batch.num_rows, pa.float64())
            batch = with_column(batch, "s_score", nulls)
            return with_reject_reasons(batch, [self.reason("missing_loss")] * batch.num_rows)
        score = pc.subtract(batch.column("fwd_loss"), batch.column("rev_loss"))  # S = L_fwd - L_rev
        batch = with_column(batch, "s_score", score)
        reasons = pc.if_else(
            pc.is_null(score), pa.scalar(self.reason("missing_loss")), pa.scalar(None, pa.string())
        )
        return with_reject_reasons(
            batch, reasons.combine_chunks() if isinstance(reasons, pa.ChunkedArray) else reasons
        )
