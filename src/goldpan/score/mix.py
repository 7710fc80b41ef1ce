"""``mix``: compose the corpus by shares of a column (default ``source``) to a token budget.

The survey's "diversify" step and task-specific composition (LaMDA trained on half dialogue):
each value of the column gets ``share`` x ``budget_tokens`` tokens. A source with more than its
share is down-sampled (a seeded draw per record id, so the choice is reproducible); a source
with less is kept whole, or, with ``upsample: true``, repeated up to ``max_repeats`` times.
Repetition is recorded in ``mix_repeats`` (how many times a training run should see the
record) rather than by copying rows, so every input record is still kept or rejected exactly
once. Values without a share are rejected as ``mix:not_in_mix``; down-sampled records as
``mix:over_share``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from goldpan.data.draws import uniform_from_ids
from goldpan.data.lengths import token_counts
from goldpan.data.schema import ID
from goldpan.engine.registry import register_step
from goldpan.engine.step import (
    FitContext,
    GlobalStep,
    StepOptions,
    with_column,
    with_reject_reasons,
)


class MixOptions(StepOptions):
    shares: dict[str, float] = Field(description="Target share of the tokens per column value.")
    budget_tokens: int = Field(gt=0, description="Total tokens of the mix.")
    column: str = Field("source", description="The column whose values are mixed.")
    upsample: bool = Field(False, description="Repeat sources that are short of their share.")
    max_repeats: int = Field(4, ge=1, description="Most times a record may be repeated.")
    tokens_column: str = Field("n_tokens", description="Token counts; missing: words counted.")

    @field_validator("shares")
    @classmethod
    def _positive(cls, shares: dict[str, float]) -> dict[str, float]:
        if not shares or any(v < 0 for v in shares.values()) or sum(shares.values()) <= 0:
            raise ValueError("shares must be non-negative with a positive sum")
        total = sum(shares.values())
        return {k: v / total for k, v in shares.items()}


@register_step
class Mix(GlobalStep[MixOptions]):
    """Reach target shares per source (or any column) within a token budget; seeded."""

    name = "mix"
    text_side = "all"

    def _groups(self, batch: pa.Table) -> list[str | None]:
        column = self.options.column
        if column not in batch.column_names:
            return [None] * batch.num_rows
        return [None if v is None else str(v) for v in batch.column(column).to_pylist()]

    def fit_part(
        self, batch: pa.Table, part_index: int, context: FitContext
    ) -> tuple[list, np.ndarray, np.ndarray]:
        draws = uniform_from_ids(batch.column(ID).to_pylist(), self.seed)
        tokens = token_counts(batch, self.options.tokens_column)
        return self._groups(batch), draws, tokens

    def merge(
        self, summaries: Sequence[tuple[list, np.ndarray, np.ndarray]], context: FitContext
    ) -> dict:
        """Per group: (draw cut-off, base repeats, draw cut-off for one repeat more)."""
        o = self.options
        groups = [g for s in summaries for g in s[0]]
        draws = np.concatenate([s[1] for s in summaries]) if summaries else np.empty(0)
        tokens = np.concatenate([s[2] for s in summaries]) if summaries else np.empty(0)
        state = {}
        for group, share in o.shares.items():
            members = np.array([g == group for g in groups], dtype=bool)
            order = np.argsort(draws[members], kind="stable")
            sorted_draws, cumulative = draws[members][order], np.cumsum(tokens[members][order])
            available = int(cumulative[-1]) if len(cumulative) else 0
            target = share * o.budget_tokens
            if available == 0:
                state[group] = (-1.0, 1, -1.0)
            elif available >= target:
                count = int(np.searchsorted(cumulative, target, side="right"))
                state[group] = (float(sorted_draws[count - 1]) if count else -1.0, 1, -1.0)
            elif not o.upsample:
                state[group] = (math.inf, 1, -1.0)
            else:
                wanted = min(float(o.max_repeats), target / available)
                base = int(wanted)
                extra = int(np.searchsorted(cumulative, (wanted - base) * available, side="right"))
                state[group] = (math.inf, base, float(sorted_draws[extra - 1]) if extra else -1.0)
        return state

    def apply(self, batch: pa.Table, state: dict) -> pa.Table:
        draws = uniform_from_ids(batch.column(ID).to_pylist(), self.seed)
        repeats: list[int | None] = []
        reasons: list[str | None] = []
        for group, draw in zip(self._groups(batch), draws.tolist(), strict=True):
            if group not in state:
                repeats.append(None)
                reasons.append(self.reason("not_in_mix"))
                continue
            cutoff, base, extra = state[group]
            if draw > cutoff:
                repeats.append(None)
                reasons.append(self.reason("over_share"))
            else:
                repeats.append(base + (1 if draw <= extra else 0))
                reasons.append(None)
        batch = with_column(batch, "mix_repeats", pa.array(repeats, pa.int32()))
        return with_reject_reasons(batch, reasons)
