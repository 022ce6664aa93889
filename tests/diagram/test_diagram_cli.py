"""`nself db schema diagram` end to end: from the live database on each server and from a
DBML file, every format (by --format or by --output's ending), the views, the atomic
write, and the user's mistakes as one clear line with exit 2 and nothing written."""

from __future__ import annotations

import io
import shutil
import xml.etree.ElementTree as ET

import pytest
from conftest import REPO, Result
from PIL import Image
from test_diagram_layout import generated
from test_diagram_svg import check_svg, parse_svg
from test_schema_introspect import RICH_SQL

from nself.cli import program
from nself.diagram import sources
from nself.diagram.graph import from_schema
from nself.errors import USAGE
from nself.schema.introspect import introspect


def live_graph(db):
    """DB's diagram as the command draws it (partitions folded into their tables)."""
    with db.connect() as conn:
        return from_schema(introspect(conn)).fold_partitions()


@pytest.fixture
def run_here(tmp_path, monkeypatch, capsys):
    """`nself ARGV` in-process in a folder with the repo's schema.dbml and no database."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "schema.dbml").write_text((REPO / "schema.dbml").read_text())

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = program.run(["nself", *argv], exit=False)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def test_live_database_to_svg_file(project):
    """The live database's diagram (tables in two schemas, composite and self references)
    written to --output: every table and foreign key, the summary line."""
    project.db.query(RICH_SQL)
    graph = live_graph(project.db)
    result = project.run("db", "schema", "diagram", "--output", "schema.svg")
    assert result.code == 0, result
    assert result.out == (f"✓ Diagram written: schema.svg (SVG, {len(graph.nodes)} tables, "
                          f"{len(graph.edges)} foreign keys)\n")
    check_svg((project.root / "schema.svg").read_text(), graph)


def test_live_300_tables_to_stdout(project):
    """A 300-table live database with ~600 foreign keys: the SVG on stdout holds all."""
    project.db.query(generated().sql)
    result = project.run("db", "schema", "diagram")
    assert result.code == 0, result.err
    tables, edges, _ = check_svg(result.out, live_graph(project.db))
    assert len(tables) == 300 and len(edges) > 550


def test_live_views(project):
    """--schema, --around with --depth, and --keys-only narrow the live diagram."""
    project.db.query(RICH_SQL)
    graph = live_graph(project.db)
    schema = next(n.schema for n in graph.nodes.values() if n.schema != "public")
    result = project.run("db", "schema", "diagram", "--schema", schema)
    assert result.code == 0, result
    tables, _, _ = parse_svg(result.out)
    assert set(tables) == {i for i, n in graph.nodes.items() if n.schema == schema}
    hub = max(graph.nodes, key=lambda i: sum(i in (e.source, e.target) for e in graph.edges))
    for depth in ("0", "1", "2"):
        result = project.run("db", "schema", "diagram", "--around", hub, "--depth", depth)
        assert result.code == 0, result
        tables, edges, _ = parse_svg(result.out)
        assert set(tables) == set(graph.around(hub, int(depth)).nodes)
    result = project.run("db", "schema", "diagram", "--keys-only", "--format", "dot")
    assert result.code == 0, result
    keys = graph.keys_only()
    assert result.out.count("PORT=") == sum(len(n.columns) for n in keys.nodes.values())


def test_from_dbml_every_format(run_here, tmp_path):
    """--from schema.dbml in each format, chosen by the output's ending or by --format."""
    graph = sources.from_dbml(tmp_path / "schema.dbml")
    result = run_here("db", "schema", "diagram", "--from", "schema.dbml")
    assert result.code == 0, result
    check_svg(result.out, graph)
    for name, check in (("d.svg", lambda b: check_svg(b.decode(), graph)),
                        ("d.png", lambda b: Image.open(io.BytesIO(b)).verify()),
                        ("d.html", lambda b: b.startswith(b"<!DOCTYPE html>")
                         and b"data-table=\"public.posts\"" in b or pytest.fail("html")),
                        ("d.dot", lambda b: b.startswith(b"digraph schema {") or
                         pytest.fail("dot")),
                        ("d.md", lambda b: b"erDiagram" in b or pytest.fail("md"))):
        result = run_here("db", "schema", "diagram", "--from", "schema.dbml", "--output", name)
        assert result.code == 0, result
        assert name in result.out
        check((tmp_path / name).read_bytes())
    result = run_here("db", "schema", "diagram", "--from", "schema.dbml", "--format", "dot")
    assert result.code == 0 and result.out.startswith("digraph schema {")
    result = run_here("db", "schema", "diagram", "--from", "schema.dbml", "--format", "SVG",
                      "--output", "picture.txt")
    assert result.code == 0 and ET.fromstring((tmp_path / "picture.txt").read_text())


def test_the_svg_is_the_same_every_run(run_here):
    """Two runs over the same file print the same bytes (a diff in review means a change)."""
    first = run_here("db", "schema", "diagram", "--from", "schema.dbml")
    second = run_here("db", "schema", "diagram", "--from", "schema.dbml")
    assert first.code == 0 and first.out == second.out


@pytest.mark.parametrize("argv, message", [
    (["--around", "nope"], "No table named 'nope' in the schema."),
    (["--schema", "nope"], "No table is in schema 'nope'"),
    (["--format", "jpeg"], "--format must be one of svg, png, mermaid, html, dot, not 'jpeg'."),
    (["--output", "d.jpeg"], "Cannot tell the format from 'd.jpeg'"),
    (["--format", "png"], "--format png writes a file: add --output FILE.png."),
    (["--depth", "2"], "--depth goes with --around TABLE"),
    (["--around", "users", "--depth", "two"], "--depth must be a whole number, not 'two'."),
    (["--around", "users", "--depth", "-1"], "--depth must be 0 or more, not -1."),
    (["--output", "missing/d.svg"], "Cannot write missing/d.svg: the folder missing does not "
                                    "exist."),
    (["--output", "."], "Cannot write .: it is a folder."),
    (["--engine", "neato"], "--engine must be nself or dot, not 'neato'."),
    (["--engine", "dot", "--format", "dot"], "--engine dot draws svg and png only."),
])
def test_mistakes_are_one_line_exit_2_and_nothing_written(run_here, tmp_path, argv, message):
    """Each mistake: exit 2, one line on stderr naming the fix, no output, d.svg untouched."""
    (tmp_path / "d.svg").write_text("old")
    result = run_here("db", "schema", "diagram", "--from", "schema.dbml", *argv)
    assert result.code == USAGE, result
    assert message in result.err and result.err.count("\n") == 1 and result.out == ""
    assert (tmp_path / "d.svg").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.svg", "schema.dbml"]


def test_a_dbml_file_with_problems_or_missing(run_here, tmp_path):
    """--from a file with problems lists them (exit 2) and writes nothing; a missing file
    is named."""
    (tmp_path / "bad.dbml").write_text("Table t {\n  id int [pk]\n  x nosuchtype\n}\n")
    result = run_here("db", "schema", "diagram", "--from", "bad.dbml", "--output", "d.svg")
    assert result.code == USAGE and "bad.dbml" in result.err and "nosuchtype" in result.err
    assert not (tmp_path / "d.svg").exists()
    result = run_here("db", "schema", "diagram", "--from", "none.dbml")
    assert result.code == USAGE and "none.dbml" in result.err and result.out == ""


def test_unreachable_database_is_a_clear_error(run_here, monkeypatch, tmp_path):
    """Without --from, a database that cannot be reached: its exit code, one line, no file."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    (tmp_path / "migrations").mkdir()
    result = run_here("db", "schema", "diagram", "--output", "d.svg")
    assert result.code not in (0, USAGE) and result.err.count("\n") == 1
    assert not (tmp_path / "d.svg").exists()


def test_help_names_every_flag(run_here):
    """`--help` describes every flag."""
    result = run_here("db", "schema", "diagram", "--help")
    assert result.code == 0
    for flag in ("--from", "--format", "--output", "--keys-only", "--around", "--depth",
                 "--schema", "--engine"):
        assert flag in result.out


def test_engine_dot_needs_graphviz_or_uses_it(run_here, tmp_path, monkeypatch):
    """--engine dot: with Graphviz's dot missing from PATH, a one-line error naming how to
    install it or to leave the flag out; with a `dot` on PATH, its output is written."""
    cat = shutil.which("cat")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    result = run_here("db", "schema", "diagram", "--from", "schema.dbml", "--engine", "dot")
    assert result.code == USAGE and "--engine dot needs Graphviz's `dot` on PATH" in result.err
    fake = tmp_path / "bin" / "dot"      # stands in for Graphviz: echoes what it was given
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho \"<svg format=$1>\"\n{cat}\n")
    fake.chmod(0o755)
    result = run_here("db", "schema", "diagram", "--from", "schema.dbml", "--engine", "dot",
                      "--output", "g.svg")
    assert result.code == 0, result
    written = (tmp_path / "g.svg").read_text()
    assert written.startswith("<svg format=-Tsvg>\ndigraph schema {")


def test_inv_runs_it_too(tmp_path):
    """`inv db.schema.diagram` is the same task."""
    import subprocess
    import sys

    (tmp_path / "schema.dbml").write_text((REPO / "schema.dbml").read_text())
    done = subprocess.run([sys.executable, "-m", "invoke", "--search-root", str(REPO),
                           "db.schema.diagram", "--from", "schema.dbml", "--format", "dot"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("digraph schema {") and "public.posts" in done.stdout


PARTITIONED = """
CREATE TABLE u (id int PRIMARY KEY);
CREATE TABLE ev (id int, at date, uid int REFERENCES u, PRIMARY KEY (id, at))
    PARTITION BY RANGE (at);
CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')
    PARTITION BY HASH (id);
CREATE TABLE ev_2024_a PARTITION OF ev_2024 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE ev_2024_b PARTITION OF ev_2024 FOR VALUES WITH (MODULUS 2, REMAINDER 1);
CREATE TABLE ev_2025 PARTITION OF ev FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE seen (ev_id int, ev_at date, FOREIGN KEY (ev_id, ev_at) REFERENCES ev);
"""


def test_partitions_are_folded_into_their_table(project):
    """A partitioned table is one box naming how many partitions it holds (sub-partitions
    included) and listing them in its tooltip; its keys and the keys to it are drawn once."""
    project.db.query(PARTITIONED)
    result = project.run("db", "schema", "diagram")
    assert result.code == 0, result
    tables, edges, _ = parse_svg(result.out)
    assert set(tables) == {"public.u", "public.ev", "public.seen"}
    assert tables["public.ev"].title == ("Partitions: public.ev_2024, public.ev_2024_a, "
                                         "public.ev_2024_b, public.ev_2025")
    assert "ev (4 partitions)" in result.out
    assert sorted((e.source, e.target) for e in edges) == [("public.ev", "public.u"),
                                                           ("public.seen", "public.ev")]


def test_a_format_module_missing_is_named_not_a_traceback():
    """A format whose module is not in this nself says so as a usage error."""
    from nself import diagram
    from nself.errors import UsageError

    with pytest.raises(UsageError, match="--format gif is not built yet"):
        diagram._module("gif")
