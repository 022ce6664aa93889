"""`--format html`: one self-contained page (no network) with the diagram and every table
described: columns, types, defaults, constraints, indexes, comments, the tables it
references and the tables referencing it, and a search box.

Safe whatever the schema holds: every name, type, default and comment is HTML-escaped,
the page's one script and its style are constants (they read the page, no data is put
into them), the SVG is parsed and loses any script, event attribute or javascript: link
before it is inlined, and a Content-Security-Policy lets only that one script run and
nothing be fetched. The search box filters tables by table or column name and lights the
matches up in the diagram (nself's SVG marks each table `<g data-table="schema.table">`,
its `<rect class="box">` is outlined); a click on a table goes to its description. The
page opened with `#search=WORDS` starts with that search, and a search updates the
address so that it can be shared."""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from html import escape

from nself.diagram.graph import Edge, Graph, Node
from nself.errors import OperationFailed

SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"

STYLE = """
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: #1f2328; background: #fff; }
header { position: sticky; top: 0; z-index: 2; display: flex; gap: 12px; align-items: center;
  padding: 8px 16px; background: #f6f8fa; border-bottom: 1px solid #d0d7de; }
header h1 { font-size: 16px; margin: 0; }
#nself-search { flex: 0 1 360px; padding: 5px 8px; font: inherit; border: 1px solid #8c959f;
  border-radius: 6px; }
#nself-count { color: #59636e; }
#nself-diagram { position: relative; height: 60vh; border-bottom: 1px solid #d0d7de;
  background: #fdfdfd; }
#nself-viewport { position: absolute; inset: 0; overflow: hidden; cursor: grab;
  touch-action: none; }
#nself-viewport.dragging { cursor: grabbing; }
#nself-canvas { transform-origin: 0 0; display: inline-block; }
#nself-canvas svg { display: block; }
.nself-tools { position: absolute; z-index: 1; right: 12px; top: 12px; display: flex; gap: 4px; }
.nself-tools button { font: inherit; min-width: 32px; padding: 2px 8px; border: 1px solid #8c959f;
  border-radius: 6px; background: #fff; cursor: pointer; }
.nself-empty { padding: 24px; color: #59636e; }
.nself-dim { opacity: 0.25; }
.nself-match > rect.box {
  stroke: #d1242f !important; stroke-width: 3px !important; }
#nself-tables { padding: 8px 16px 48px; }
#nself-index { columns: 16em; margin: 8px 0 16px; padding: 0; list-style: none; }
#nself-index a { text-decoration: none; }
article { border: 1px solid #d0d7de; border-radius: 8px; margin: 16px 0; padding: 8px 16px; }
article h2 { font-size: 17px; margin: 4px 0; }
.nself-show { font: inherit; font-size: 12px; font-weight: normal; margin-left: 8px;
  padding: 1px 8px; border: 1px solid #8c959f; border-radius: 6px; background: #fff;
  cursor: pointer; }
article h3 { font-size: 14px; margin: 12px 0 4px; }
article table { border-collapse: collapse; width: 100%; }
article th, article td { text-align: left; vertical-align: top; padding: 3px 8px;
  border-bottom: 1px solid #eaeef2; }
article td.type, article td.default, code { font-family: ui-monospace, Menlo, Consolas,
  monospace; font-size: 13px; }
article ul { margin: 0; padding-left: 20px; }
.keys { white-space: nowrap; font-weight: 600; color: #9a6700; }
.note { color: #59636e; white-space: pre-wrap; }
.nself-hit { background: #fff8c5; }
.nself-hidden { display: none !important; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var box = document.getElementById("nself-search");
  var count = document.getElementById("nself-count");
  var viewport = document.getElementById("nself-viewport");
  var canvas = document.getElementById("nself-canvas");
  var articles = Array.prototype.slice.call(document.querySelectorAll("article[data-table]"));
  var anchors = {}, entries = {};
  articles.forEach(function (a) { anchors[a.getAttribute("data-table")] = a.id; });
  document.querySelectorAll("#nself-index a").forEach(function (link) {
    entries[link.getAttribute("href").slice(1)] = link.parentNode;
  });

  // the diagram's element for each table (nself's SVG marks them with data-table)
  var shapes = {};
  if (canvas) {
    canvas.querySelectorAll("[data-table]").forEach(function (el) {
      (shapes[el.getAttribute("data-table")] = shapes[el.getAttribute("data-table")] || [])
        .push(el);
    });
  }

  // pan and zoom: the canvas is moved and scaled inside the viewport
  var view = { x: 0, y: 0, s: 1 };
  function apply() {
    if (canvas) {
      canvas.style.transform =
        "translate(" + view.x + "px," + view.y + "px) scale(" + view.s + ")";
    }
  }
  function zoom(factor, cx, cy) {
    var s = Math.min(8, Math.max(0.02, view.s * factor));
    view.x = cx - (cx - view.x) * (s / view.s);
    view.y = cy - (cy - view.y) * (s / view.s);
    view.s = s;
    apply();
  }
  function fit() {
    var svg = canvas && canvas.querySelector("svg");
    if (!svg) { return; }
    var w = svg.getBoundingClientRect().width / view.s;
    var h = svg.getBoundingClientRect().height / view.s;
    var vw = viewport.clientWidth, vh = viewport.clientHeight;
    if (!w || !h) { return; }
    view.s = Math.min(1, vw / w, vh / h);
    view.x = (vw - w * view.s) / 2;
    view.y = (vh - h * view.s) / 2;
    apply();
  }
  function centre(table) {
    // TABLE in the middle of the view, at least at its natural size
    var el = (shapes[table] || [])[0];
    if (!el) { return; }
    var c = canvas.getBoundingClientRect(), r = el.getBoundingClientRect();
    var cx = (r.left + r.width / 2 - c.left) / view.s;
    var cy = (r.top + r.height / 2 - c.top) / view.s;
    view.s = Math.max(view.s, 1);
    view.x = viewport.clientWidth / 2 - cx * view.s;
    view.y = viewport.clientHeight / 2 - cy * view.s;
    apply();
  }
  if (viewport && canvas) {
    viewport.addEventListener("wheel", function (e) {
      e.preventDefault();
      var v = viewport.getBoundingClientRect();
      zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - v.left, e.clientY - v.top);
    }, { passive: false });
    var drag = null;
    viewport.addEventListener("pointerdown", function (e) {
      drag = { x: e.clientX - view.x, y: e.clientY - view.y, moved: false };
      viewport.classList.add("dragging");
    });
    window.addEventListener("pointermove", function (e) {
      if (!drag) { return; }
      drag.moved = true;
      view.x = e.clientX - drag.x;
      view.y = e.clientY - drag.y;
      apply();
    });
    window.addEventListener("pointerup", function () {
      viewport.classList.remove("dragging");
      setTimeout(function () { drag = null; }, 0);
    });
    document.querySelectorAll(".nself-tools button").forEach(function (b) {
      b.addEventListener("click", function () {
        var z = b.getAttribute("data-zoom");
        if (z === "fit") { fit(); return; }
        zoom(z === "in" ? 1.25 : 0.8, viewport.clientWidth / 2, viewport.clientHeight / 2);
      });
    });
    Object.keys(shapes).forEach(function (table) {
      shapes[table].forEach(function (el) {
        el.style.cursor = "pointer";
        el.addEventListener("click", function () {
          if (drag && drag.moved) { return; }
          if (anchors[table]) { location.hash = anchors[table]; }
        });
      });
    });
  }

  document.querySelectorAll("button.nself-show").forEach(function (b) {
    b.addEventListener("click", function () {
      centre(b.closest("article").getAttribute("data-table"));
      document.getElementById("nself-diagram").scrollIntoView();
    });
  });

  function search(text) {
    var q = text.trim().toLowerCase();
    var shown = 0, first = null;
    articles.forEach(function (a) {
      var table = a.getAttribute("data-table");
      var hit = !q || (a.getAttribute("data-search") || "").indexOf(q) >= 0;
      a.classList.toggle("nself-hidden", !hit);
      if (entries[a.id]) { entries[a.id].classList.toggle("nself-hidden", !hit); }
      a.querySelectorAll("tr[data-column]").forEach(function (row) {
        row.classList.toggle("nself-hit",
          !!q && row.getAttribute("data-column").toLowerCase().indexOf(q) >= 0);
      });
      (shapes[table] || []).forEach(function (el) {
        el.classList.toggle("nself-match", !!q && hit);
        el.classList.toggle("nself-dim", !!q && !hit);
      });
      if (hit) { shown += 1; if (!first) { first = table; } }
    });
    count.textContent = q ? shown + " of " + articles.length + " tables"
                          : articles.length + " tables";
    return first;
  }
  function fromAddress() {
    var m = /^#search=(.*)$/.exec(location.hash);
    if (m) {
      box.value = decodeURIComponent(m[1]);
      centre(search(box.value));
    }
  }
  box.addEventListener("input", function () {
    search(box.value);
    history.replaceState(null, "", box.value ? "#search=" + encodeURIComponent(box.value)
                                              : location.pathname + location.search);
  });
  box.addEventListener("keydown", function (e) {
    if (e.key === "Enter") { centre(search(box.value)); }
  });
  window.addEventListener("hashchange", fromAddress);
  fit();
  search("");
  fromAddress();
})();
"""


def render(graph: Graph, svg_text: str | None) -> str:
    """The whole page for GRAPH with SVG_TEXT (the diagram, None for none) inlined."""
    anchors = {node_id: f"nself-t{n}" for n, node_id in enumerate(graph.nodes, 1)}
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    policy = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
              f"script-src 'sha256-{script_hash}'")
    diagram = (f'<div id="nself-canvas">{safe_svg(svg_text)}</div>' if svg_text
               else '<div class="nself-empty">No diagram.</div>')
    tables = len(graph.nodes)
    index = "".join(f'<li><a href="#{anchors[i]}">{escape(i)}</a></li>' for i in graph.nodes)
    articles = "".join(_article(n, graph, anchors) for n in graph.nodes.values())
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{escape(policy)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Schema: {tables} table{'' if tables == 1 else 's'}</title>
<style>{STYLE}</style>
</head>
<body>
<header><h1>Schema</h1>
<input id="nself-search" type="search" autocomplete="off"
 placeholder="Search tables and columns" aria-label="Search tables and columns">
<span id="nself-count"></span></header>
<main>
<section id="nself-diagram" aria-label="Diagram">
<div class="nself-tools"><button type="button" data-zoom="in" title="Zoom in">+</button>
<button type="button" data-zoom="out" title="Zoom out">&minus;</button>
<button type="button" data-zoom="fit" title="Fit the diagram">Fit</button></div>
<div id="nself-viewport">{diagram}</div>
</section>
<section id="nself-tables" aria-label="Tables">
<ul id="nself-index">{index}</ul>
{articles}
</section>
</main>
<script>{SCRIPT}</script>
</body>
</html>
"""


def _article(node: Node, graph: Graph, anchors: dict[str, str]) -> str:
    words = [node.id, node.name] + [c.name for c in node.columns]
    out = [f'<article id="{anchors[node.id]}" data-table="{escape(node.id)}" '
           f'data-search="{escape(chr(10).join(words).lower())}">',
           f'<h2><a href="#{anchors[node.id]}">{escape(node.id)}</a> <button type="button" '
           f'class="nself-show" title="Show this table in the diagram">in diagram</button>'
           "</h2>"]
    if node.partition_of:
        out.append(f"<p>Partition of {_link(node.partition_of, anchors)}.</p>")
    if node.partitions:
        out.append("<p>Partitions: " + ", ".join(_link(p, anchors) for p in node.partitions)
                   + ".</p>")
    if node.note:
        out.append(f'<p class="note">{escape(node.note)}</p>')
    rows = []
    for c in node.columns:
        keys = ", ".join(k for k, on in (("PK", c.pk), ("FK", c.fk), ("UK", c.unique)) if on)
        rows.append(f'<tr data-column="{escape(c.name)}"><td>{escape(c.name)}</td>'
                    f'<td class="type">{escape(c.type)}</td>'
                    f'<td>{"" if c.nullable else "NOT NULL"}</td>'
                    f'<td class="default">{escape(c.default or "")}</td>'
                    f'<td class="keys">{keys}</td>'
                    f'<td class="note">{escape(c.note or "")}</td></tr>')
    out.append("<table><thead><tr><th>Column</th><th>Type</th><th>Null</th><th>Default</th>"
               f"<th>Keys</th><th>Comment</th></tr></thead><tbody>{''.join(rows)}</tbody>"
               "</table>")
    out += _list("Constraints", [f"<code>{escape(c)}</code>" for c in node.constraints])
    out += _list("Indexes", [f"<code>{escape(i)}</code>" for i in node.indexes])
    out += _list("References", [_edge(e, e.target, e.source_columns, e.target_columns, anchors)
                                for e in graph.edges if e.source == node.id])
    out += _list("Referenced by", [_edge(e, e.source, e.target_columns, e.source_columns,
                                         anchors)
                                   for e in graph.edges if e.target == node.id])
    out.append("</article>\n")
    return "".join(out)


def _edge(edge: Edge, other: str, here: list[str], there: list[str],
          anchors: dict[str, str]) -> str:
    def cols(names: list[str]) -> str:
        return escape(", ".join(names))

    return (f"({cols(here)}) &rarr; {_link(other, anchors)} ({cols(there)}) "
            f"<code>{escape(edge.name)}</code>, on delete {escape(edge.on_delete.lower())}")


def _link(node_id: str, anchors: dict[str, str]) -> str:
    if node_id in anchors:
        return f'<a href="#{anchors[node_id]}">{escape(node_id)}</a>'
    return escape(node_id)


def _list(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    return [f"<h3>{title}</h3><ul>", "".join(f"<li>{i}</li>" for i in items), "</ul>"]


_EVENT = re.compile(r"(?i)^on")
_SCRIPTED = re.compile(r"(?i)^\s*(javascript|vbscript):")


def safe_svg(svg_text: str) -> str:
    """SVG_TEXT without scripts, event attributes, foreign HTML or links that run code, as
    text to inline in HTML (a malformed SVG is a bug in nself's renderer: OperationFailed)."""
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    try:
        root = ET.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>", "", svg_text))
    except ET.ParseError as e:
        raise OperationFailed(f"The diagram's SVG is not well-formed ({e}); this is a bug in "
                              "nself: please report it.") from e
    for parent in root.iter():
        for child in list(parent):
            if _local(child.tag) in ("script", "foreignObject", "iframe", "object", "embed"):
                parent.remove(child)
    for el in root.iter():
        for name in list(el.attrib):
            local = _local(name)
            if _EVENT.match(local) or (local == "href" and _SCRIPTED.match(el.attrib[name])):
                del el.attrib[name]
    return ET.tostring(root, encoding="unicode")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""
