"""The length-controlled win rate: a judge's taste for long answers is taken out."""

from __future__ import annotations

import math
import random

import pytest

from goldpan.synth.win_rate import length_controlled_win_rate


def _verdicts(rng: random.Random, first: list[int], second: list[int], skill: float) -> list[float]:
    """A judge that likes length (and ``skill``, the first model's real advantage)."""
    return [1.0 if rng.random() < 1 / (1 + math.exp(-(skill + 3 * math.tanh((a - b) / 150))))
            else 0.0 for a, b in zip(first, second, strict=True)]


def test_a_verbose_model_wins_raw_but_not_length_controlled() -> None:
    rng = random.Random(0)
    second = [rng.randint(50, 500) for _ in range(600)]
    first = [rng.randint(200, 650) for _ in second]  # the same model, but longer on average
    outcomes = _verdicts(rng, first, second, skill=0.0)
    assert sum(outcomes) / len(outcomes) > 0.65
    assert length_controlled_win_rate(outcomes, first, second) == pytest.approx(0.5, abs=0.1)


def test_a_better_model_of_equal_length_keeps_its_lead() -> None:
    rng = random.Random(1)
    first = [rng.randint(50, 500) for _ in range(600)]
    second = [rng.randint(50, 500) for _ in range(600)]
    outcomes = _verdicts(rng, first, second, skill=1.0)
    raw = sum(outcomes) / len(outcomes)
    assert raw > 0.6
    assert length_controlled_win_rate(outcomes, first, second) == pytest.approx(
        1 / (1 + math.exp(-1.0)), abs=0.06)


def test_ties_count_half_and_equal_lengths_leave_the_raw_rate() -> None:
    assert length_controlled_win_rate([0.5] * 4, [10] * 4, [10] * 4) == pytest.approx(0.5)
    assert length_controlled_win_rate([1.0, 0.0, 1.0, 1.0], [5] * 4, [5] * 4) == pytest.approx(
        0.75, abs=1e-3)
    assert math.isnan(length_controlled_win_rate([], [], []))
