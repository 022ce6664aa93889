"""`--format mermaid`: erDiagram blocks that each stay under Mermaid's 50,000-character
limit and that the subset of Mermaid's grammar nself writes accepts (checked here by a
line grammar written from Mermaid's erDiagram.jison), whatever the names."""

from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import REPO
from test_diagram_html import browser  # noqa: F401 - the chromium fixture

from nself.cli import program
from nself.diagram import mermaid
from nself.diagram.graph import Cluster, Column, Edge, Graph, Node, from_schema
from nself.errors import UsageError
from nself.schema.dbml import parse_dbml
from nself.schema.introspect import introspect

# --- the grammar nself writes: every line one of these, nothing else
# (Mermaid 10+: ENTITY_NAME is "[^"%\r\n\v\b\\]+"; an attribute word is
# [*A-Za-z_][A-Za-z0-9\-_\[\]()]* and is not PK/FK/UK at a word boundary; a comment is "[^"]*";
# cardinalities ||, |o on the left, o|, o{ on the right; -- or .. between)
ENTITY = r'"[^"%\r\n\v\b\\]+"'
WORD = r"[A-Za-z_][A-Za-z0-9_\-\[\]()]*"
KEYS = r"(?:PK|FK|UK)(?:, (?:PK|FK|UK))*"
LINES = {
    "open": re.compile(rf"^  (?P<entity>{ENTITY}) \{{$"),
    "attribute": re.compile(rf'^    (?P<type>{WORD}) (?P<name>{WORD})(?: (?P<keys>{KEYS}))?'
                            r'(?: "(?P<comment>[^"\n]*)")?$'),
    "close": re.compile(r"^  \}$"),
    "bare": re.compile(rf"^  (?P<entity>{ENTITY})$"),
    "relationship": re.compile(rf"^  (?P<parent>{ENTITY}) (?P<left>\|\||\|o)(?P<line>--|\.\.)"
                               rf'(?P<right>o\||o\{{) (?P<child>{ENTITY}) : "(?P<label>[^"\n]*)"$'),
}
KEY_WORD = re.compile(r"(?i)(pk|fk|uk)\b")


@dataclass
class Parsed:
    entities: dict[str, list[dict]] = field(default_factory=dict)   # name -> attributes
    relationships: list[dict] = field(default_factory=list)


def parse_block(text: str) -> Parsed:
    """TEXT read by the grammar above; an AssertionError naming the first line it refuses.
    Also what Mermaid would misread though it lexes: a PK/FK/UK word, `%%` anywhere."""
    assert mermaid.size(text) < mermaid.LIMIT
    assert "%%" not in text
    lines = text.split("\n")
    assert lines[0] == "erDiagram" and lines[-1] == "", lines[:1]
    found, current = Parsed(), None
    for number, line in enumerate(lines[1:-1], 2):
        kind, match = next(((k, m) for k, r in LINES.items() if (m := r.match(line))),
                           (None, None))
        assert kind is not None, f"line {number} is not in the grammar: {line!r}"
        if current is None:
            assert kind in ("open", "bare", "relationship"), f"line {number}: {line!r}"
        else:
            assert kind in ("attribute", "close"), f"line {number}: {line!r}"
        if kind in ("open", "bare"):
            name = match["entity"]
            assert name not in found.entities, f"{name} twice"
            found.entities[name] = []
            current = name if kind == "open" else None
        elif kind == "attribute":
            for w in (match["type"], match["name"]):
                assert not KEY_WORD.match(w), f"line {number}: {w!r} reads as a key mark"
            found.entities[current].append(match.groupdict())
        elif kind == "close":
            assert found.entities[current], f"line {number}: an empty block"
            current = None
        else:
            found.relationships.append(match.groupdict())
    assert current is None, "a block is not closed"
    for r in found.relationships:
        assert r["parent"] in found.entities and r["child"] in found.entities, r
    return found


# --- 300 tables with long names, from a live database

def _long(k: int, what: str) -> str:
    tail = "with_a_rather_long_descriptive_name_for_its_purpose_and_more_words"
    return f"{what}_{k:03d}_{tail}"[:63]


def _create_300(db) -> None:
    statements = ["CREATE SCHEMA reporting_and_analytics_of_the_whole_organisation"]
    for k in range(300):
        schema = "public" if k < 240 else "reporting_and_analytics_of_the_whole_organisation"
        table = _long(k, "tbl")
        refs = [j for j in (k - 1, k // 2 - 1, (k * 7) % 240) if 0 <= j < k][:2]
        cols = ['id bigint PRIMARY KEY',
                f'"{_long(k, "label")}" character varying(255) NOT NULL',
                f'"{_long(k, "amount")}" numeric(12,4)',
                f'"{_long(k, "created")}" timestamp(3) with time zone DEFAULT now()',
                f'"{_long(k, "tags")}" text[]']
        for n, j in enumerate(refs):
            target = ("public" if j < 240 else
                      "reporting_and_analytics_of_the_whole_organisation") + f".{_long(j, 'tbl')}"
            null = " NOT NULL" if n == 0 else ""
            cols.append(f'"{_long(k, f"ref{n}")}" bigint{null} REFERENCES {target}')
        statements.append(f"CREATE TABLE {schema}.{table} ({', '.join(cols)})")
        statements.append(f"COMMENT ON COLUMN {schema}.{table}.\"{_long(k, 'label')}\" IS "
                          f"'what the customer sees, \"quoted\" 100% of the time'")
    db.query(";\n".join(statements))


def _graph(db):
    with db.connect() as conn:
        return from_schema(introspect(conn))


def test_300_tables_with_long_names_split_into_valid_blocks(db):
    """300 tables (two schemas, 63-character names, ~470 foreign keys): every block under
    the limit and in the grammar, every table drawn whole in exactly one block and every
    foreign key once, in its referencing table's block, to a stub that names the block
    holding the referenced table."""
    _create_300(db)
    graph = _graph(db)
    assert len(graph.nodes) == 300 and len(graph.edges) > 400
    found = mermaid.blocks(graph)
    assert len(found) > 2
    names = {}
    for node_id, node in graph.nodes.items():
        names[node_id] = f'"{node.name}"' if node.schema == "public" else f'"{node_id}"'
    whole: dict[str, int] = {}
    edges_seen = []
    for number, block in enumerate(found, 1):
        parsed = parse_block(block.text)
        assert len({graph.nodes[t].schema for t in block.tables}) == 1   # by schema first
        for t in block.tables:
            assert t not in whole
            whole[t] = number
            attrs = parsed.entities[names[t]]
            assert len(attrs) == len(graph.nodes[t].columns)
        for stub in block.stubs:
            attrs = parsed.entities[names[stub]]
            assert all(a["comment"].startswith("in block ") for a in attrs)
        edges_seen += [(number, r) for r in parsed.relationships]
    assert set(whole) == set(graph.nodes)
    for block in found:
        parsed = parse_block(block.text)
        for stub in block.stubs:
            assert {a["comment"] for a in parsed.entities[names[stub]]} == \
                {f"in block {whole[stub]}"}
    assert len(edges_seen) == len(graph.edges)
    by_name = {v: k for k, v in names.items()}
    drawn = sorted((by_name[r["parent"]], by_name[r["child"]], n) for n, r in edges_seen)
    assert drawn == sorted((e.target, e.source, whole[e.source]) for e in graph.edges)
    page = mermaid.render(graph, None)
    assert page.count("```mermaid\n") == len(found)
    for n in range(1, len(found) + 1):
        assert f"- [Block {n}](#block-{n})" in page and f"\n## Block {n}\n" in page


HOSTILE_SQL = r"""
CREATE SCHEMA x;
CREATE SCHEMA "Odd ""Schema"" 100%";
CREATE TYPE "Odd ""Schema"" 100%"."My Type" AS ENUM ('a');
CREATE DOMAIN x.short_text AS varchar(10);
CREATE TABLE one (id integer PRIMARY KEY);
CREATE TABLE u (id integer PRIMARY KEY, one_id integer NOT NULL REFERENCES one);
CREATE TABLE "1" (id integer PRIMARY KEY, u_id integer REFERENCES u);
CREATE TABLE many (id integer PRIMARY KEY, "1_id" integer UNIQUE REFERENCES "1");
CREATE TABLE "a""b" ("pk" integer PRIMARY KEY, "FK" integer REFERENCES many);
CREATE TABLE "100%%{init: {}}%%" ("uk-x" integer PRIMARY KEY, "1st" "char");
CREATE TABLE "back\slash" ("created at" timestamp(3) with time zone PRIMARY KEY);
CREATE TABLE "<b>bold</b>" ("größe" numeric(10,2) PRIMARY KEY, v x.short_text);
CREATE TABLE "x.y" (id integer PRIMARY KEY);
CREATE TABLE x.y (id integer PRIMARY KEY REFERENCES "x.y", m "Odd ""Schema"" 100%"."My Type",
                  tags integer[], "line
break" text);
CREATE TABLE "Odd ""Schema"" 100%".t ("to" integer PRIMARY KEY REFERENCES x.y);
COMMENT ON COLUMN x.y.tags IS 'has "quotes", %% and
a second line';
"""


def test_names_mermaid_cannot_take_are_written_so_it_can(db):
    """Keywords of the relationship syntax (one, u, 1, many, to), quotes, %, backslashes,
    tags, dots, spaces, non-ASCII letters, newlines and PK/FK/UK as names, and types with
    spaces, commas, quotes and schemas: the block is in the grammar, every entity has its
    own name and every column its real name (as the word or in the comment)."""
    db.query(HOSTILE_SQL)
    graph = _graph(db)
    found = mermaid.blocks(graph)
    assert [b.title for b in found] == ['schema Odd "Schema" 100%', "schema public",
                                        "schema x"]
    whole, relationships = {}, 0
    for block in found:
        parsed = parse_block(block.text)
        relationships += len(parsed.relationships)
        stubs = {f'"{mermaid.text(s if not s.startswith("public.") else s[7:])}"'
                 for s in block.stubs}
        whole.update({name: attrs for name, attrs in parsed.entities.items()
                      if name not in stubs})
    assert len(whole) == len(graph.nodes) and relationships == len(graph.edges) == 6
    assert {'"one"', '"u"', '"1"', '"many"', "\"a'b\"", '"‹b›bold‹/b›"', '"100％％{init: {}}％％"',
            '"back∖slash"', '"x.y"', '"x.y (2)"', "\"Odd 'Schema' 100％.t\""} <= set(whole)
    attrs = [a for attrs in whole.values() for a in attrs]
    for node in graph.nodes.values():
        for c in node.columns:
            assert any(a["name"] == c.name or (a["comment"] or "").startswith(
                mermaid.text(c.name)) for a in attrs), c.name
    types = {a["type"] for a in attrs}
    assert {"numeric(10_2)", "timestamp(3)_with_time_zone", "integer[]", "char",
            "x_short_text"} <= types
    assert any(t.endswith("My_Type") for t in types)
    assert any(a["name"] == "_pk" and a["keys"] == "PK" and a["comment"] == "pk" for a in attrs)


CARDINALITY_DBML = """
Table users {
  id int [pk]
}
Table posts {
  id int [pk]
  author_id int [not null, ref: > users.id]
  editor_id int [ref: > users.id]
}
Table profiles {
  user_id int [pk, ref: - users.id]
}
Table avatars {
  id int [pk]
  user_id int [unique, not null, ref: > users.id]
}
Table tags {
  post_id int [not null, ref: > posts.id]
  name text [not null]
  indexes { (post_id, name) [pk] }
}
Table seats {
  event_id int [not null]
  seat_no int [not null]
  indexes { (event_id, seat_no) [pk] }
}
Table tickets {
  id int [pk]
  event_id int [not null]
  seat_no int [not null]
  indexes { (event_id, seat_no) [unique] }
}
Ref: tickets.(event_id, seat_no) > seats.(event_id, seat_no)
"""


def test_cardinality_follows_nullability_and_uniqueness():
    """NOT NULL -> exactly one parent, NULL -> zero or one; a unique or primary-key
    referencing column -> at most one child, else many; in the primary key -> solid."""
    graph = from_schema(parse_dbml(CARDINALITY_DBML))
    text = mermaid.blocks(graph)[0].text
    assert '"users" ||..o{ "posts" : "author_id"' in text
    assert '"users" |o..o{ "posts" : "editor_id"' in text
    assert '"users" ||--o| "profiles" : "user_id"' in text
    assert '"users" ||..o| "avatars" : "user_id"' in text
    assert '"posts" ||--o{ "tags" : "post_id"' in text
    assert '"seats" ||..o| "tickets" : "event_id, seat_no"' in text
    parse_block(text)


def _wide_graph(tables: int = 60, columns: int = 12) -> Graph:
    """A chain of TABLES tables (each references the one before), COLUMNS commented columns
    each (built directly: parsing a DBML this size takes seconds)."""
    graph = Graph()
    for k in range(tables):
        cols = [Column("id", "integer", pk=True, nullable=False)]
        if k:
            cols.append(Column("parent_id", "integer", fk=True))
            graph.edges.append(Edge(f"t{k}_parent_id_fkey", f"public.t{k}", ["parent_id"],
                                    f"public.t{k - 1}", ["id"]))
        cols += [Column(f"column_number_{c}_of_table_{k}", "character varying(200)",
                        note=f"column {c} of table {k}") for c in range(columns)]
        graph.nodes[f"public.t{k}"] = Node(f"public.t{k}", "public", f"t{k}", cols)
    graph.clusters = [Cluster("public", "schema", list(graph.nodes))]
    return graph


def test_any_limit_is_kept():
    """With a small limit the same schema is cut into more blocks, each under it."""
    graph = _wide_graph()
    for limit in (4_000, 12_000, 50_000):
        found = mermaid.blocks(graph, limit)
        assert all(mermaid.size(b.text) < limit for b in found)
        assert sorted(t for b in found for t in b.tables) == sorted(graph.nodes)
    assert len(mermaid.blocks(graph, 4_000)) > len(mermaid.blocks(graph, 12_000)) > 1


def test_a_table_wider_than_a_block_is_cut_short_and_says_so():
    """A 3,000-column table cannot fit one block: its key columns and what fits are drawn,
    then an `omitted N_more_columns` line."""
    graph = _wide_graph(tables=2, columns=3000)
    found = mermaid.blocks(graph)
    for block in found:
        parsed = parse_block(block.text)
        omitted = [a for attrs in parsed.entities.values() for a in attrs
                   if a["type"] == "omitted"]
        assert len(omitted) == 1 and omitted[0]["name"].endswith("_more_columns")
    assert "PK" in found[0].text and "FK" in found[-1].text


def test_size_counts_what_javascript_counts():
    """Mermaid's limit is on a JavaScript string's length: an emoji counts two."""
    assert mermaid.size("a") == 1 and mermaid.size("é") == 1 and mermaid.size("🐘") == 2


def test_output_files(tmp_path):
    """--output FILE.md: one page while the blocks are few, else FILE.md linking FILE-N.md
    pages; FILE.mmd: the bare diagram, refused naming FILE.md when it needs more blocks."""
    small = from_schema(parse_dbml(CARDINALITY_DBML))
    summary = mermaid.render(small, tmp_path / "d.md")
    assert summary == f"Wrote {tmp_path / 'd.md'}: 7 tables."
    assert (tmp_path / "d.md").read_text().count("```mermaid") == 1
    mermaid.render(small, tmp_path / "d.mmd")
    parse_block((tmp_path / "d.mmd").read_text())

    big = _wide_graph(tables=400, columns=12)
    found = mermaid.blocks(big)
    assert len(found) > mermaid.BLOCKS_PER_PAGE
    summary = mermaid.render(big, tmp_path / "big.md")
    pages = -(-len(found) // mermaid.BLOCKS_PER_PAGE)
    assert summary == f"Wrote {tmp_path / 'big.md'} and the {pages} pages it links: 400 tables."
    index = (tmp_path / "big.md").read_text()
    blocks_written = 0
    for p in range(1, pages + 1):
        assert f"[big-{p}.md](big-{p}.md)" in index
        page = (tmp_path / f"big-{p}.md").read_text()
        assert "[All pages](big.md)" in page
        for text in re.findall(r"```mermaid\n(.*?)```", page, re.S):
            parse_block(text)
            blocks_written += 1
    assert blocks_written == len(found)
    with pytest.raises(UsageError, match=r"needs \d+ Mermaid blocks .* \(--output big\.md\)"):
        mermaid.render(big, tmp_path / "big.mmd")
    assert not (tmp_path / "big.mmd").exists()


def mermaid_scripts() -> list[Path]:
    """The mermaid.min.js files named by MERMAID_JS (paths joined by ':'; .ci/run installs
    Mermaid 10 and 11 with npm)."""
    return [Path(p) for p in os.environ.get("MERMAID_JS", "").split(":") if p]


def test_blocks_render_in_mermaid_itself(db, browser):  # noqa: F811 - the fixture
    """Mermaid's own parser and renderer, in chromium, take every block the grammar above
    takes: hostile names, tables cut short, every cardinality; each entity is drawn."""
    scripts = [p for p in mermaid_scripts() if p.is_file()]
    if not scripts:
        reason = "MERMAID_JS names no mermaid.min.js (npm install mermaid@11; .ci/run does)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    db.query(HOSTILE_SQL)
    found = (mermaid.blocks(_graph(db))
             + mermaid.blocks(from_schema(parse_dbml(CARDINALITY_DBML)))
             + mermaid.blocks(_wide_graph(tables=2, columns=300), limit=6_000))
    for script in scripts:
        browser.open("about:blank")
        browser.js(script.read_text() + ";0")
        browser.js("mermaid.initialize({startOnLoad: false, securityLevel: 'strict'}); 0")
        for n, block in enumerate(found):
            result = browser.call(
                "Runtime.evaluate", session=True, awaitPromise=True, returnByValue=True,
                expression=f"""(async () => {{
                    const text = {json.dumps(block.text)};
                    try {{ await mermaid.parse(text); }}
                    catch (e) {{ return 'parse: ' + (e.message || String(e)); }}
                    return (await mermaid.render('d{n}', text)).svg; }})()""")
            svg = result["result"]["value"]
            assert not svg.startswith("parse: "), (script, block.text, svg)
            for entity in parse_block(block.text).entities:
                assert html.escape(entity[1:-1], quote=False) in svg, (script, entity)


def test_the_command_prints_writes_and_refuses(project):
    """`nself db schema diagram` on a 300-table database: --format mermaid prints every
    block; --output FILE.md writes them; --output FILE.mmd is one line naming FILE.md,
    exit 2, nothing written."""
    _create_300(project.db)
    result = project.run("db", "schema", "diagram", "--format", "mermaid")
    assert result.code == 0, result
    printed = re.findall(r"```mermaid\n(.*?)```", result.out, re.S)
    assert len(printed) > 2
    assert sum(len(parse_block(text).relationships) for text in printed) == \
        len(_graph(project.db).edges)
    result = project.run("db", "schema", "diagram", "--output", "schema.md")
    assert result.code == 0 and "schema.md" in result.out, result
    assert re.findall(r"```mermaid\n(.*?)```", (project.root / "schema.md").read_text(),
                      re.S) == printed
    result = project.run("db", "schema", "diagram", "--output", "schema.mmd")
    assert result.code == 2 and result.out == "", result
    assert len(result.err.strip().splitlines()) == 1
    assert f"needs {len(printed)} Mermaid blocks" in result.err
    assert "(--output schema.md)" in result.err
    assert not (project.root / "schema.mmd").exists()


def test_the_repositorys_mermaid_picture_is_current(tmp_path, monkeypatch, capsys):
    """docs/schema.md is what the README's command writes from schema.dbml today."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "schema.dbml").write_text((REPO / "schema.dbml").read_text())
    code = program.run(["nself", "db", "schema", "diagram", "--from", "schema.dbml",
                        "--output", "schema.md"], exit=False)
    assert code == 0, capsys.readouterr()
    assert (tmp_path / "schema.md").read_text() == (REPO / "docs" / "schema.md").read_text(), \
        "regenerate: nself db schema diagram --from schema.dbml --output docs/schema.md"
