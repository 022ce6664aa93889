"""Migration files without a database: naming, order, checksums, sections, statements, quoting."""

from __future__ import annotations

from datetime import datetime, timezone

import pglast
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nself.migrations import files
from nself.migrations.engine import quote as _quote
from nself.migrations.plan import prepare


def folder(tmp_path, **texts) -> list[files.Migration]:
    for name, text in texts.items():
        (tmp_path / f"{name}.sql").write_text(text)
    return files.read_folder(tmp_path, tmp_path)


def test_order_is_numeric_across_schemes(tmp_path):
    """Sequence and timestamp versions sort by number, not by text."""
    found = folder(tmp_path, **{"20250806140000_b": "-- UP\n", "010_c": "-- UP\n",
                                "9_a": "-- UP\n"})
    assert [m.id for m in found] == ["9_a", "010_c", "20250806140000_b"]


def test_names_written_elsewhere_are_read(tmp_path):
    """Dashes and dots in a file's name are accepted, and depends_on may name such a file."""
    found = folder(tmp_path, **{"001_add-users.v2": "-- UP\n",
                                "002_add-index": "-- depends_on: 001_add-users.v2\n-- UP\n"})
    assert [m.name for m in found] == ["add-users.v2", "add-index"]
    files.check_dependencies(found)


def test_checksum_ignores_line_endings_and_bom(tmp_path):
    """CRLF, CR and a UTF-8 BOM do not change a file's checksum; an edit does."""
    text = "-- UP\nCREATE TABLE t (id int);\n"
    (tmp_path / "001_a.sql").write_bytes(text.encode())
    (tmp_path / "002_a.sql").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    (tmp_path / "003_a.sql").write_bytes(text.replace("int", "bigint").encode())
    a, b, c = files.read_folder(tmp_path)
    assert a.checksum == b.checksum != c.checksum


def test_large_file_is_read_whole(tmp_path):
    """A migration larger than one read chunk is read (and checksummed) whole."""
    body = "".join(f"INSERT INTO t VALUES ({i});\n" for i in range(20000))
    (m,) = folder(tmp_path, **{"001_big": "-- UP\n" + body})
    assert m.text == "-- UP\n" + body and len(m.text) > 3 * 65536


def test_sections_and_directives(tmp_path):
    """Header directives are read; UP and DOWN sections keep their file lines."""
    (m,) = folder(tmp_path, **{"001_a": "-- Migration: 001_a\n-- nself:no-transaction\n"
                                        "-- depends_on: 000\n-- UP\nSELECT 1;\n"
                                        "-- DOWN\nSELECT 2;\n"})
    assert m.no_transaction and m.depends_on == "000"
    assert m.up.line == 5 and m.up.text == "SELECT 1;"
    assert m.down.line == 7 and m.down.text.strip() == "SELECT 2;"


def test_split_keeps_dollar_bodies_strings_and_lines(tmp_path):
    """Statements split by PostgreSQL's parser: semicolons in $$ bodies, strings and comments
    do not split, and each statement knows its line."""
    sql = ("-- UP\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n"
           "INSERT INTO t VALUES ('a;b'); -- c;d\n/* x; */ SELECT 2;\n")
    (m,) = folder(tmp_path, **{"001_a": sql})
    statements = files.split(m.up, m)
    assert [s.line for s in statements] == [2, 3, 4]
    assert statements[1].text == "INSERT INTO t VALUES ('a;b')"


def test_begin_commit_are_blanked_in_place(tmp_path):
    """Top-level BEGIN/COMMIT become blanks of the same size, so lines and offsets stay put."""
    (m,) = folder(tmp_path, **{"001_a": "-- UP\nBEGIN;\nCREATE TABLE t (id int);\nCOMMIT;\n"})
    prep = prepare(m, m.up, False)
    assert len(prep.body) == len(m.up.text) and "BEGIN" not in prep.body
    assert prep.body.count("\n") == m.up.text.count("\n")
    assert "CREATE TABLE t" in prep.body


def test_plain_sql_is_not_parsed(tmp_path, monkeypatch):
    """A file of plain DDL/DML goes out as written, without a pglast parse."""
    sql = "-- UP\nCREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n"
    (m,) = folder(tmp_path, **{"001_a": sql})
    monkeypatch.setattr(pglast, "parse_sql", lambda *a: pytest.fail("parsed"))
    assert prepare(m, m.up, False).body == m.up.text


def test_next_file_numbering(tmp_path):
    """`create` numbers continue the folder's width, or its timestamps, and start at 001."""
    now = datetime(2026, 11, 23, 4, 5, 6, tzinfo=timezone.utc)
    assert files.next_file(tmp_path, "a", now).name == "001_a.sql"
    (tmp_path / "0007_x.sql").write_text("")
    assert files.next_file(tmp_path, "b", now).name == "0008_b.sql"
    (tmp_path / "20991231000000_y.sql").write_text("")
    assert files.next_file(tmp_path, "c", now).name == "20991231000001_c.sql"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab$n sef1'\\\n;-")), max_size=40))
def test_quote_round_trips_any_text(text):
    """The dollar-quoted literal used for tracking rows reads back as exactly the text quoted."""
    (stmt,) = pglast.parse_sql(f"SELECT {_quote(text)}")
    value = stmt.stmt.targetList[0].val.val.sval
    assert value == text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["SELECT 1;", "SELECT ';';", "-- c;\n", "\n",
                                 "DO $$ BEGIN PERFORM 1; END $$;", "BEGIN;", "COMMIT;"]),
                max_size=12))
def test_split_lines_match_text(parts):
    """Every statement's line is the line where its text starts in the file."""
    text = "-- UP\n" + "\n".join(parts) + "\n"
    m = files.Migration(1, "001", "x", "001_x.sql", text.encode(), "001_x.sql")
    lines = text.split("\n")
    for statement in files.split(m.up, m):
        assert lines[statement.line - 1].startswith(statement.text.split("\n")[0])


def test_big_transaction_file_keeps_every_line(tmp_path):
    """`BEGIN;` + 20,000 INSERTs (two lines each) + `COMMIT;`: BEGIN/COMMIT are blanked and
    every statement knows its file line (found in one pass, not counted from the start)."""
    body = "".join(f"INSERT INTO t\nVALUES ({i});\n" for i in range(20000))
    (m,) = folder(tmp_path, **{"001_big": f"-- UP\nBEGIN;\n{body}COMMIT;\n"})
    prep = prepare(m, m.up, False)
    inserts = [st for st in prep.statements if st.text.startswith("INSERT")]
    assert [st.line for st in inserts] == list(range(3, 3 + 2 * 20000, 2))
    assert inserts[-1].text == "INSERT INTO t\nVALUES (19999)"
    assert "BEGIN" not in prep.body and "COMMIT" not in prep.body
    assert prep.body.count("\n") == m.up.text.count("\n")


@pytest.mark.parametrize(("label", "said"), [
    ("001", "001_x failed at dir/001_x.sql line 3: syntax error at end of input"),
    ("", "dir/001_x.sql failed at line 3: syntax error at end of input")])
def test_parse_error_without_position_names_file_and_line(label, said):
    """A statement left unfinished at the end (PostgreSQL's parser gives no position) is one
    error naming the file and the statement's line, for a migration and a seed's stand-in."""
    text = "-- UP\nSELECT 1;\nCREATE TABLE b (id int"
    m = files.Migration(1, label, "x", "001_x.sql", text.encode(), "dir/001_x.sql")
    with pytest.raises(files.SqlSyntaxFailure) as caught:
        files.split(m.up, m)
    assert str(caught.value) == said + ". Nothing was sent to the server."
