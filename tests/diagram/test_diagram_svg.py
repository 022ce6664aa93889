"""The SVG read back with xml.etree, as a reader of the file would: every table a node
(its rows, marks and colour), every foreign key one edge from its referencing column's row
to its referenced column's row, clusters framed in their colours, notes as tooltips, boxes
apart, and every name and note escaped whatever it holds."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest
from conftest import REPO
from test_diagram_layout import generated

from nself.diagram import layout, sources, svg
from nself.diagram.graph import Cluster, Column, Edge, Graph, Node

NS = {"s": "http://www.w3.org/2000/svg"}


@dataclass
class SvgTable:
    x: float
    y: float
    width: float
    height: float
    columns: list[str]
    title: str | None
    header: str
    pk: list[str] = field(default_factory=list)
    fk: list[str] = field(default_factory=list)

    def row_y(self, column: str) -> float:
        return self.y + layout.HEADER + layout.ROW * self.columns.index(column) + layout.ROW / 2


@dataclass
class SvgEdge:
    source: str
    target: str
    source_columns: list[str]
    target_columns: list[str]
    start: tuple[float, float]
    end: tuple[float, float]


def parse_svg(text: str):
    """(tables by data-table, edges, clusters by name -> (kind, colour, title)) of an SVG."""
    root = ET.fromstring(text)
    tables, edges, clusters = {}, [], {}
    for g in root.iterfind(".//s:g[@class='table']", NS):
        rect = g.find("s:rect[@class='box']", NS)
        columns = g.findall("s:g[@class='column']", NS)
        note = g.find("s:title", NS)
        tables[g.get("data-table")] = SvgTable(
            *(float(rect.get(k)) for k in ("x", "y", "width", "height")),
            [c.get("data-column") for c in columns], note.text if note is not None else None,
            g.find("s:path[@class='header']", NS).get("fill"),
            [c.get("data-column") for c in columns if c.get("data-pk") == "true"],
            [c.get("data-column") for c in columns if c.get("data-fk") == "true"])
    for g in root.iterfind(".//s:g[@class='edge']", NS):
        numbers = [float(v) for v in re.findall(r"-?[\d.]+", g.find("s:path", NS).get("d"))]
        edges.append(SvgEdge(g.get("data-source"), g.get("data-target"),
                             json.loads(g.get("data-source-columns")),
                             json.loads(g.get("data-target-columns")),
                             (numbers[0], numbers[1]), (numbers[-2], numbers[-1])))
    for g in root.iterfind(".//s:g[@class='cluster']", NS):
        note = g.find("s:title", NS)
        clusters[g.get("data-cluster")] = (g.get("data-kind"), g.find("s:rect", NS).get("fill"),
                                           note.text if note is not None else None)
    return tables, edges, clusters


def check_svg(text: str, graph: Graph) -> tuple[dict, list, dict]:
    """TEXT draws GRAPH: one node per table with its columns, one edge per foreign key
    from the referencing row to the referenced row (on the boxes' sides), no overlap."""
    tables, edges, clusters = parse_svg(text)
    assert set(tables) == set(graph.nodes)
    for i, node in graph.nodes.items():
        assert tables[i].columns == [c.name for c in node.columns]
        assert tables[i].pk == [c.name for c in node.columns if c.pk]
        assert tables[i].fk == [c.name for c in node.columns if c.fk]
    assert [(e.source, e.source_columns, e.target, e.target_columns) for e in edges] == \
        [(e.source, e.source_columns, e.target, e.target_columns) for e in graph.edges]
    for e in edges:
        source, target = tables[e.source], tables[e.target]
        assert e.start[1] == pytest.approx(source.row_y(e.source_columns[0]), abs=0.06)
        assert e.end[1] == pytest.approx(target.row_y(e.target_columns[0]), abs=0.06)
        assert min(abs(e.start[0] - source.x), abs(e.start[0] - source.x - source.width)) < 0.06
        assert min(abs(e.end[0] - target.x), abs(e.end[0] - target.x - target.width)) < 0.06
    boxes = sorted(tables.items(), key=lambda t: t[1].x)
    for n, (a_id, a) in enumerate(boxes):
        for b_id, b in boxes[n + 1:]:
            if b.x >= a.x + a.width:
                break
            assert not (a.y < b.y + b.height and b.y < a.y + a.height), (a_id, b_id)
    return tables, edges, clusters


@pytest.mark.parametrize("dbml", ["schema.dbml", "tests/data/dbml/guides.dbml",
                                  "tests/data/dbml/rich.dbml"])
def test_guides_schemas_draw_every_table_and_foreign_key(dbml):
    """The repo's schema.dbml, the guides' schema and the rich test schema (two schemas, a
    TableGroup, a composite key, a <> junction) read back table for table, key for key."""
    graph = sources.from_dbml(REPO / dbml)
    assert graph.edges
    check_svg(svg.render(layout.layout(graph)), graph)


def test_300_tables_read_back_with_every_edge_on_its_rows():
    """The generated 300-table, ~600-key schema: all of it in the SVG, boxes apart."""
    graph = generated().graph()
    tables, edges, clusters = check_svg(svg.render(layout.layout(graph)), graph)
    assert len(tables) == 300 and len(edges) == len(graph.edges) > 550
    assert {name: kind for name, (kind, _, _) in clusters.items()} == \
        {"public": "schema", "billing": "schema", "audit": "schema"}


def test_groups_colours_and_notes():
    """A TableGroup's colour frames it and heads its tables unless a table has its own
    headercolor; the default header otherwise; notes are <title> tooltips."""
    graph = sources.from_dbml(REPO / "tests/data/dbml/rich.dbml")
    graph.clusters = [c if c.kind != "group" else Cluster(c.name, c.kind, c.members, "#e67e22",
                                                           "Orders")
                      for c in graph.clusters]
    tables, _, clusters = check_svg(svg.render(layout.layout(graph)), graph)
    assert clusters["sales"] == ("group", "#e67e22", "Orders")
    assert clusters["app"][0] == "schema"
    assert tables["public.orders"].header == "#e67e22"
    assert tables["app.users"].header == "#3498db"             # its own headercolor
    assert tables["app.users"].title == "People who log in"
    assert tables["public.products"].header == svg.HEADER_COLOR


HOSTILE = 'we<ird> & "quoted" \'name\' ]]> \x07bell'


def test_every_text_is_escaped():
    """Names, types and notes holding markup, quotes, CDATA ends and control characters
    stay text: the SVG parses, has no element they could inject, and shows them."""
    node = Node("public." + HOSTILE, "public", HOSTILE,
                [Column("id", "integer", pk=True),
                 Column("<b>col</b>", 'x"y', fk=True, note="</title><script>alert(1)</script>")],
                note="</title><script>alert(2)</script>")
    other = Node("public.other", "public", "other", [Column("id", "integer", pk=True)],
                 color="#ffffff")
    graph = Graph({node.id: node, other.id: other},
                  [Edge("fk & <x>", node.id, ["<b>col</b>"], other.id, ["id"])],
                  [Cluster("public", "schema", [node.id, other.id], note="<script>")])
    text = svg.render(layout.layout(graph))
    root = ET.fromstring(text)
    assert [el for el in root.iter() if el.tag.endswith("script")] == []
    clean_id = "public." + svg.clean(HOSTILE)
    tables, edges, _ = parse_svg(text)
    assert set(tables) == {clean_id, "public.other"}
    assert tables[clean_id].columns == ["id", "<b>col</b>"]
    assert tables[clean_id].title == "</title><script>alert(2)</script>"
    assert edges[0].source == clean_id and edges[0].source_columns == ["<b>col</b>"]
    names = [t.text for t in root.iterfind(".//s:text[@class='name']", NS)]
    assert svg.clean(HOSTILE) in names and "\ufffdbell" in svg.clean(HOSTILE)
    light = root.find(".//s:g[@data-table='public.other']/s:text[@class='name']", NS)
    assert light.get("fill") != "#ffffff"       # dark text on a white header


def test_an_empty_graph_is_a_valid_svg():
    """No tables: a valid, empty picture."""
    tables, edges, clusters = parse_svg(svg.render(layout.layout(Graph())))
    assert tables == {} and edges == [] and clusters == {}
