"""``select``: keep records by a score column up to a token budget or a fraction.

A global step: the fit phase gathers each part's scores and token counts, the merge ranks all
records once and finds the cut, and the apply phase keeps the records ranked above it. Modes:
``top`` (highest scores first: top-S selection), ``bottom`` (lowest first: a ``fwd_loss``
column makes it a perplexity filter), ``random`` (a seeded sample of the same size, for
ablations). Ties are broken by a hash of the record id, so the choice is the same on every
run and executor. Records without a score are rejected as ``select:no_score``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from goldpan.data.draws import uniform_from_ids
from goldpan.data.lengths import token_counts
from goldpan.data.schema import ID
from goldpan.engine.registry import register_step
from goldpan.engine.step import FitContext, GlobalStep, StepOptions, with_reject_reasons


class SelectOptions(StepOptions):
    by: str | None = Field(None, description="Score column (not needed for mode random).")
    mode: Literal["top", "bottom", "random"] = Field("top", description="Which end to keep.")
    budget_tokens: int | None = Field(None, gt=0, description="Keep up to this many tokens.")
    fraction: float | None = Field(None, gt=0, le=1, description="Or keep this share of records.")
    tokens_column: str = Field(
        "n_tokens", description="Token counts (from lm_score); missing: words are counted."
    )

    @model_validator(mode="after")
    def _one_size(self) -> SelectOptions:
        if (self.budget_tokens is None) == (self.fraction is None):
            raise ValueError("give exactly one of budget_tokens and fraction")
        if self.mode != "random" and not self.by:
            raise ValueError("modes top and bottom need 'by', the score column")
        return self


@register_step
class Select(GlobalStep[SelectOptions]):
    """Keep the top, bottom or a random sample of records by a score, to a token budget."""

    name = "select"
    text_side = "all"

    def score_columns(self) -> tuple[str, ...]:
        """The column records are ranked by is a score, whichever step (or input) made it."""
        return (self.options.by,) if self.options.by else ()

    def _keys(self, batch: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """Sort keys (ascending = keep first) and a validity mask."""
        o = self.options
        ids = batch.column(ID).to_pylist()
        tiebreak = uniform_from_ids(ids, self.seed)
        if o.mode == "random":
            return tiebreak, np.ones(len(ids), dtype=bool)
        if o.by not in batch.column_names:
            return np.zeros(len(ids)), np.zeros(len(ids), dtype=bool)
        scores = batch.column(o.by).to_numpy(zero_copy_only=False).astype(np.float64)
        valid = ~np.isnan(scores)
        primary = -scores if o.mode == "top" else scores
        # One float key: the score, then the id hash within equal scores.
        return np.where(valid, primary, np.inf), valid

    def fit_part(
        self, batch: pa.Table, part_index: int, context: FitContext
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keys, valid = self._keys(batch)
        ids = batch.column(ID).to_pylist()
        return (
            keys[valid],
            uniform_from_ids(ids, self.seed)[valid],
            token_counts(batch, self.options.tokens_column)[valid],
        )

    def merge(
        self, summaries: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], context: FitContext
    ) -> tuple[float, float] | None:
        """The (key, tiebreak) of the last record kept; None when nothing is kept."""
        o = self.options
        keys = np.concatenate([s[0] for s in summaries]) if summaries else np.empty(0)
        ties = np.concatenate([s[1] for s in summaries]) if summaries else np.empty(0)
        tokens = np.concatenate([s[2] for s in summaries]) if summaries else np.empty(0)
        if not len(keys):
            return None
        order = np.lexsort((ties, keys))
        if o.fraction is not None:
            count = int(np.ceil(o.fraction * len(keys)))
        else:
            assert o.budget_tokens is not None, "the options require fraction or budget_tokens"
            count = int(np.searchsorted(np.cumsum(tokens[order]), o.budget_tokens, side="right"))
        if count == 0:
            return None
        last = order[count - 1]
        return float(keys[last]), float(ties[last])

    def apply(self, batch: pa.Table, state: tuple[float, float] | None) -> pa.Table:
        keys, valid = self._keys(batch)
        ties = uniform_from_ids(batch.column(ID).to_pylist(), self.seed)
        if state is None:
            kept = np.zeros(len(keys), dtype=bool)
        else:
            key, tie = state
            kept = (keys < key) | ((keys == key) & (ties <= tie))
        no_score, not_selected = self.reason("no_score"), self.reason("not_selected")
        reasons = [no_score if not ok else None if keep else not_selected
                   for ok, keep in zip(valid.tolist(), kept.tolist(), strict=True)]
        return with_reject_reasons(batch, pa.array(reasons, pa.string()))
