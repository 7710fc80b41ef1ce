"""Static SVG charts for the report: horizontal bars, stacked bars and histograms.

Written by hand rather than with a plotting library because the report is produced at the end
of every run: these charts cost microseconds, weigh a few kilobytes, take their colours from
the page's CSS, need no script and no font files, and carry a native tooltip (``<title>``) on
every bar, so exact counts are one hover away with the page opened offline.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def format_number(value: float) -> str:
    """Short labels for axes and bar ends: 1,234 / 12.5k / 3.2M / 0.042."""
    if value != value:  # NaN
        return "nan"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g}k"
    if magnitude >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.3g}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick positions (1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if not math.isfinite(low) or not math.isfinite(high):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" {FONT}>' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, content: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{escape(content)}</text>'
    )


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
        f'fill="{fill}"><title>{escape(tip)}</title></rect>'
    )


def _clip(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


LEGEND_ROW = 18


def _legend_rows(names: Sequence[str], width: float) -> list[list[tuple[int, str, float]]]:
    """Legend entries (index, name, x offset) wrapped into rows that fit ``width``."""
    rows: list[list[tuple[int, str, float]]] = [[]]
    x = 0.0
    for index, name in enumerate(names):
        entry = 22 + 6.5 * min(len(name), 28)
        if rows[-1] and x + entry > width:
            rows.append([])
            x = 0.0
        rows[-1].append((index, name, x))
        x += entry
    return rows


def _legend(names: Sequence[str], x: float, y: float, width: float) -> tuple[list[str], float]:
    """The legend's SVG and the height it takes."""
    body = []
    rows = _legend_rows(names, width)
    for row_number, row in enumerate(rows):
        baseline = y + row_number * LEGEND_ROW
        for index, name, offset in row:
            body.append(f'<rect x="{x + offset:.1f}" y="{baseline - 9:.1f}" width="10" '
                        f'height="10" fill="{color(index)}"/>')
            body.append(_text(x + offset + 14, baseline, _clip(name, 28)))
    return body, LEGEND_ROW * len(rows)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    label: str,
    notes: Sequence[str] | None = None,
    width: int = 720,
) -> str:
    """Horizontal bars, one per label, the value (and an optional note) at the bar's end."""
    return stacked_bar_chart(labels, {"": values}, label, notes=notes, width=width)


def stacked_bar_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    label: str,
    notes: Sequence[str] | None = None,
    width: int = 720,
) -> str:
    """Horizontal bars made of one segment per series (e.g. kept, then rejects per step)."""
    label_width = min(240, 20 + 6.5 * max((len(x) for x in labels), default=4))
    row, top = 22, 8.0
    legend = [name for name in series if name]
    body: list[str] = []
    if legend:
        body, legend_height = _legend(legend, label_width, 16, width - label_width)
        top += legend_height + 4
    totals = [sum(float(values[i]) for values in series.values()) for i in range(len(labels))]
    largest = max(totals, default=0.0) or 1.0
    plot_width = width - label_width - 130
    for i, name in enumerate(labels):
        y = top + i * row
        body.append(_text(label_width - 6, y + 14, _clip(name, 36), "end"))
        x = float(label_width)
        for index, (series_name, values) in enumerate(series.items()):
            value = float(values[i])
            length = plot_width * value / largest
            if value > 0:
                tip = f"{name}: {series_name + ' ' if series_name else ''}{value:,.6g}"
                body.append(_rect(x, y + 3, length, row - 6, color(index), tip))
            x += length
        note = f" {notes[i]}" if notes and notes[i] else ""
        body.append(_text(x + 4, y + 14, format_number(totals[i]) + note, extra='fill="#444"'))
    height = top + row * max(1, len(labels)) + 6
    return _svg(width, height, body, label)


def _x_ticks(edges: Sequence[float], log_x: bool, discrete: bool) -> list[tuple[float, str]]:
    """Tick positions and labels: integers under their bars, decades on a log axis, round
    numbers otherwise."""
    low, high = float(edges[0]), float(edges[-1])
    if discrete:
        step = max(1, math.ceil((len(edges) - 1) / 12))
        return [((edges[i] + edges[i + 1]) / 2, format_number(edges[i]))
                for i in range(0, len(edges) - 1, step)]
    if log_x:
        decades = range(math.ceil(math.log10(low) - 1e-9), math.floor(math.log10(high)) + 1)
        multiples = (1,) if len(decades) >= 3 else (1, 2, 5)
        values = [m * 10.0**d for d in range(decades.start - 1, decades.stop + 1)
                  for m in multiples]
        return [(v, format_number(v)) for v in values if low <= v <= high]
    return [(v, format_number(v)) for v in nice_ticks(low, high)]


def histogram(
    edges: Sequence[float],
    series: Mapping[str, Sequence[int]],
    label: str,
    x_label: str,
    width: int = 480,
    height: int = 220,
    log_counts: bool = False,
    log_x: bool = False,
    discrete: bool = False,
) -> str:
    """Counts per bin. One series: filled bars; several: outlined steps over each other, so
    shapes stay comparable (kept vs rejected, one line per source)."""
    left, right, bottom = 52, 12, 38
    body: list[str] = []
    top, full_height = 10.0, float(height)
    if len(series) > 1:
        body, legend_height = _legend(list(series), left, 14, width - left - right)
        top += legend_height
        full_height += legend_height
    plot_w, plot_h = width - left - right, full_height - top - bottom
    low, high = float(edges[0]), float(edges[-1])
    if log_x:
        low, high = math.log10(low), math.log10(high)
    span = (high - low) or 1.0
    peak = max((max(counts, default=0) for counts in series.values()), default=0) or 1

    def scale_y(count: float) -> float:
        if log_counts:
            return plot_h * math.log10(1 + count) / math.log10(1 + peak)
        return plot_h * count / peak

    def x_of(value: float) -> float:
        return left + plot_w * ((math.log10(value) if log_x else value) - low) / span

    base = top + plot_h
    body.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#888"/>')
    for tick, tick_label in _x_ticks(edges, log_x, discrete):
        x = x_of(tick)
        body.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="#888"/>')
        body.append(_text(x, base + 15, tick_label, "middle"))
    y_ticks = [0, peak] if log_counts else nice_ticks(0, peak, 4)
    for tick in y_ticks:
        y = base - scale_y(tick)
        body.append(f'<line x1="{left - 4}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                    f'stroke="#eee"/>')
        body.append(_text(left - 6, y + 4, format_number(tick), "end"))
    body.append(_text(left + plot_w / 2, full_height - 4, x_label, "middle", 'fill="#444"'))

    def bin_label(i: int) -> str:
        if discrete:
            return format_number(edges[i])
        return f"[{format_number(edges[i])}, {format_number(edges[i + 1])})"

    single = len(series) == 1
    for index, counts in enumerate(series.values()):
        points = []
        for i, count in enumerate(counts):
            x0, x1 = x_of(float(edges[i])), x_of(float(edges[i + 1]))
            h = scale_y(count)
            if single:
                tip = f"{bin_label(i)}: {count:,}"
                body.append(_rect(x0 + 0.5, base - h, x1 - x0 - 1, h, color(index), tip))
            else:
                points += [f"{x0:.1f},{base - h:.1f}", f"{x1:.1f},{base - h:.1f}"]
        if points:
            body.append(
                f'<polyline points="{" ".join(points)}" fill="none" stroke="{color(index)}" '
                f'stroke-width="1.8"/>'
            )
    if not single:  # one hover target per bin, naming every series' count
        for i in range(len(edges) - 1):
            x0, x1 = x_of(float(edges[i])), x_of(float(edges[i + 1]))
            counts_here = ", ".join(f"{name} {values[i]:,}" for name, values in series.items())
            body.append(_rect(x0, top, x1 - x0, plot_h, "transparent",
                              f"{bin_label(i)}: {counts_here}"))
    return _svg(width, full_height, body, label)
