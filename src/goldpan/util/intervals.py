"""95% intervals for the comparisons the experiments report: an accuracy (Wilson's score
interval, sound at small counts and near 0 or 1), a mean or a paired difference (Student's
t, which with a handful of seeds is much wider than the normal approximation, as it should be)
and a rank correlation (Fisher's z with Fieller, Hartley and Pearson's standard error)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def wilson_interval(successes: float, trials: int, confidence: float = 0.95) -> Estimate:
    """An accuracy with its Wilson score interval (``successes`` may be fractional: split
    ties)."""
    from scipy.stats import norm

    if trials <= 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    z = float(norm.ppf(0.5 + confidence / 2))
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    half /= 1 + z * z / trials
    return Estimate(share, max(0.0, centre - half), min(1.0, centre + half), trials)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """The mean with its t interval (n - 1 degrees of freedom); one value has no interval."""
    from scipy.stats import t

    n = len(values)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0)
    mean = sum(values) / n
    if n == 1:
        return Estimate(mean, math.nan, math.nan, 1)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * spread / math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n)


def paired_difference(
    first: Sequence[float], second: Sequence[float], confidence: float = 0.95
) -> Estimate:
    """Mean of first - second over paired items (the same problems, the same seeds), with its t
    interval: pairing removes the items' own difficulty from the noise."""
    if len(first) != len(second):
        raise ValueError(f"paired samples differ in length: {len(first)} and {len(second)}")
    return mean_interval([a - b for a, b in zip(first, second, strict=True)], confidence)


def spearman_interval(rho: float, n: int, confidence: float = 0.95) -> Estimate:
    """Spearman's rho with a Fisher-z interval; its standard error is 1.03 / sqrt(n - 3)
    (Fieller, Hartley and Pearson 1957), a little wider than Pearson's 1 / sqrt(n - 3)."""
    from scipy.stats import norm

    if n < 4 or math.isnan(rho):
        return Estimate(rho, math.nan, math.nan, n)
    z = math.atanh(max(-0.999999, min(0.999999, rho)))
    half = float(norm.ppf(0.5 + confidence / 2)) * 1.03 / math.sqrt(n - 3)
    return Estimate(rho, math.tanh(z - half), math.tanh(z + half), n)
