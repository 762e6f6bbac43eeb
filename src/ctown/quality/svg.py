"""Tiny server-side SVG charts (inline in the page: nothing is fetched, no script runs).

Two shapes are enough for 三率: horizontal bars against a target line, and a monthly line with
target lines. Labels are escaped; sizes are in user units so the chart scales with the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

_OK, _BAD, _NONE, _TARGET = "#1b7a3a", "#b3261e", "#aab4bf", "#1d2733"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    text: str


def bars(items: Sequence[Bar], *, target: float, maximum: float, title: str,
         label_width: int = 200, width: int = 900, row: int = 24) -> Markup:
    """Horizontal bars: green at or above ``target``, red below, grey when there is no value."""
    plot = width - label_width - 60
    height = row * len(items) + 34
    scale = plot / maximum if maximum > 0 else 0.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{escape(title)}" class="chart">',
             f"<title>{escape(title)}</title>"]
    for i, item in enumerate(items):
        y = 20 + i * row
        value = item.value if item.value is not None else 0.0
        colour = _NONE if item.value is None else (_OK if item.value >= target else _BAD)
        length = max(0.0, min(value, maximum)) * scale
        parts.append(f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end">'
                     f"{escape(item.label[:24])}</text>")
        parts.append(f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" '
                     f'height="{row - 8}" fill="{colour}"/>')
        parts.append(f'<text x="{label_width + length + 4:.1f}" y="{y + 14}">'
                     f"{escape(item.text)}</text>")
    tx = label_width + target * scale
    parts.append(f'<line x1="{tx:.1f}" y1="12" x2="{tx:.1f}" y2="{height - 4}" '
                 f'stroke="{_TARGET}" stroke-dasharray="4 3"/>')
    parts.append(f'<text x="{tx:.1f}" y="10" text-anchor="middle">{escape(_fmt(target))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 every label above is escaped


def line(points: Sequence[tuple[str, float]], *, targets: Sequence[float], title: str,
         width: int = 900, height: int = 260) -> Markup:
    """A monthly line with dashed target lines (e.g. 4 and 6 updates a month)."""
    left, right, top, bottom = 40, 20, 16, 30
    maximum = max([v for _l, v in points] + list(targets) + [1.0]) * 1.15
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(points) - 1, 1)

    def y(v: float) -> float:
        return top + plot_h - v / maximum * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{escape(title)}" class="chart">',
             f"<title>{escape(title)}</title>",
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
             f'stroke="{_NONE}"/>']
    for t in targets:
        parts.append(f'<line x1="{left}" y1="{y(t):.1f}" x2="{width - right}" y2="{y(t):.1f}" '
                     f'stroke="{_TARGET}" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{left - 4}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    coords = [(left + i * step, y(v)) for i, (_l, v) in enumerate(points)]
    if coords:
        path = " ".join(f"{x:.1f},{yy:.1f}" for x, yy in coords)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{_BAD}" stroke-width="2"/>')
    for (label, value), (x, yy) in zip(points, coords, strict=True):
        colour = _OK if value >= max(targets, default=0) else _BAD
        parts.append(f'<circle cx="{x:.1f}" cy="{yy:.1f}" r="4" fill="{colour}"/>')
        parts.append(f'<text x="{x:.1f}" y="{yy - 8:.1f}" text-anchor="middle">'
                     f"{round(value, 1):g}</text>")
        parts.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">'
                     f"{escape(label)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 every label above is escaped


def _fmt(value: float) -> str:
    return f"{value:.0%}" if 0 < value <= 1 and value != int(value) else f"{value:g}"
