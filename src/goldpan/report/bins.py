"""Histogram bins that stay readable on real corpora.

Three shapes: one bin per value for small integer ranges (PII counts, cluster sizes);
logarithmic bins for wide non-negative ranges (document lengths span four decades, and linear
bins would put nearly every document in the first one); linear bins otherwise, where a range
whose maximum lies far beyond the 99th percentile ends there and its last bin also holds the
values above (the caption says so).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

BINS = 30
TAIL_FACTOR = 10.0  # linear bins: max beyond this many times the 99th percentile is clamped
LOG_SPAN = 50.0  # log bins when the maximum exceeds this many times the median (and 1,000)


@dataclass(frozen=True)
class Bins:
    edges: list[float]
    maximum: float  # the largest value seen
    clamped: bool = False  # the last bin also holds values above edges[-1]
    log: bool = False  # edges grow geometrically; values below edges[0] fall in the first bin
    discrete: bool = False  # one bin per integer value

    @property
    def count(self) -> int:
        return len(self.edges) - 1

    def _origin_and_width(self) -> tuple[float, float]:
        if self.log:
            first = math.log10(self.edges[0])
            return first, (math.log10(self.edges[-1]) - first) / self.count
        return self.edges[0], self.edges[1] - self.edges[0]

    def index(self, values: np.ndarray) -> np.ndarray:
        """Each value's bin; values past either end go to the end bins."""
        origin, width = self._origin_and_width()
        scaled = np.log10(np.maximum(values, self.edges[0])) if self.log else values
        return np.clip(np.floor((scaled - origin) / width), 0, self.count - 1).astype(np.int64)

    def sql_index(self, column: str) -> str:
        """The same as ``index``, as a DuckDB expression over ``column``."""
        origin, width = self._origin_and_width()
        scaled = f"log10(greatest({column}, {self.edges[0]!r}))" if self.log else column
        return (
            f"CAST(least(greatest(floor(({scaled} - {origin!r}) / {width!r}), 0), "
            f"{self.count - 1}) AS BIGINT)"
        )

    def note(self, name: str) -> str:
        if self.clamped:
            return (
                f"The last bin also holds the {name} values above {self.edges[-1]:,.4g} "
                f"(largest: {self.maximum:,.6g})."
            )
        if self.log:
            return f"Logarithmic bins; values below {self.edges[0]:g} are in the first."
        return ""


def choose_bins(
    low: float, high: float, median: float, p99: float, integer: bool, bins: int = BINS
) -> Bins:
    if integer and high - low < bins:
        return Bins([float(v) for v in range(int(low), int(high) + 2)], high, discrete=True)
    if low >= 0 and high >= 1000 and high > LOG_SPAN * max(median, 1.0):
        first = max(low, 1.0)
        ratio = (high * 1.000001 / first) ** (1 / bins)
        return Bins([first * ratio**i for i in range(bins + 1)], high, log=True)
    clamped = low >= 0 and p99 > low and high > TAIL_FACTOR * p99
    top = p99 if clamped else high
    if top <= low:
        top = low + 1.0
    width = (top - low) / bins
    return Bins([low + i * width for i in range(bins)] + [top], high, clamped=clamped)


def histogram_of(series: Mapping[str, Sequence[float]]) -> tuple[Bins, dict[str, list[int]]] | None:
    """Shared bins for several series of numbers (None when there is nothing finite)."""
    arrays = {name: np.asarray(values, dtype=np.float64) for name, values in series.items()}
    arrays = {name: a[np.isfinite(a)] for name, a in arrays.items()}
    everything = np.concatenate([a for a in arrays.values()] or [np.zeros(0)])
    if everything.size == 0:
        return None
    integer = bool(np.all(everything == np.round(everything)))
    median, p99 = np.quantile(everything, [0.5, 0.99])
    bins = choose_bins(
        float(everything.min()), float(everything.max()), float(median), float(p99), integer
    )
    counts = {
        name: np.bincount(bins.index(a), minlength=bins.count).tolist()
        for name, a in arrays.items()
        if a.size
    }
    return bins, counts


def counted_histogram(values: Sequence[float], weights: Sequence[int]) -> tuple[Bins, list[int]]:
    """Bins over values that come already counted (e.g. cluster size -> number of clusters)."""
    array = np.asarray(values, dtype=np.float64)
    weight = np.asarray(weights, dtype=np.int64)
    order = np.argsort(array)
    array, weight = array[order], weight[order]
    cumulative = np.cumsum(weight)
    median, p99 = (array[np.searchsorted(cumulative, q * cumulative[-1])] for q in (0.5, 0.99))
    integer = bool(np.all(array == np.round(array)))
    bins = choose_bins(float(array[0]), float(array[-1]), float(median), float(p99), integer)
    return bins, np.bincount(bins.index(array), weights=weight, minlength=bins.count).astype(
        np.int64
    ).tolist()


def is_skewed(counts: dict[str, list[int]]) -> bool:
    """One bin dwarfs the others (e.g. most documents have zero PII): plot counts on a log
    scale so that the rest stays visible."""
    merged = sorted((sum(c) for c in zip(*counts.values(), strict=True)), reverse=True)
    return len(merged) > 1 and merged[1] > 0 and merged[0] > 20 * merged[1]
