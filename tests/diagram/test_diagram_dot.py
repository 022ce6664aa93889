"""`--format dot`: Graphviz text that Graphviz's own grammar accepts (pydot's parser, and
`dot -Tsvg` itself when Graphviz is installed), with one node per table whose HTML-like
label is well-formed and has a port per column, one edge per foreign key between the
right ports, and a cluster per frame."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
import xml.etree.ElementTree as ET

import pydot
import pyparsing as pp
import pytest
from conftest import REPO
from test_diagram_layout import generated
from test_diagram_svg import HOSTILE

from nself.diagram import dot, sources
from nself.diagram.graph import Column, Edge, Graph, Node


def check_dot(text: str, graph: Graph) -> pydot.Dot:
    """TEXT parses as DOT and holds GRAPH: nodes, ports, edges between the right ports."""
    # what Graphviz's HTML grammar refuses and pydot does not check: empty font/bold text
    assert re.search(r"<(FONT|B)( [^>]*)?></\1>", text) is None
    (parsed,) = parse_dot(text)
    nodes = {}
    for holder in [parsed, *parsed.get_subgraphs()]:
        for node in holder.get_nodes():
            if node.get_name() in ("node", "edge", "graph"):
                continue
            label = node.get("label")
            assert label.startswith("<") and label.endswith(">")
            table = ET.fromstring(label[1:-1])      # HTML-like labels are XML
            ports = {td.get("PORT"): "".join(td.itertext()) for td in table.iter("TD")
                     if td.get("PORT")}
            nodes[_unquote(node.get_name())] = ports
    assert set(nodes) == {_plain(i) for i in graph.nodes}
    for i, node in graph.nodes.items():
        assert nodes[_plain(i)] == {f"c{n}": _plain(c.name) for n, c in enumerate(node.columns)}
    found = []
    for e in parsed.get_edges():
        source, _, tail = _unquote(e.get_source()).rpartition(":")
        target, _, head = _unquote(e.get_destination()).rpartition(":")
        found.append((source, tail, target, head))
    expected = []
    for e in graph.edges:
        s, t = graph.nodes[e.source], graph.nodes[e.target]
        tail = [c.name for c in s.columns].index(e.source_columns[0])
        head = [c.name for c in t.columns].index(e.target_columns[0])
        expected.append((_plain(e.source), f"c{tail}", _plain(e.target), f"c{head}"))
    assert found == expected
    return parsed


def parse_dot(text: str) -> list[pydot.Dot]:
    """pydot's parse of TEXT, its grammar built with pyparsing's usual whitespace (pydbml,
    which nself imports, makes newlines significant for every grammar built after it)."""
    saved = pp.ParserElement.DEFAULT_WHITE_CHARS
    pp.ParserElement.set_default_whitespace_chars(" \n\t\r")
    try:
        with warnings.catch_warnings():     # pydot 4 calls pyparsing's pre-3 names
            warnings.simplefilter("ignore", DeprecationWarning)
            return pydot.graph_from_dot_data(text)
    finally:
        pp.ParserElement.set_default_whitespace_chars(saved)


def _unquote(text: str) -> str:
    """A pydot name ("a.b":c0 or "a.b") as it is meant: quotes and escapes removed."""
    return re.sub(r'"((?:[^"\\]|\\.)*)"', lambda m: m.group(1).replace('\\"', '"')
                  .replace("\\\\", "\\"), text)


def _plain(name: str) -> str:
    from nself.diagram.svg import clean

    return clean(name)


@pytest.mark.parametrize("dbml", ["schema.dbml", "tests/data/dbml/rich.dbml"])
def test_dot_of_the_guides_schemas_parses(dbml):
    """The repo's schema and the rich one (a TableGroup, two schemas): valid DOT, clusters
    named after the frames."""
    graph = sources.from_dbml(REPO / dbml)
    parsed = check_dot(dot.render(graph), graph)
    labels = sorted(_unquote(s.get("label")) for s in parsed.get_subgraphs())
    if "rich" in dbml:
        assert labels == ["sales", "schema app", "schema public"]
    else:
        assert labels == []


def test_dot_of_a_generated_schema_parses():
    """A generated 30-table schema (cycles, self-references, three schemas): every table
    and key in the DOT text."""
    graph = generated(30, 60, seed=2, loners=3).graph()
    check_dot(dot.render(graph), graph)


def test_dot_escapes_names_and_notes():
    """Quotes, backslashes, markup and newlines in names and notes stay inside their IDs
    and labels."""
    name = HOSTILE + " back\\slash"
    node = Node("public." + name, "public", name,
                [Column("id", "integer", pk=True), Column('a"b<c>', "x&y", fk=True)],
                note='line one\nline "two" \\')
    other = Node("public.other", "public", "other", [Column("id", "integer", pk=True)])
    graph = Graph({node.id: node, other.id: other},
                  [Edge('fk "x"', node.id, ['a"b<c>'], other.id, ["id"])])
    check_dot(dot.render(graph), graph)


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's dot is not installed: pydot's grammar checks the text")
def test_graphviz_draws_it():
    """`dot -Tsvg` accepts the text (HTML-like labels, ports, clusters) without a warning."""
    graph = sources.from_dbml(REPO / "tests/data/dbml/rich.dbml")
    done = subprocess.run(["dot", "-Tsvg"], input=dot.render(graph), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.count('class="node"') == len(graph.nodes)
