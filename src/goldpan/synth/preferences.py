"""Montessori-Instruct's preference pairs: for each teacher prompt, every output whose local
influence is positive is preferred to every output whose influence is negative."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def preference_pairs(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` hold ``prompt``, ``output`` and ``influence``; the result is a standard
    ``prompt, chosen, rejected`` dataset (with both influences kept for inspection). Outputs
    with an influence of exactly zero, or none (a probe without response tokens), take no side."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record["influence"] is not None:
            groups.setdefault(record["prompt"], []).append(record)
    pairs = []
    for prompt, members in groups.items():
        helpful = [m for m in members if m["influence"] > 0]
        harmful = [m for m in members if m["influence"] < 0]
        for chosen in helpful:
            for rejected in harmful:
                pairs.append(
                    {
                        "prompt": prompt,
                        "chosen": chosen["output"],
                        "rejected": rejected["output"],
                        "chosen_influence": chosen["influence"],
                        "rejected_influence": rejected["influence"],
                    }
                )
    return pairs
