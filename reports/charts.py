"""Charts for the PDF reports: SVG drawn on the server as strings, embedded inline in the HTML
(WeasyPrint renders inline SVG). Every label is escaped; nothing is fetched."""
from __future__ import annotations

from markupsafe import Markup, escape

FONT = "Noto Serif CJK SC, Noto Serif CJK, serif"  # the body's font: no further font to embed
BAR = "#b22222"
BAR_MUTED = "#7a8794"
AXIS = "#555555"
GRID = "#d9d9d9"


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def compact_yuan(fen: int) -> str:
    """Short money for chart labels: ``8,000`` (yuan) or ``12.3万``."""
    y = int(fen) / 100
    if abs(y) >= 10000:
        return f"{y / 10000:.1f}万".replace(".0万", "万")
    return f"{y:,.0f}"


def _head(width: int, height: int, title: str, x: int) -> list[str]:
    """The opening of a chart: the SVG element (its accessible name) and the title drawn at the top."""
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="13" role="img" '
           f'aria-label="{escape(title)}">')
    caption = f'<text x="{x}" y="16" font-size="14" font-weight="bold" fill="#222">{escape(title)}</text>'
    return [svg, f"<title>{escape(title)}</title>", caption]


def columns(items: list[dict], title: str, *, width: int = 640, height: int = 230,
            colour: str = BAR) -> Markup:
    """Vertical columns, one per item (``label``, ``value``, ``text`` shown above the column)."""
    left, right, top, bottom = 8, 8, 30, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    n = len(items)
    maxv = max((float(it["value"]) for it in items), default=0) or 0
    slot = plot_w / n if n else plot_w
    base = top + plot_h
    out = _head(width, height, title, left)
    for frac in (0.5, 1.0):
        y = base - plot_h * frac
        out.append(f'<line x1="{left}" y1="{_num(y)}" x2="{width - right}" y2="{_num(y)}" stroke="{GRID}" '
                   f'stroke-width="0.5"/>')
    out.append(f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="{AXIS}" '
               f'stroke-width="1"/>')
    small = n > 14
    for i, it in enumerate(items):
        v = float(it["value"])
        h = (v / maxv) * (plot_h - 14) if maxv else 0
        x = left + i * slot
        cx = x + slot / 2
        if h:
            out.append(f'<rect x="{_num(x + slot * 0.18)}" y="{_num(base - h)}" width="{_num(slot * 0.64)}" '
                       f'height="{_num(h)}" fill="{colour}"/>')
        out.append(f'<text x="{_num(cx)}" y="{_num(base - h - 4)}" text-anchor="middle" '
                   f'font-size="{10 if small else 12}" fill="#222">{escape(it.get("text", v))}</text>')
        out.append(f'<text x="{_num(cx)}" y="{base + 16}" text-anchor="middle" '
                   f'font-size="{10 if small else 12}" fill="#333">{escape(it["label"])}</text>')
    if not items:
        out.append(f'<text x="{width / 2}" y="{base - plot_h / 2}" text-anchor="middle" '
                   'fill="#777">（无数据）</text>')
    out.append("</svg>")
    return Markup("".join(out))


def hbars(items: list[dict], title: str, *, width: int = 640, colour: str = BAR,
          label_width: int = 230) -> Markup:
    """Horizontal bars, one row per item (``label``, ``value``, ``text`` after the bar; ``muted``)."""
    rowh, top = 24, 26
    height = top + max(len(items), 1) * rowh + 6
    plot_w = width - label_width - 110
    maxv = max((float(it["value"]) for it in items), default=0) or 0
    out = _head(width, height, title, 0)
    for i, it in enumerate(items):
        y = top + i * rowh
        v = float(it["value"])
        w = (v / maxv) * plot_w if maxv else 0
        label = str(it["label"])
        if len(label) > 18:
            label = label[:17] + "…"
        out.append(f'<text x="0" y="{y + 16}" fill="#222">{escape(label)}</text>')
        out.append(f'<rect x="{label_width}" y="{y + 4}" width="{_num(max(w, 1))}" height="{rowh - 8}" '
                   f'fill="{BAR_MUTED if it.get("muted") else colour}"/>')
        out.append(f'<text x="{_num(label_width + w + 6)}" y="{y + 16}" fill="#222">'
                   f'{escape(it.get("text", v))}</text>')
    if not items:
        out.append(f'<text x="{width / 2}" y="{top + 14}" text-anchor="middle" fill="#777">（无数据）</text>')
    out.append("</svg>")
    return Markup("".join(out))
