"""Inline SVG line charts (no plotting library, no script): curves with optional 95% bands.

Only presentation attributes are used (no ``style=``), so the page's Content-Security-Policy holds;
every label goes through ``html.escape``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22")


@dataclass
class Series:
    """One curve: ``x`` and ``y`` (a longer one is cut to the shorter; ``None``/non-finite points are skipped); optional
    ``lo``/``hi`` draw a shaded band (e.g. a 95% interval)."""

    name: str
    x: Sequence[float]
    y: Sequence[float | None]
    lo: Sequence[float | None] | None = None
    hi: Sequence[float | None] | None = None
    points: list[tuple[float, float]] = field(init=False)

    def __post_init__(self) -> None:
        self.points = [(float(a), float(b)) for a, b in zip(self.x, self.y, strict=False) if _finite(a) and _finite(b)]


def _finite(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _ticks(lo: float, hi: float, n: int = 4, *, integer: bool = False) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    if integer:
        raw = max(raw, 1.0)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + step * 1e-9:
        out.append(round(v, 12))
        v += step
    return out


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v) >= 1000 or float(v).is_integer() else f"{v:.3g}"


def line_chart(series: Sequence[Series], *, title: str, xlabel: str = "", ylabel: str = "",
               width: int = 420, height: int = 240) -> str:
    """An ``<svg>`` element (a string) drawing ``series``; an empty-note chart when there is no point."""
    series = [s for s in series if s.points]
    left, right, top, bottom = 52, 12, 26, 40
    pw, ph = width - left - right, height - top - bottom
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<text x="{width / 2:.0f}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>']
    if not series:
        parts.append(f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" font-size="12" '
                     f'fill="#888">no data</text></svg>')
        return "".join(parts)
    xs = [p[0] for s in series for p in s.points]
    ys = [p[1] for s in series for p in s.points]
    for s in series:
        for band in (s.lo, s.hi):
            ys += [float(v) for v in (band or []) if _finite(v)]
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad

    def X(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * pw

    def Y(v: float) -> float:
        return top + (1 - (v - y0) / (y1 - y0)) * ph

    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#ccc"/>')
    for t in _ticks(y0, y1):
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{Y(t):.1f}" y2="{Y(t):.1f}" stroke="#eee"/>'
                     f'<text x="{left - 4}" y="{Y(t) + 4:.1f}" text-anchor="end" font-size="10">{escape(_fmt(t))}</text>')
    for t in _ticks(x0, x1, integer=all(float(x).is_integer() for x in xs)):
        parts.append(f'<text x="{X(t):.1f}" y="{top + ph + 14}" text-anchor="middle" font-size="10">{escape(_fmt(t))}</text>')
    if xlabel:
        parts.append(f'<text x="{left + pw / 2:.0f}" y="{height - 6}" text-anchor="middle" font-size="11">{escape(xlabel)}</text>')
    if ylabel:
        parts.append(f'<text x="12" y="{top + ph / 2:.0f}" text-anchor="middle" font-size="11" '
                     f'transform="rotate(-90 12 {top + ph / 2:.0f})">{escape(ylabel)}</text>')
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        if s.lo is not None and s.hi is not None:
            band = [(float(a), float(lo), float(hi)) for a, lo, hi in zip(s.x, s.lo, s.hi, strict=False)
                    if _finite(a) and _finite(lo) and _finite(hi)]
            if band:
                pts = [f"{X(a):.1f},{Y(hi):.1f}" for a, _, hi in band] + [f"{X(a):.1f},{Y(lo):.1f}" for a, lo, _ in band[::-1]]
                parts.append(f'<polygon points="{" ".join(pts)}" fill="{color}" fill-opacity="0.15" stroke="none"/>')
        pts = " ".join(f"{X(a):.1f},{Y(b):.1f}" for a, b in s.points)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="1.8"><title>{escape(s.name)}</title></polyline>')
        if len(s.points) <= 40:
            parts += [f'<circle cx="{X(a):.1f}" cy="{Y(b):.1f}" r="2.2" fill="{color}"/>' for a, b in s.points]
    # legend
    lx, ly = left + 6, top + 12
    for i, s in enumerate(series[:10]):
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{lx}" y="{ly + 13 * i - 8}" width="10" height="3" fill="{color}"/>'
                     f'<text x="{lx + 14}" y="{ly + 13 * i - 4}" font-size="10">{escape(s.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
