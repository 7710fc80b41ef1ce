"""From counted bins to a captioned figure; shared by every kind of report."""

from __future__ import annotations

from goldpan.report.bins import Bins, is_skewed
from goldpan.report.page import Figure, Note
from goldpan.report.svg import histogram


def histogram_figure(
    bins: Bins, counts: dict[str, list[int]], name: str, order: list[str] | None = None
) -> Figure | Note:
    """A histogram with one line (or bar series) per group, its totals in the caption; a note
    instead when every value is the same, where a chart would show one bar and say less."""
    if order:
        counts = {key: counts[key] for key in order if key in counts}
    totals = ", ".join(f"{key} {sum(c):,}" for key, c in counts.items())
    if bins.discrete and bins.count == 1:
        return Note(f"{name}: every value is {bins.edges[0]:g} ({totals}).")
    skewed = is_skewed(counts)
    svg = histogram(
        bins.edges,
        counts,
        f"histogram of {name}",
        name + (" (count on a log scale)" if skewed else ""),
        log_counts=skewed,
        log_x=bins.log,
        discrete=bins.discrete,
    )
    return Figure(svg, f"{name}: {totals}. {bins.note(name)}".strip())
