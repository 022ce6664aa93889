"""nself.sql without a database: statements, their lines, and what their parse trees say."""

from __future__ import annotations

import random

import pytest

from nself import sql


def one(text: str) -> sql.Statement:
    (statement,) = sql.split(text)
    return statement


@pytest.mark.parametrize(("text", "reason"), [
    ("DROP TABLE audit", "DROP TABLE audit"),
    ("DROP TABLE IF EXISTS a, s.b", "DROP TABLE a, s.b"),
    ("drop schema app cascade", "DROP SCHEMA app CASCADE"),
    ("DROP MATERIALIZED VIEW totals", "DROP MATERIALIZED VIEW totals"),
    ("DROP SEQUENCE counter", "DROP SEQUENCE counter"),
    ("DROP VIEW v CASCADE", "DROP VIEW v CASCADE"),
    ("DROP DATABASE other", "DROP DATABASE other"),
    ("DROP OWNED BY bob", "DROP OWNED (every object the roles own)"),
    ("TRUNCATE a, b", "TRUNCATE a, b"),
    ("DELETE FROM a", "DELETE a without WHERE"),
    ("UPDATE a SET x = 1", "UPDATE a without WHERE"),
    ("WITH d AS (DELETE FROM a RETURNING *) SELECT * FROM d", "DELETE a without WHERE"),
    ("EXPLAIN ANALYZE DELETE FROM a", "DELETE a without WHERE"),
    ("ALTER TABLE a DROP COLUMN note", "DROP COLUMN a.note"),
    ("ALTER TYPE pair DROP ATTRIBUTE b", "DROP ATTRIBUTE pair.b"),
    ("DO $$ BEGIN IF true THEN DROP TABLE x; END IF; END $$", "DO block: DROP TABLE x"),
    ("DO $$ BEGIN EXECUTE 'TRUNCATE q'; END $$", "DO block: TRUNCATE q"),
    # a MERGE's DELETE action counts, with a condition or not (its ON narrows it no more
    # than DELETE ... USING's join)
    ("MERGE INTO orders o USING gone g ON o.id = g.id WHEN MATCHED THEN DELETE",
     "MERGE INTO orders WHEN MATCHED THEN DELETE"),
    ("MERGE INTO orders o USING s ON o.id = s.id WHEN MATCHED AND s.done THEN DELETE "
     "WHEN NOT MATCHED THEN INSERT VALUES (s.id)", "MERGE INTO orders WHEN MATCHED AND ... "
     "THEN DELETE"),
    ("MERGE INTO app.orders o USING s ON o.id = s.id WHEN NOT MATCHED BY SOURCE THEN DELETE",
     "MERGE INTO app.orders WHEN NOT MATCHED BY SOURCE THEN DELETE"),
    ("WITH s AS (SELECT 1 AS id) MERGE INTO a USING s ON a.id = s.id WHEN MATCHED THEN "
     "DELETE", "MERGE INTO a WHEN MATCHED THEN DELETE"),
    ("DELETE FROM a USING b WHERE a.id = b.id", ""),
    ("DELETE FROM a USING b", "DELETE a without WHERE"),
    # CASCADE reaches columns (a type's, a domain's), defaults and generated columns (a
    # function's), an extension's types: conservatively, every CASCADE counts
    ("DROP TYPE mood CASCADE", "DROP TYPE mood CASCADE"),  # was: DROP TYPE ? CASCADE
    ("DROP DOMAIN email CASCADE", "DROP DOMAIN email CASCADE"),
    ("DROP EXTENSION citext CASCADE", "DROP EXTENSION citext CASCADE"),
    ("DROP FUNCTION f(int), s.g CASCADE", "DROP FUNCTION f(integer), s.g CASCADE"),
    ("DROP TYPE s.pair, mood[] CASCADE", "DROP TYPE s.pair, mood[] CASCADE"),
    ("DROP CAST (int AS text) CASCADE", "DROP CAST (integer AS text) CASCADE"),
    ("DROP SEQUENCE IF EXISTS s.counter", "DROP SEQUENCE s.counter"),
])
def test_statements_that_destroy_data_say_what(text, reason):
    """DROP of data-holding objects, DROP ... CASCADE, TRUNCATE, DELETE/UPDATE without WHERE
    (in a CTE too), DROP COLUMN, and these in a DO block destroy data, named as the
    statement says it."""
    assert one(text).destroys == reason


@pytest.mark.parametrize("text", [
    "DROP INDEX i",
    "DROP VIEW v",
    "DROP FUNCTION f()",
    "DROP TYPE mood",  # refused while a column uses it
    "DROP DOMAIN email",
    "DROP EXTENSION citext",
    "ALTER TABLE a DROP CONSTRAINT a_check",
    "ALTER TABLE a DROP CONSTRAINT a_pkey CASCADE",  # the foreign keys on it, no rows
    "ALTER TABLE a SET UNLOGGED",  # loses rows only to a crash, not by running it
    "REFRESH MATERIALIZED VIEW totals",  # recomputed from its query
    "INSERT INTO a VALUES (1) ON CONFLICT (id) DO UPDATE SET x = excluded.x",
    "MERGE INTO a USING b ON a.id = b.id WHEN MATCHED THEN UPDATE SET x = b.x "
    "WHEN NOT MATCHED THEN INSERT VALUES (b.id)",
    "MERGE INTO a USING b ON a.id = b.id WHEN MATCHED THEN DO NOTHING",
    "DELETE FROM a WHERE id = 1",
    "UPDATE a SET x = 1 WHERE id = 2",
    "EXPLAIN DELETE FROM a",
    "CREATE FUNCTION f() RETURNS void LANGUAGE sql BEGIN ATOMIC DELETE FROM a; END",
    "CREATE RULE r AS ON INSERT TO a DO INSTEAD DELETE FROM b",
    "-- DROP TABLE audit; TRUNCATE a\nSELECT 1",
    "/* DELETE FROM a */ INSERT INTO a VALUES ('DROP TABLE b; UPDATE c SET d = 1')",
    "CREATE TABLE a (note text DEFAULT 'truncate a; drop schema x cascade')",
    "COMMENT ON TABLE a IS 'DROP TABLE a'",
    "SELECT $$ DELETE FROM a $$",
    'CREATE TABLE "drop table x" (id int)',
    "DO $$ BEGIN RAISE NOTICE 'DROP TABLE x'; CREATE TABLE IF NOT EXISTS y (id int); END $$",
])
def test_keywords_in_comments_strings_and_bodies_are_not_hits(text):
    """What only looks like a destructive statement (a word in a comment, a string, a quoted
    name, a body that runs later, a plain EXPLAIN) destroys nothing."""
    assert [st.destroys for st in sql.split(text)] == [""]


def test_dropping_an_enum_value_is_no_postgresql():
    """ALTER TYPE ... DROP VALUE does not exist in PostgreSQL: a syntax error, not a
    classification."""
    with pytest.raises(sql.SqlSyntaxError):
        sql.split("ALTER TYPE mood DROP VALUE 'sad'")


def test_column_type_changes_are_kept_for_the_catalog():
    """ALTER COLUMN ... TYPE is not decided by the text: it carries the new type (as
    format_type writes it) and whether a USING expression rewrites the values."""
    st = one("ALTER TABLE s.a ALTER COLUMN id TYPE int8, ALTER n TYPE varchar(20)[] USING n")
    assert [(c.schema, c.table, c.column, c.new_type, c.using) for c in st.type_changes] == [
        ("s", "a", "id", "bigint", False), ("s", "a", "n", "character varying(20)[]", True)]
    assert not st.type_changes[0].loses_data("integer")
    assert st.type_changes[0].loses_data(None)
    assert st.type_changes[1].loses_data("character varying(10)[]")


@pytest.mark.parametrize(("old", "new", "safe"), [
    ("integer", "bigint", True), ("smallint", "integer", True), ("integer", "numeric", True),
    ("character varying(20)", "text", True), ("character varying(20)", "character varying(30)",
                                               True),
    ("character varying(20)", "character varying", True), ("text", "character varying", True),
    ("numeric(10,2)", "numeric(12,2)", True), ("numeric(10,2)", "numeric", True),
    ("real", "double precision", True), ("integer[]", "bigint[]", True),
    ("bigint", "integer", False), ("numeric(10,2)", "bigint", False),
    ("character varying(20)", "character varying(10)", False), ("text", "integer", False),
    ("numeric(10,2)", "numeric(10,1)", False), ("double precision", "real", False),
    ("numeric", "numeric(10,2)", False), ("text", "character varying(50)", False),
    ("timestamp without time zone", "timestamp with time zone", False),
    ("json", "text", True), ("json", "jsonb", False), ("character(3)", "text", False),
])
def test_widening_type_changes(old, new, safe):
    """A type change is safe only when the new type holds every value of the old one."""
    assert sql.widens(old, new) is safe


@pytest.mark.parametrize(("text", "why"), [
    ("CREATE INDEX CONCURRENTLY i ON t (a)", "CREATE INDEX CONCURRENTLY"),
    ("DROP INDEX CONCURRENTLY i", "DROP INDEX CONCURRENTLY"),
    ("REINDEX (CONCURRENTLY) TABLE t", "REINDEX CONCURRENTLY"),
    ("VACUUM t", "VACUUM"), ("CREATE DATABASE x", "CREATE DATABASE"),
    ("ALTER SYSTEM SET work_mem = '1MB'", "ALTER SYSTEM"),
    ("ALTER TABLE p DETACH PARTITION c CONCURRENTLY", "DETACH PARTITION CONCURRENTLY"),
    ("CREATE INDEX i ON t (a)", ""), ("ANALYZE t", ""),
    ("-- VACUUM\nSELECT 'CREATE DATABASE x'", ""),
])
def test_statements_that_cannot_run_in_a_transaction(text, why):
    """Which statements cannot run in a transaction block comes from the parse tree."""
    assert one(text).no_transaction == why


def test_enum_values_and_session_settings_come_from_the_tree():
    """Adding an enum value and changing a session setting are told by the tree, not by
    words in comments or strings (which the old regular expressions matched)."""
    plain, enum, comment, setting, call, text_set, update = sql.split(
        "SELECT 1; ALTER TYPE mood ADD VALUE 'ok'; -- alter type x add value 'y'\n"
        "SELECT 2; SET search_path = app; SELECT set_config('a.b', '1', false);"
        "INSERT INTO a VALUES (';set x = 1'); UPDATE a SET b = 1 WHERE c;")
    assert [st.adds_enum_value for st in (plain, enum, comment)] == [False, True, False]
    assert [st.sets_session for st in (setting, call, text_set, update)] == [
        True, True, False, False]


@pytest.mark.parametrize(("text", "lock"), [
    ("CREATE INDEX i ON t (a)", "SHARE"),
    ("CREATE INDEX CONCURRENTLY i ON t (a)", "SHARE UPDATE EXCLUSIVE"),
    ("ALTER TABLE t ADD COLUMN a int", "ACCESS EXCLUSIVE"),
    ("ALTER TABLE t VALIDATE CONSTRAINT c", "SHARE UPDATE EXCLUSIVE"),
    ("INSERT INTO t VALUES (1)", "ROW EXCLUSIVE"),
    ("SELECT 1", "ACCESS SHARE"),
    ("LOCK TABLE t IN SHARE ROW EXCLUSIVE MODE", "SHARE ROW EXCLUSIVE"),
])
def test_lock_a_statement_takes(text, lock):
    """The table lock comes from the tree (parsed on demand for a plain statement)."""
    assert one(text).lock == lock


def test_lines_of_many_statements_in_one_pass():
    """On a text of 30,000 statements of 1-3 lines with LF, CRLF and CR line ends, comments
    and blank lines, every statement knows the line it starts on."""
    chooser = random.Random(15)
    parts, expected, line = [], [], 1
    for i in range(30000):
        breaks = chooser.choice(["\n", "\r\n", "\r"])
        if chooser.random() < 0.2:
            parts.append(f"-- note {i};{breaks}")
            line += 1
        stacked = chooser.randint(0, 2)
        statement = f"INSERT INTO t {breaks * stacked}VALUES ({i}, 'x;y')"
        parts.append(statement + ";" + breaks)
        expected.append((line, statement))
        line += stacked + 1
    statements = sql.split("".join(parts), first_line=1)
    assert [(st.line, st.text) for st in statements] == expected


def test_parse_error_without_a_position_has_a_best_line():
    """An unfinished statement at the end, or a bad byte from an escape, has no position
    from PostgreSQL's parser: the error still points at the right line."""
    for text, line in [("SELECT 1;\n\nCREATE TABLE b(id int", 3),
                       ("SELECT 1;\n\nCREATE TABLE b(\n id int,\n", 3),
                       ("SELECT 1;\nSELECT 2;\nSELECT E'\\xff';\nSELECT 3;", 3),
                       ("SELECT 1;\nSELEC 2;", 2)]:
        with pytest.raises(sql.SqlSyntaxError) as caught:
            sql.split(text)
        assert sql.line_of(text, caught.value.offset) == line, text
