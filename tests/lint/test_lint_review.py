"""Lint (issue 19): the rule dispatch by statement kind, new objects of the same run,
row estimates of never-analyzed tables, generated and created migrations, and the
partition and transaction rules squawk has."""

from __future__ import annotations

import json

import pytest
import test_lint_data
import test_lint_locks

import nself.lint
from nself import sql
from nself.lint import REGISTRY, Context, lint_statements


def _findings(text: str, transactional: bool = True):
    ctx = Context.for_text("001_m.sql", text, transactional)
    return [(f.rule, f.line, f.message) for f in
            lint_statements(sql.split(text, parse=True), ctx)]


def _case_texts() -> list[str]:
    texts = []
    for unsafe, safe in {**test_lint_locks.CASES, **test_lint_data.CASES}.values():
        texts += [unsafe, safe, f"DO $$ BEGIN {unsafe.rstrip(';')}; END $$"]
    return texts


def test_rules_skipped_by_statement_kind_would_have_found_nothing(monkeypatch):
    """Running only the rules declared for a statement's kind finds exactly what running
    every rule on every statement finds, on every rule's cases (DO blocks too)."""
    texts = _case_texts()
    dispatched = [_findings(t) for t in texts]
    monkeypatch.setattr(nself.lint, "for_kind", lambda rules, kind: rules)
    assert [_findings(t) for t in texts] == dispatched
    assert any(dispatched)
    assert {r.id for r in REGISTRY.values() if r.kinds} >= {"PG101", "DS112", "ST101"}


@pytest.mark.parametrize("text", ["CREATE INDEX i ON users (email)",
                                  "ALTER TABLE users DROP COLUMN email CASCADE"])
def test_a_rule_runs_on_every_kind_it_declares(text):
    """The kinds a rule declares include each statement it reports (DS112 on ALTER TABLE
    ... DROP COLUMN ... CASCADE, PG101 on CREATE INDEX)."""
    found = {rule for rule, _, _ in _findings(text)}
    assert found & {"PG101", "DS112"}


def _ids(text: str, **known) -> list[str]:
    ctx = Context.for_text("001_m.sql", text, **known)
    return [f.rule for f in lint_statements(sql.split(text, parse=True), ctx)]


NEW_THEN_DROPPED = {
    "DS109": ("CREATE SEQUENCE invoice_numbers;", "DROP SEQUENCE invoice_numbers"),
    "BC106": ("CREATE VIEW active_users AS SELECT 1 AS id;\n"
              "CREATE FUNCTION total(int) RETURNS int LANGUAGE sql AS 'SELECT $1';\n"
              "CREATE TRIGGER t BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION f();",
              "DROP VIEW active_users; DROP FUNCTION total(int); DROP TRIGGER t ON users"),
}


@pytest.mark.parametrize("rule_id", sorted(NEW_THEN_DROPPED))
def test_an_object_created_earlier_in_the_migration_is_dropped_without_a_finding(rule_id):
    """DS109/BC106: dropping a sequence, view, function or trigger the same migration
    created is no finding; dropping one it did not create is; the words in a comment or a
    string are nothing."""
    create, drop = NEW_THEN_DROPPED[rule_id]
    assert rule_id not in _ids(f"{create}\n{drop}")
    assert rule_id in _ids(drop)
    assert rule_id not in _ids(f"-- {drop}\nSELECT $q${drop}$q$")
    # another schema's object of the same name is not the new one
    assert rule_id in _ids(f"{create}\n{drop.replace('DROP VIEW ', 'DROP VIEW other.')}"
                           .replace("DROP SEQUENCE ", "DROP SEQUENCE other."))


def test_objects_of_earlier_pending_migrations_are_new_to_later_ones(tmp_path, monkeypatch,
                                                                     capsys):
    """`lint --since` lints migrations applied together: a table, sequence or view an
    earlier one of them creates is new to the later ones (no DS102/DS109/BC106/PG101);
    linting the whole folder (earlier files may be in production) still reports them."""
    from conftest import Project

    root = tmp_path / "proj"
    (root / "migrations").mkdir(parents=True)
    (root / "nself.toml").write_text("")
    (root / "migrations" / "001_make.sql").write_text(
        "-- UP\nCREATE TABLE scratch (id bigint PRIMARY KEY, a text);\n"
        "CREATE SEQUENCE scratch_numbers;\nCREATE VIEW scratch_view AS SELECT id FROM scratch;\n"
        "-- DOWN\nDROP VIEW scratch_view; DROP SEQUENCE scratch_numbers; DROP TABLE scratch;\n")
    (root / "migrations" / "002_drop.sql").write_text(
        "-- UP\nCREATE INDEX scratch_a ON scratch (a);\nDROP VIEW scratch_view;\n"
        "DROP SEQUENCE scratch_numbers;\nDROP TABLE scratch;\n-- DOWN\nSELECT 1;\n")
    monkeypatch.chdir(root)
    project = Project(root=root, db=None, capsys=capsys)
    rules = {"DS102", "DS109", "BC106", "PG101"}
    pending = project.run("db", "migrate", "lint", "--no-database", "--json", "--since", "0")
    assert pending.code == 0, pending
    assert not rules & {f["rule"] for f in json.loads(pending.out)}
    whole = project.run("db", "migrate", "lint", "--no-database", "--json")
    assert rules <= {f["rule"] for f in json.loads(whole.out)}


def test_rows_of_a_never_analyzed_table_are_counted_or_estimated_from_its_size(db):
    """A table never analyzed (reltuples -1, or 0 after CREATE INDEX on it while empty)
    is counted up to COUNT_LIMIT rows, past that estimated from its heap's size, an empty
    heap is 0 rows; each finding says which; MF103 then reports the table with rows."""
    from nself.lint.context import COUNT_LIMIT, live_sizes

    db.query("CREATE TABLE users (id bigint, email text); CREATE INDEX ON users (id);"
             "INSERT INTO users SELECT g, 'u' FROM generate_series(1, 50) g;"
             "CREATE TABLE events (id bigint);"
             f"INSERT INTO events SELECT generate_series(1, {COUNT_LIMIT * 3});"
             "CREATE TABLE empty (id bigint); ANALYZE empty")
    with db.connect() as conn:
        sizes, version = live_sizes(conn)
    assert sizes["public.users"][0::2] == (50, "counted")
    assert sizes["public.empty"][0::2] == (0, "empty")
    rows, _, how = sizes["public.events"]
    assert how == "size" and COUNT_LIMIT * 2 < rows < COUNT_LIMIT * 4
    text = "ALTER TABLE users ADD COLUMN plan text NOT NULL"
    ctx = Context.for_text("001_m.sql", text, sizes=sizes, server_version=version)
    (f,) = [f for f in lint_statements(sql.split(text, parse=True), ctx) if f.rule == "MF103"]
    assert f.table.startswith("users: 50 rows (counted)")
    assert "MF103" not in _ids(text.replace("users", "empty"), sizes=sizes)
    ctx = Context.for_text("001_m.sql", "TRUNCATE events", sizes=sizes)
    assert "rows (from its size: never analyzed)" in ctx.size_text("public.events")


def test_a_generated_migration_passes_lint_in_its_safe_forms_or_acknowledges(project):
    """`schema import` of a DBML change on existing tables (a foreign key, an index, a
    unique key, a dropped column) writes the index CONCURRENTLY and the foreign key NOT
    VALID then VALIDATE in a no-transaction part, and `-- nself:allow` lines for what has
    no safe form (the drop, the UNIQUE); lint then passes (exit 0), and the parts apply
    and roll back."""
    project.write("nself.toml", "")
    project.migration("001_base.sql",
                      "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, "
                      "nick text);\nCREATE TABLE posts (id bigint PRIMARY KEY, "
                      "user_id bigint NOT NULL, title text NOT NULL);",
                      "DROP TABLE posts; DROP TABLE users;")
    assert project.run("db", "migrate", "up").code == 0
    project.write("schema.dbml", """
        Table users {
          id bigint [pk]
          email text [not null, unique]
        }
        Table posts {
          id bigint [pk]
          user_id bigint [not null, ref: > users.id]
          title text [not null]
          indexes {
            title [name: 'posts_title_idx']
          }
        }
        """)
    result = project.run("db", "schema", "import", "--drop-undeclared")
    assert result.code == 0, result
    written = sorted(p for p in project.migrations.glob("*.sql") if p.name != "001_base.sql")
    assert len(written) == 2, written
    main, concurrent = (p.read_text() for p in written)
    assert "-- nself:allow DS103 " in main and "-- nself:allow PG110 " in main
    assert "NOT VALID" in main and "nself:allow PG104" not in main
    assert "-- nself:no-transaction" in concurrent
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS posts_title_idx" in concurrent
    assert "VALIDATE CONSTRAINT posts_user_id_fkey" in concurrent
    lint = project.run("db", "migrate", "lint", "--no-database", "--json")
    assert lint.code == 0, lint
    errors = [f for f in json.loads(lint.out) if f["level"] == "error"]
    assert errors and all(f["allowed"] for f in errors)
    assert project.run("db", "migrate", "up").code == 0
    assert project.db.scalar("SELECT convalidated FROM pg_constraint "
                             "WHERE conname = 'posts_user_id_fkey'") is True
    assert project.run("db", "migrate", "down", "--steps", "2").code == 0
    assert project.db.scalar("SELECT count(*) FROM pg_constraint "
                             "WHERE conname = 'posts_user_id_fkey'") == 0


def test_a_part_that_only_validates_gets_a_down_that_does_nothing():
    """A generated part of only VALIDATE CONSTRAINT has nothing to undo: its DOWN is a
    statement that does nothing (so `migrate down` passes over it); other DOWNs stay."""
    from nself.lint import safe

    assert safe.down_of("ALTER TABLE t VALIDATE CONSTRAINT c;", "") == safe.NOTHING_TO_UNDO
    assert safe.down_of("CREATE INDEX CONCURRENTLY i ON t (a);", "") == ""
    assert safe.down_of("ALTER TABLE t VALIDATE CONSTRAINT c;", "DROP INDEX i;") == \
        "DROP INDEX i;"
    moved = safe.safe_parts([("CREATE TABLE n (id bigint);\nCREATE INDEX n_i ON n (id);\n"
                              "-- CREATE INDEX x ON t (a)\nCREATE UNIQUE INDEX u ON t (a);\n"
                              "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);\n", False)])
    assert moved == [("CREATE TABLE n (id bigint);\nCREATE INDEX n_i ON n (id);\n"
                      "-- CREATE INDEX x ON t (a)\nCREATE UNIQUE INDEX u ON t (a);\n"
                      "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID;\n", False),
                     ("ALTER TABLE t VALIDATE CONSTRAINT c;\n", True)]


ADD = "ALTER TYPE mood ADD VALUE 'meh';\n"


@pytest.mark.parametrize("use", [
    "UPDATE users SET mood = 'meh' WHERE id = 1",
    "SELECT 'meh'::mood",
    "INSERT INTO users (id, mood) VALUES (1, 'meh')",
    "DELETE FROM users WHERE mood IN ('ok', 'meh')",
    "ALTER TABLE users ALTER COLUMN mood SET DEFAULT 'meh'",
    "ALTER TABLE users ADD COLUMN later mood DEFAULT 'meh'",
    "DO $$ BEGIN UPDATE users SET mood = 'meh' WHERE id = 1; END $$",
])
def test_a_new_enum_value_read_as_the_enum_in_the_same_transaction_is_reported(use):
    """TX104 reads where the string goes: cast to the enum, bound to a column of that
    type (or of a type no earlier migration tells), or a default of such a column."""
    assert "TX104" in _ids(ADD + use)
    assert "TX104" not in _ids(ADD + use, transactional=False)
    assert "TX104" not in _ids(ADD + f"-- {use}\nSELECT $q${use}$q$")


@pytest.mark.parametrize("text", [
    "SELECT 'meh'",
    "SELECT 'meh'::text",
    "COMMENT ON TYPE mood IS 'meh'",
    "DO $$ BEGIN RAISE NOTICE 'meh'; END $$",
    "SELECT lower('meh')",
    "CREATE TABLE notes (id bigint, body text);\nINSERT INTO notes (id, body) VALUES (1, 'meh')",
    "UPDATE users SET mood = 'ok' WHERE nick = 'meh'",
])
def test_the_same_word_as_text_is_not_a_use_of_the_new_value(text):
    """A string that is not read as the enum (a message, a function's argument, text, a
    column whose type is text) is no TX104."""
    known = Context.for_text("001_m.sql", ADD + text).earlier
    known.columns["public.users"] = {"nick": "text", "mood": "mood"}
    assert "TX104" not in _ids(ADD + text, earlier=known)


def test_a_detach_of_a_new_partitioned_table_and_an_uncommitted_begin():
    """PG115: detaching from a table created in the same migration is no finding. TX106:
    a BEGIN without COMMIT is an error in a no-transaction migration (nothing commits it)
    and a warning in a transactional one (nself leaves BEGIN out); ROLLBACK or END ends it."""
    new = ("CREATE TABLE m (at date) PARTITION BY RANGE (at);\n"
           "CREATE TABLE m1 PARTITION OF m FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');\n"
           "ALTER TABLE m DETACH PARTITION m1;")
    assert "PG115" not in _ids(new)
    text = "BEGIN; UPDATE t SET a = 1 WHERE id = 2"
    ctx = Context.for_text("001_m.sql", text, False)
    (f,) = [f for f in lint_statements(sql.split(text, parse=True), ctx) if f.rule == "TX106"]
    assert f.level == "error"
    assert [f.level for f in lint_statements(sql.split(text, parse=True), Context.for_text(
        "001_m.sql", text)) if f.rule == "TX106"] == ["warning"]
    assert "TX106" not in _ids("BEGIN; UPDATE t SET a = 1 WHERE id = 2; END",
                               transactional=False)
    assert "TX106" not in _ids("START TRANSACTION; SELECT 1; ROLLBACK", transactional=False)


TEMPLATE_BASE = ("CREATE TABLE other_table (id bigint PRIMARY KEY);\n"
                 "CREATE TABLE table_name (id bigint PRIMARY KEY, column_name {});")


@pytest.mark.parametrize("kind", ["index", "foreign-key", "not-null", "column"])
def test_each_migrate_create_template_lints_clean_and_runs(project, kind):
    """`migrate create NAME --template KIND` writes the safe form: lint finds nothing in it
    (so create prints no hint), and once its placeholders name real tables it applies and
    rolls back."""
    from nself.migrations import templates

    project.write("nself.toml", "")
    column = "text" if kind == "not-null" else "bigint"
    project.migration("001_base.sql", TEMPLATE_BASE.format(column),
                      "DROP TABLE table_name; DROP TABLE other_table;")
    result = project.run("db", "migrate", "create", "add_thing", "--template", kind)
    assert result.code == 0, result
    assert "Lint:" not in result.out
    (path,) = project.migrations.glob("002_add_thing.sql")
    no_transaction = templates.TEMPLATES[kind][0]
    assert ("-- nself:no-transaction" in path.read_text()) == no_transaction
    lint = project.run("db", "migrate", "lint", "--no-database", "--json",
                       str(path.relative_to(project.root)))
    assert (lint.code, json.loads(lint.out)) == (0, []), lint
    assert project.run("db", "migrate", "up").code == 0
    assert project.run("db", "migrate", "down", "--steps", "1").code == 0


def test_migrate_create_prints_what_lint_finds_in_its_template(project, monkeypatch):
    """A template lint finds something in is written, and each finding printed after it
    (file:line, rule, the safe form); an unknown template is refused (exit 2)."""
    from nself.migrations import templates

    monkeypatch.setitem(templates.TEMPLATES, "plain-index", (
        False, "CREATE INDEX {name} ON table_name (column_name);\n", "DROP INDEX {name};\n",
        "an index built under a SHARE lock"))
    project.write("nself.toml", "")
    project.migration("001_base.sql", TEMPLATE_BASE.format("text"), "DROP TABLE table_name;")
    result = project.run("db", "migrate", "create", "idx", "--template", "plain-index")
    assert result.code == 0, result
    assert "Lint: migrations/002_idx.sql:" in result.out and "PG101 error" in result.out
    assert "safe: CREATE INDEX CONCURRENTLY" in result.out
    bad = project.run("db", "migrate", "create", "other", "--template", "nope")
    assert bad.code == 2 and "--template expects one of" in bad.err


def test_rows_are_not_counted_inside_the_callers_transaction(db):
    """On a connection inside a transaction, live_sizes counts nothing (its SET LOCAL
    lock_timeout would outlive the count): a never-analyzed table's rows come from its
    size, and the session's lock_timeout is unchanged."""
    from nself.lint.context import live_sizes

    db.query("CREATE TABLE users (id bigint); INSERT INTO users SELECT generate_series(1, 50)")
    with db.connect() as conn, conn.transaction():
        before = conn.execute("SHOW lock_timeout").fetchone()[0]
        sizes, _ = live_sizes(conn)
        assert sizes["public.users"][2] == "size" and sizes["public.users"][0] > 0
        assert conn.execute("SHOW lock_timeout").fetchone()[0] == before
    with db.connect() as conn:
        assert live_sizes(conn)[0]["public.users"][0::2] == (50, "counted")


def test_a_partitioned_table_keeps_the_statements_postgresql_takes_on_it():
    """PostgreSQL builds no index CONCURRENTLY on a partitioned table (and before 18 adds
    no NOT VALID foreign key to one): safe_parts leaves those as written when the table
    is not plain, and rewrites the same statements on a plain table."""
    from nself.lint import safe

    text = ("CREATE INDEX m_at ON measurements (at);\n"
            "ALTER TABLE measurements ADD CONSTRAINT m_fk FOREIGN KEY (s) REFERENCES s (id);\n")
    kept = safe.safe_parts([(text, False)], lambda table: table != "public.measurements")
    assert kept == [(text, False)]
    moved = safe.safe_parts([(text, False)])
    assert len(moved) == 2 and "NOT VALID" in moved[0][0] and "CONCURRENTLY" in moved[1][0]


def test_many_never_analyzed_tables_are_counted_a_chunk_a_query(db, monkeypatch):
    """The counts go COUNT_CHUNK tables a query (a UNION of thousands of counts takes the
    planner minutes), at most COUNT_TABLES tables: the others are estimated by size."""
    from nself.lint import context

    monkeypatch.setattr(context, "COUNT_CHUNK", 2)
    monkeypatch.setattr(context, "COUNT_TABLES", 4)
    db.query("".join(f'CREATE TABLE "t {i}" (id bigint); INSERT INTO "t {i}" '
                     f"SELECT generate_series(1, {i});" for i in range(1, 6)))
    with db.connect() as conn:
        sizes, _ = context.live_sizes(conn)
    hows = [sizes[f"public.t {i}"][2] for i in range(1, 6)]
    assert sorted(hows) == ["counted"] * 4 + ["size"], sizes
    assert all(sizes[f"public.t {i}"][0] == i for i in range(1, 6)
               if sizes[f"public.t {i}"][2] == "counted")


def test_the_validate_part_quotes_a_keyword_table_and_constraint():
    """A constraint added NOT VALID to a table named like a keyword ("order") is validated
    by a statement that parses: names quoted as PostgreSQL needs, not only when not lower."""
    from nself.lint import safe

    parts = safe.safe_parts([('ALTER TABLE public."order" ADD CONSTRAINT "check" '
                              "CHECK (total >= 0);\n", False)])
    validate = parts[-1][0]
    assert 'ALTER TABLE public."order" VALIDATE CONSTRAINT "check";' in validate, parts
    sql.split(validate, parse=True)
