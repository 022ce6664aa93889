"""A Graph as Graphviz DOT text: each table a node with an HTML-like label (one row per
column, each a port named c<N>), each foreign key an edge from its first referencing
column's port to its first referenced column's port, each cluster (as the SVG groups
them: TableGroup first, else schema) a `subgraph cluster_N`. `dot -Tsvg` draws it;
nself needs no Graphviz for its own formats."""

from __future__ import annotations

from html import escape

from nself.diagram.graph import Graph
from nself.diagram.layout import blocks, frame_label, marks, title
from nself.diagram.svg import HEADER_COLOR, SCHEMA_FRAME, clean, readable_on


def render(graph: Graph) -> str:
    """The DOT text of GRAPH (a digraph, left to right: referenced tables left)."""
    lines = ["digraph schema {",
             "  graph [rankdir=LR, splines=true, nodesep=0.4, ranksep=1.0, "
             'fontname="Helvetica", fontsize=12];',
             '  node [shape=plain, fontname="Helvetica", fontsize=11];',
             '  edge [color="#6e7781", arrowsize=0.7];']
    parts = blocks(graph)
    framed = len(parts) > 1 or any(c.kind == "group" for c, _ in parts)
    group_color = {m: c.color for c, members in parts if c.color for m in members}
    for n, (cluster, members) in enumerate(parts):
        indent = "  "
        if framed:
            color = cluster.color or SCHEMA_FRAME
            label = frame_label(cluster)
            lines.append(f"  subgraph cluster_{n} {{")
            lines.append(f"    label={_id(label)}; color={_id(color)}; fontcolor={_id(color)};"
                         " style=\"rounded,dashed\";")
            if cluster.note:
                lines.append(f"    tooltip={_id(cluster.note)};")
            indent = "    "
        for i in members:
            node = graph.nodes[i]
            color = node.color or group_color.get(i) or HEADER_COLOR
            attrs = f"label=<{_label(node, color)}>"
            if node.note:
                attrs += f", tooltip={_id(node.note)}"
            lines.append(f"{indent}{_id(i)} [{attrs}];")
        if framed:
            lines.append("  }")
    for e in graph.edges:
        source, target = graph.nodes[e.source], graph.nodes[e.target]
        tail = _port(source, e.source_columns[0])
        head = _port(target, e.target_columns[0])
        tip = (f"{e.name}: {e.source}({', '.join(e.source_columns)}) -> "
               f"{e.target}({', '.join(e.target_columns)})")
        lines.append(f"  {_id(e.source)}{tail} -> {_id(e.target)}{head} "
                     f"[tooltip={_id(tip)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _label(node, color: str) -> str:
    rows = [f'<TR><TD COLSPAN="3" BGCOLOR="{color}" ALIGN="LEFT"><FONT COLOR='
            f'"{readable_on(color)}"><B>{_html(title(node))}</B></FONT></TD></TR>']
    for at, c in enumerate(node.columns):
        name = f"<B>{_html(c.name)}</B>" if c.pk else _html(c.name)
        # Graphviz's HTML grammar refuses an empty <FONT></FONT>: an unmarked column's
        # cell is empty
        mark = f'<FONT COLOR="#9a6700">{_html(marks(c))}</FONT>' if marks(c) else ""
        rows.append(f'<TR><TD ALIGN="LEFT">{mark}</TD><TD ALIGN="LEFT" PORT="c{at}">{name}'
                    f'</TD><TD ALIGN="RIGHT"><FONT COLOR="#57606a">{_html(c.type)}</FONT>'
                    "</TD></TR>")
    return ('<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4" '
            'COLOR="#9aa3ad">' + "".join(rows) + "</TABLE>")


def _port(node, column: str) -> str:
    """`:cN` (Graphviz picks the side facing the other end) for COLUMN's row; nothing when
    the label does not show it."""
    for at, c in enumerate(node.columns):
        if c.name == column:
            return f":c{at}"
    return ""


def _html(text: str) -> str:
    """TEXT for an HTML-like label: entities for & < > " ' and nothing XML refuses."""
    return escape(clean(text), quote=True)


def _id(text: str) -> str:
    """A DOT double-quoted ID: backslashes and quotes escaped, newlines as \\n."""
    body = clean(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{body}"'
