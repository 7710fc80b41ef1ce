"""``preference_pairs``: rated responses become preference records (prompt, chosen, rejected).

``chosen`` is the response rated highest (by the mean over the aspects, or by one named
aspect); ``rejected`` the lowest, or, ``rejected: random``, a random response rated lower than
the chosen one, as UltraFeedback-binarized does (HuggingFaceH4's binarisation). A record
becomes a preference record in TRL's conversational form: the conversation so far is the
prompt, the two responses are assistant turns. What cannot make a pair is rejected with its
reason: ``too_few_rated`` (fewer than two rated responses), ``tie`` (the best and the worst
rated alike) and ``below_margin`` (closer than ``margin``). Seeded per record by its id, so the
pairs are the same on every executor.
"""

from __future__ import annotations

import random
from typing import Any, Literal

import pyarrow as pa
from pydantic import Field

from goldpan.data.chat_records import MESSAGES, conversations, record_kind
from goldpan.data.schema import ID
from goldpan.engine.registry import register_step
from goldpan.engine.step import MapStep, StepOptions, with_column, with_reject_reasons
from goldpan.generate.prompts import (
    as_preference_records,
    conversation_so_far,
    render_template,
)


class PreferencePairsOptions(StepOptions):
    by: str = Field("mean", description="Rank by the mean rating or by one aspect's.")
    rejected: Literal["lowest", "random"] = Field(
        "lowest", description="The lowest rated, or a random lower-rated response.")
    margin: float = Field(0.0, ge=0, description="Least difference between the two ratings.")
    seed: int | None = Field(None, description="For rejected: random (default: recipe's seed).")
    responses: str = Field("responses", description="Column of the responses.")
    ratings: str = Field("ratings", description="Column of the ratings (rate's).")
    template: str = Field("{{ text }}", description="Text records: the prompt (as generate's).")


def pick_pair(scores: list[float | None], by_random: random.Random | None
              ) -> tuple[int, int] | str:
    """(chosen, rejected) positions, or the reason there is no pair."""
    rated = [(score, k) for k, score in enumerate(scores) if score is not None]
    if len(rated) < 2:
        return "too_few_rated"
    best = max(rated, key=lambda item: (item[0], -item[1]))  # ties: the earlier response
    lower = [item for item in rated if item[0] < best[0]]
    if not lower:
        return "tie"
    if by_random is None:
        worst = min(lower, key=lambda item: (item[0], item[1]))
    else:
        worst = by_random.choice(lower)
    return best[1], worst[1]


def _below_margin(values: list[Any], pair: tuple[int, int], margin: float) -> bool:
    """Whether the chosen answer's rating beats the rejected one's by less than ``margin``
    (both ratings are numbers here: ``pick_pair`` picks among rated answers)."""
    return bool(values[pair[0]] - values[pair[1]] < margin)


@register_step
class PreferencePairs(MapStep[PreferencePairsOptions]):
    """Turn rated responses into chosen/rejected preference records."""

    name = "preference_pairs"
    text_side = None
    record_kinds = ("text", "chat")

    def process(self, batch: pa.Table) -> pa.Table:
        o = self.options
        if record_kind(batch) == "chat":
            prompts = [conversation_so_far(t) for t in conversations(batch.column(MESSAGES))]
        else:
            prompts = [[{"role": "user", "content": render_template(o.template, r, self.name)}]
                       for r in batch.to_pylist()]
        responses = batch.column(o.responses).to_pylist()
        ratings = batch.column(o.ratings).to_pylist()
        seed = self.seed if o.seed is None else o.seed
        chosen: list[list[dict[str, Any]]] = []
        rejected: list[list[dict[str, Any]]] = []
        scores: list[tuple[float | None, float | None]] = []
        models: list[tuple[str | None, str | None]] = []
        reasons: list[str | None] = []
        for record_id, answers, rated in zip(batch.column(ID).to_pylist(), responses, ratings,
                                             strict=True):
            values = [(r or {}).get(o.by) for r in rated or []]
            draw = random.Random(f"{seed}:{record_id}") if o.rejected == "random" else None
            pair = pick_pair(values, draw)
            if not isinstance(pair, str) and _below_margin(values, pair, o.margin):
                pair = "below_margin"
            if isinstance(pair, str):  # no pair, or one below the margin: the reason
                reasons.append(self.reason(pair))
                chosen.append([])
                rejected.append([])
                scores.append((None, None))
                models.append((None, None))
                continue
            good, bad = answers[pair[0]], answers[pair[1]]
            chosen.append([{"role": "assistant", "content": good["content"]}])
            rejected.append([{"role": "assistant", "content": bad["content"]}])
            scores.append((values[pair[0]], values[pair[1]]))
            models.append((good["model"], bad["model"]))
            reasons.append(None)
        batch = as_preference_records(batch, prompts, chosen, rejected,
                                      drop=(o.responses, o.ratings))
        for name, values in (("chosen_rating", [s[0] for s in scores]),
                             ("rejected_rating", [s[1] for s in scores])):
            batch = with_column(batch, name, pa.array(values, pa.float64()))
        for name, values in (("chosen_model", [m[0] for m in models]),
                             ("rejected_model", [m[1] for m in models])):
            batch = with_column(batch, name, pa.array(values, pa.string()))
        return with_reject_reasons(batch, pa.array(reasons, pa.string()))

