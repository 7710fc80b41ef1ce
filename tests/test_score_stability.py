"""Top-share overlap: how much a selection by S depends on the scorers' seed."""

from __future__ import annotations

import numpy as np
import pytest

from goldpan.experiments.score_stability import pairwise_overlaps, top_overlap, top_set


def test_the_same_ranking_overlaps_fully_and_the_reversed_not_at_all() -> None:
    scores = [0.1, 0.9, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6, 0.0]
    assert top_set(scores, 0.3) == {1, 6, 4}
    assert top_overlap(scores, scores) == 1.0
    assert top_overlap(scores, [-s for s in scores]) == 0.0
    with pytest.raises(ValueError, match="same documents"):
        top_overlap(scores, scores[:-1])


def test_independent_scores_overlap_about_as_much_as_the_share_kept() -> None:
    rng = np.random.default_rng(0)
    overlaps = pairwise_overlaps([rng.normal(size=5000) for _ in range(3)], share=0.3)
    assert len(overlaps) == 3 and all(o == pytest.approx(0.3, abs=0.03) for o in overlaps)
    common = rng.normal(size=5000)
    noisy = [common + rng.normal(size=5000) for _ in range(4)]
    averaged = [np.mean(noisy[:2], axis=0), np.mean(noisy[2:], axis=0)]
    assert top_overlap(*averaged) > np.mean(pairwise_overlaps(noisy))  # averaging steadies it
