"""A Layout as one self-contained SVG document (no script, no external font or image).

What a reader (the tests, the HTML page) can rely on, all text escaped:
- each table: `<g class="table" id="table-N" data-table="schema.table" data-schema=...
  data-name=...>` holding `<rect class="box">` (its x, y, width, height), its header and
  one `<g class="column" data-column=NAME data-pk/data-fk="true">` per column shown;
  the table's note is its `<title>`;
- each foreign key: `<g class="edge" id="edge-N" data-name=... data-source="schema.table"
  data-target=... data-source-columns='["a", "b"]' data-target-columns=...>` (the column
  lists as JSON arrays: a column name may hold a comma) holding one `<path>`;
- each cluster: `<g class="cluster" data-cluster=NAME data-kind="schema|group">` with a
  `<rect>` around its members and its label.
"""

from __future__ import annotations

import json
import re
from html import escape

from nself.diagram.layout import (
    FONT,
    FONT_SIZE,
    HEADER,
    PAD,
    ROW,
    Layout,
    frame_label,
    marks,
    title,
)

HEADER_COLOR = "#316896"
SCHEMA_FRAME = "#8a8f98"
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def clean(text: str) -> str:
    """TEXT without the characters XML cannot hold even escaped (a quoted PostgreSQL name
    may contain them): each shown as U+FFFD."""
    return _CONTROL.sub("\ufffd", text)


def attr(value) -> str:
    return '"' + escape(clean(str(value)), quote=True) + '"'


def text(value: str) -> str:
    return escape(clean(value), quote=False)


def readable_on(color: str) -> str:
    """Black or white, whichever reads better on COLOR (#rrggbb)."""
    r, g, b = (int(color[k:k + 2], 16) for k in (1, 3, 5))
    return "#1b1f24" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#ffffff"


def header_colors(layout: Layout) -> dict[str, str]:
    """Each table's header colour: its own headercolor, else its TableGroup's colour."""
    group = {}
    for frame in layout.frames:
        if frame.cluster.color:
            group.update({m: frame.cluster.color for m in frame.cluster.members})
    return {i: box.node.color or group.get(i) or HEADER_COLOR
            for i, box in layout.boxes.items()}


def render(layout: Layout) -> str:
    """The SVG text of LAYOUT."""
    w, h = _n(layout.width), _n(layout.height)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="nself-diagram" width="{w}" '
           f'height="{h}" viewBox="0 0 {w} {h}" font-family={attr(FONT)} '
           f'font-size="{FONT_SIZE}">',
           "<style>.box{fill:#fff;stroke:#9aa3ad}.column text{fill:#1b1f24}"
           ".type{fill:#57606a}.mark{fill:#9a6700;font-weight:bold;font-size:10px}"
           ".edge path{fill:none;stroke:#6e7781;stroke-width:1.3}"
           ".edge:hover path{stroke:#cf222e;stroke-width:2.5}"
           ".cluster rect{fill-opacity:0.06;stroke-dasharray:5 3}"
           ".cluster text{font-weight:bold}</style>",
           '<defs><marker id="nself-key" viewBox="0 0 10 10" refX="9" refY="5" '
           'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
           '<path d="M0,0L10,5L0,10z" fill="#6e7781"/></marker></defs>',
           f'<rect width="{w}" height="{h}" fill="#ffffff"/>',
           '<g class="clusters">']
    for n, frame in enumerate(layout.frames):
        c = frame.cluster
        color = c.color or SCHEMA_FRAME
        label = frame_label(c)
        out.append(f'<g class="cluster" id="cluster-{n}" data-cluster={attr(c.name)} '
                   f'data-kind="{c.kind}">' + (f"<title>{text(c.note)}</title>" if c.note
                                               else "")
                   + f'<rect x="{_n(frame.x)}" y="{_n(frame.y)}" width="{_n(frame.width)}" '
                   f'height="{_n(frame.height)}" rx="8" fill="{color}" stroke="{color}"/>'
                   f'<text x="{_n(frame.x + 10)}" y="{_n(frame.y + 17)}" fill="{color}">'
                   f"{text(label)}</text></g>")
    out.append('</g><g class="edges">')
    for n, route in enumerate(layout.routes):
        e = route.edge
        d = "M{},{}".format(*map(_n, route.curves[0][0])) + "".join(
            "C{},{} {},{} {},{}".format(*map(_n, (*c1, *c2, *p1)))
            for _, c1, c2, p1 in route.curves)
        shown = (f"{e.name}: {e.source}({', '.join(e.source_columns)}) → "
                 f"{e.target}({', '.join(e.target_columns)})")
        out.append(f'<g class="edge" id="edge-{n}" data-name={attr(e.name)} '
                   f"data-source={attr(e.source)} data-target={attr(e.target)} "
                   f"data-source-columns={attr(json.dumps(e.source_columns))} "
                   f"data-target-columns={attr(json.dumps(e.target_columns))}>"
                   f'<title>{text(shown)}</title><path d="{d}" marker-end="url(#nself-key)"/>'
                   "</g>")
    out.append('</g><g class="tables">')
    colors = header_colors(layout)
    for n, (i, box) in enumerate(layout.boxes.items()):
        out.append(_table(n, box, colors[i]))
    out.append("</g></svg>\n")
    return "\n".join(out)


def _table(n: int, box, color: str) -> str:
    node = box.node
    x, y, w = box.x, box.y, box.width
    parts = [f'<g class="table" id="table-{n}" data-table={attr(node.id)} '
             f"data-schema={attr(node.schema)} data-name={attr(node.name)}>"]
    tip = "\n".join(([node.note] if node.note else [])
                    + ([f"Partitions: {', '.join(node.partitions)}"] if node.partitions else []))
    if tip:
        parts.append(f"<title>{text(tip)}</title>")
    parts.append(f'<rect class="box" x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" '
                 f'height="{_n(box.height)}" rx="4"/>')
    parts.append(f'<path class="header" d="M{_n(x)},{_n(y + HEADER)}V{_n(y + 4)}'
                 f"Q{_n(x)},{_n(y)} {_n(x + 4)},{_n(y)}H{_n(x + w - 4)}"
                 f'Q{_n(x + w)},{_n(y)} {_n(x + w)},{_n(y + 4)}V{_n(y + HEADER)}z" '
                 f'fill="{color}"/>')
    parts.append(f'<text class="name" x="{_n(x + PAD)}" y="{_n(y + HEADER / 2 + 4)}" '
                 f'font-weight="bold" fill="{readable_on(color)}">{text(title(node))}</text>')
    for at, c in enumerate(node.columns):
        top = y + HEADER + ROW * at
        base = _n(top + ROW / 2 + 4)
        flags = (' data-pk="true"' if c.pk else "") + (' data-fk="true"' if c.fk else "")
        tip = f"{c.name} {c.type}" + ("" if c.nullable else " NOT NULL") + \
            (f" DEFAULT {c.default}" if c.default else "") + (f"\n{c.note}" if c.note else "")
        parts.append(f'<g class="column" data-column={attr(c.name)}{flags}>'
                     f"<title>{text(tip)}</title>")
        if at:
            parts.append(f'<path d="M{_n(x)},{_n(top)}h{_n(w)}" stroke="#eaeef2"/>')
        mark = marks(c)
        if mark:
            parts.append(f'<text class="mark" x="{_n(x + PAD)}" y="{base}">{mark}</text>')
        parts.append(f'<text x="{_n(x + PAD + box.mark_width)}" y="{base}"'
                     + (' font-weight="bold"' if c.pk else "") + f">{text(c.name)}</text>")
        parts.append(f'<text class="type" x="{_n(x + w - PAD)}" y="{base}" '
                     f'text-anchor="end">{text(c.type)}</text></g>')
    parts.append("</g>")
    return "".join(parts)


def _n(value: float) -> str:
    """A coordinate with at most one decimal (shorter files, same picture)."""
    return f"{value:.1f}".removesuffix(".0")
