"""Montessori-Instruct's preference pairs: for each teacher prompt, every output whose local
influence is positive is preferred to every output whose influence is negative."""

from __future__ import annotations

from collections.abc import Sequence

from goldpan.synth.records import InfluencePair, ScoredExample


def preference_pairs(records: Sequence[ScoredExample]) -> list[InfluencePair]:
    """Pairs of outputs of the same teacher prompt, both influences kept for inspection (a
    standard ``prompt, chosen, rejected`` dataset). Outputs with an influence of exactly zero,
    or none (a probe without response tokens), take no side."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for record in records:
        example = record.example
        if record.influence is not None and example.prompt is not None:
            groups.setdefault(example.prompt, []).append((example.output or "", record.influence))
    pairs = []
    for prompt, members in groups.items():
        helpful = [m for m in members if m[1] > 0]
        harmful = [m for m in members if m[1] < 0]
        pairs += [InfluencePair(prompt, chosen, rejected, good, bad)
                  for chosen, good in helpful for rejected, bad in harmful]
    return pairs
