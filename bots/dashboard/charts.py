"""Bar charts drawn on the server as inline SVG: nothing to load, nothing to run, readable on a phone."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

ROW = 26
LABEL_WIDTH = 130
BAR_WIDTH = 150
NORMAL = "#2e7d32"
ALERT = "#c62828"


def bar_chart(rows: Sequence[tuple[str, float, bool]], title: str) -> str:
    """`rows` are (label, value, alert); each bar is scaled to the largest value."""
    if not rows:
        return ""
    top = max((value for _, value, _ in rows), default=0) or 1
    height = ROW * len(rows)
    parts = [f'<svg class="chart" viewBox="0 0 {LABEL_WIDTH + BAR_WIDTH + 80} {height}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for index, (label, value, alert) in enumerate(rows):
        y = index * ROW
        width = max(2.0, BAR_WIDTH * value / top) if value else 0.0
        colour = ALERT if alert else NORMAL
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 17}" text-anchor="end" font-size="13">'
            f'{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 5}" width="{width:.1f}" height="{ROW - 10}" '
            f'fill="{colour}" rx="2"/>'
            f'<text x="{LABEL_WIDTH + width + 5:.1f}" y="{y + 17}" font-size="13">{_number(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _number(value: float) -> str:
    return f"{value:,.0f}".replace(",", ".") if float(value).is_integer() else f"{value:.1f}"
