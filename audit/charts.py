"""The SVG charts of the system, one module for the web's dashboard and the PDF reports: drawn on
the server as strings (nothing fetched, every label escaped).

- ``hbars`` / ``columns``: the reports' charts, embedded inline in the HTML WeasyPrint renders; the
  colours and the font are written on the elements (the PDF has no style sheet for them).
- ``web_hbars`` / ``web_columns``: the dashboard's, scaled by the page (``viewBox``), styled by
  static/css/app.css (``.chart .bar`` …), every bar a link to the list behind it.
"""
from __future__ import annotations

from markupsafe import Markup, escape

FONT = "Noto Serif CJK SC, Noto Serif CJK, serif"  # the body's font: no further font to embed
BAR = "#b22222"
BAR_MUTED = "#7a8794"
AXIS = "#555555"
GRID = "#d9d9d9"


WEB_LABEL_ROOM = 14  # characters of a bar's label before it runs under the bar: the dashboard's
PDF_LABEL_ROOM = 18  # the reports'


def short_label(label: str, room: int = WEB_LABEL_ROOM) -> str:
    """A label longer than the room keeps its beginning and its end, on the web and in the PDFs:
    two workshops of one village begin alike and differ by their last words or their code
    (``兴隆镇老鹰村服装…0236-Z03）``); on the web the whole label is the bar's tooltip."""
    if len(label) <= room:
        return label
    tail = room // 2
    return label[:room - tail - 1] + "…" + label[-tail:]


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
        label = short_label(str(it["label"]), PDF_LABEL_ROOM)
        out.append(f'<text x="0" y="{y + 16}" fill="#222">{escape(label)}</text>')
        out.append(f'<rect x="{label_width}" y="{y + 4}" width="{_num(max(w, 1))}" height="{rowh - 8}" '
                   f'fill="{BAR_MUTED if it.get("muted") else colour}"/>')
        out.append(f'<text x="{_num(label_width + w + 6)}" y="{y + 16}" fill="#222">'
                   f'{escape(it.get("text", v))}</text>')
    if not items:
        out.append(f'<text x="{width / 2}" y="{top + 14}" text-anchor="middle" fill="#777">（无数据）</text>')
    out.append("</svg>")
    return Markup("".join(out))


# -- the web's charts -----------------------------------------------------------------------------------

def web_hbars(items: list[dict], title: str) -> Markup:
    """Horizontal bars, one row per item (``label``, ``value``, ``href``, ``text``: the value shown,
    ``cls``: a CSS class of the bar)."""
    rowh = 30
    maxv = max((float(it["value"]) for it in items), default=0) or 0
    out = [f'<svg class="chart" viewBox="0 0 640 {len(items) * rowh + 10}" role="img" '
           f'aria-label="{escape(title)}">', f"<title>{escape(title)}</title>"]
    for i, it in enumerate(items):
        y = i * rowh + 5
        w = (float(it["value"]) / maxv) * 330 if maxv else 0
        label = str(it["label"])
        out.append(f'<a href="{escape(it["href"])}"><title>{escape(label)}</title>'
                   f'<text x="0" y="{y + 18}">{escape(short_label(label))}</text>'
                   f'<rect class="bar {escape(it.get("cls") or "")}" x="200" y="{y + 4}" '
                   f'width="{_num(max(w, 1))}" height="{rowh - 10}" rx="3"></rect>'
                   f'<text class="value" x="{_num(206 + w)}" y="{y + 18}">{escape(it["text"])}</text></a>')
    out.append("</svg>")
    return Markup("".join(out))


def web_columns(items: list[dict], title: str) -> Markup:
    """Monthly columns (``month`` YYYY-MM, ``value``, ``href``, ``text``: the value shown)."""
    maxv = max((float(it["value"]) for it in items), default=0) or 0
    slot = 600 / len(items) if items else 600
    out = [f'<svg class="chart" viewBox="0 0 640 240" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>", '<line class="axis" x1="30" y1="200" x2="630" y2="200"></line>']
    for i, it in enumerate(items):
        h = (float(it["value"]) / maxv) * 160 if maxv else 0
        x = 30 + i * slot
        out.append(f'<a href="{escape(it["href"])}">'
                   f'<rect class="bar bad" x="{_num(x + slot * 0.2)}" y="{_num(200 - h)}" '
                   f'width="{_num(slot * 0.6)}" height="{_num(h)}" rx="2"></rect>'
                   f'<text class="value" x="{_num(x + slot / 2)}" y="{_num(194 - h)}" text-anchor="middle">'
                   f'{escape(it["text"])}</text>'
                   f'<text x="{_num(x + slot / 2)}" y="218" text-anchor="middle">'
                   f'{escape(it["month"][2:])}</text></a>')
    out.append("</svg>")
    return Markup("".join(out))
