"""`schema import` drops only what the DBML declared before and no longer declares: what
hand-written migrations made is kept and listed (`--drop-undeclared` drops it); the record
of what each import declared travels in the migrations it writes."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

from nself.schema.declared import Declared, undeclared
from nself.schema.model import Column, Constraint, Enum, Schema, Table

USERS = "Table users {\n  id int [pk]\n  email text\n}\n"


def _dbml(project, text: str) -> None:
    project.write("schema.dbml", textwrap.dedent(text))


def _up_sections(project) -> str:
    """The UP sections of every migration file, together."""
    return "\n".join(p.read_text().split("-- DOWN")[0]
                     for p in sorted(project.migrations.glob("*.sql")))


def _hand_made(project) -> None:
    """An import declaring users, then a hand-written migration beside it (as the
    migrations guide mixes them): two tables with rows, a column and an index on users."""
    _dbml(project, USERS)
    first = project.run("db", "schema", "import", "--apply", "--name", "initial")
    assert first.code == 0, first
    project.migration("900_custom.sql", """
        CREATE TABLE audit (id int PRIMARY KEY, what text);
        INSERT INTO audit VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd');
        CREATE TABLE new_table (id serial PRIMARY KEY, n int);
        INSERT INTO new_table (n) SELECT g FROM generate_series(1, 2500) g;
        ALTER TABLE users ADD COLUMN nickname text;
        CREATE INDEX users_nickname ON users (nickname);
    """, "DROP TABLE new_table; DROP TABLE audit; ALTER TABLE users DROP COLUMN nickname;")
    assert project.run("db", "migrate", "up").code == 0
    project.db.query("INSERT INTO users VALUES (1, 'a@x', 'al')")


def _rows(project) -> tuple:
    return project.db.query("SELECT (SELECT count(*) FROM audit), "
                            "(SELECT count(*) FROM new_table), "
                            "(SELECT nickname FROM users WHERE id = 1)")[0]


def test_what_hand_written_migrations_made_is_kept_and_listed(project):
    """Tables, a column and an index that only a hand-written migration made are neither
    dropped by `db run` nor by `schema import --apply`; the import lists them once."""
    _hand_made(project)
    _dbml(project, USERS.replace("email text", "email text\n  age int"))
    result = project.run("db", "run", "--name", "add_age")
    assert result.code == 0, result
    assert ("not in schema.dbml, kept: audit, new_table, column users.nickname; "
            "`nself db schema export` writes them into it") in result.err
    assert result.err.count("not in schema.dbml") == 1
    assert "DROP" not in _up_sections(project).split("900_custom")[-1]
    _dbml(project, USERS.replace("email text", "email text\n  age int\n  bio text"))
    applied = project.run("db", "schema", "import", "--apply", "--name", "add_bio")
    assert applied.code == 0, applied
    assert "DROP" not in _up_sections(project).split("900_custom")[-1]
    assert _rows(project) == (4, 2500, "al")
    again = project.run("db", "schema", "import")
    assert again.code == 0 and "No schema changes" in again.out, again


def test_drop_undeclared_drops_them_and_lists_them(project):
    """`--drop-undeclared` drops what the DBML never declared, says which, and the
    migration marks each drop."""
    _hand_made(project)
    result = project.run("db", "schema", "import", "--drop-undeclared", "--name", "tidy")
    assert result.code == 0, result
    assert ("not in schema.dbml, dropped (--drop-undeclared): audit, new_table, column "
            "users.nickname") in result.err
    text = next(project.migrations.glob("*_tidy.sql")).read_text().split("-- DOWN")[0]
    for what in ("DROP TABLE public.audit", "DROP TABLE public.new_table",
                 "DROP COLUMN nickname"):
        assert what in text, what
    assert text.count("-- WARNING: drops data") == 3
    assert "drops data" in result.err
    assert project.run("db", "migrate", "up").code == 0
    assert project.db.tables() == ["users"]


def test_a_table_the_dbml_declared_before_is_dropped_once_removed(project):
    """A table and a column an earlier import declared are dropped when the DBML no longer
    has them, while the hand-made ones stay."""
    _dbml(project, USERS + "Table posts {\n  id int [pk]\n}\n")
    assert project.run("db", "schema", "import", "--apply").code == 0
    project.migration("900_custom.sql", "CREATE TABLE audit (id int);", "DROP TABLE audit;")
    assert project.run("db", "migrate", "up").code == 0
    _dbml(project, "Table users {\n  id int [pk]\n}\n")
    result = project.run("db", "schema", "import", "--name", "drop_posts")
    assert result.code == 0, result
    assert "kept: audit;" in result.err
    text = next(project.migrations.glob("*_drop_posts.sql")).read_text().split("-- DOWN")[0]
    assert "DROP TABLE public.posts" in text and "DROP COLUMN email" in text
    assert "audit" not in text
    assert project.run("db", "migrate", "up").code == 0
    assert sorted(project.db.tables()) == ["audit", "users"]


def test_migrations_without_a_record_drop_nothing_undeclared(project):
    """Migrations of an older nself carry no record: a table they made that the DBML no
    longer has is kept and listed, not dropped (the safe fallback)."""
    _dbml(project, USERS + "Table posts {\n  id int [pk]\n}\n")
    assert project.run("db", "schema", "import", "--apply").code == 0
    for path in project.migrations.glob("*.sql"):  # as an older nself wrote it
        path.write_text("\n".join(line for line in path.read_text().splitlines()
                                  if not line.startswith("-- nself:declared")
                                  and not line.startswith("-- What the DBML")) + "\n")
    assert project.run("db", "migrate", "repair", "--yes").code == 0
    _dbml(project, USERS)
    result = project.run("db", "schema", "import", "--dry-run")
    assert result.code == 0, result
    assert "not in schema.dbml, kept: posts;" in result.err
    assert "No schema changes" in result.out


def test_the_record_travels_in_the_written_migration(project):
    """Each written migration says what the DBML declared (written whole: a killed
    writer's temporary file is removed by the next one)."""
    _dbml(project, USERS)
    project.migrations.mkdir(exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    leftover = project.write(f"migrations/.001_first.sql.{dead}.tmp", "-- UP\nSELECT 1;\n")
    assert project.run("db", "schema", "import", "--name", "first").code == 0
    assert not leftover.exists()
    text = next(project.migrations.glob("*_first.sql")).read_text()
    record = Declared.parse(text)
    assert record is not None and set(record.tables) == {"public.users"}
    assert record.tables["public.users"].columns == {"id", "email"}
    assert text.index("-- nself:declared") < text.index("-- UP")


def test_a_killed_apply_is_finished_by_the_same_command(project):
    """`schema import --apply` killed (SIGKILL) after writing its migration and before
    applying it: the same command run again applies it, and says so."""
    from nself.pg.session import MIGRATE_KEY as LOCK_KEY

    _dbml(project, USERS)
    with project.db.connect() as holder:  # the apply waits for this lock: a kill lands there
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        proc = subprocess.Popen([sys.executable, "-m", "nself", "db", "schema", "import",
                                 "--apply"], cwd=project.root, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not list(project.migrations.glob("*.sql")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the import ended before writing"
            time.sleep(0.02)
        time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    written = [p.name for p in project.migrations.glob("*.sql")]
    assert len(written) == 1 and project.db.tables() == []
    again = project.run("db", "schema", "import", "--apply")
    assert again.code == 0, again
    assert "No schema changes" in again.out
    assert ("Applying 1 pending migration written by an earlier schema import: "
            + written[0].removesuffix(".sql")) in again.out
    assert project.db.tables() == ["users"]
    status = project.run("db", "migrate", "status", "--check")
    assert status.code == 0, status


def test_undeclared_needs_no_server():
    """The rule on models alone: only what the previous record declared and the file no
    longer does is left out of what is kept; a rename source is never kept."""
    old = Schema(tables=[
        Table("public", "users", [Column("id", "integer"), Column("nick", "text"),
                                  Column("gone", "text")],
              [Constraint("users_pkey", "p", ["id"])]),
        Table("public", "posts", [Column("id", "integer")]),
        Table("public", "people", [Column("id", "integer")]),
        Table("public", "audit", [Column("id", "integer")])],
        enums=[Enum("public", "mood", ["ok", "meh", "bad"])])
    now = Declared.of(Schema(tables=[
        Table("public", "users", [Column("id", "integer")],
              [Constraint("users_pkey", "p", ["id"])]),
        Table("public", "members", [Column("id", "integer")])],
        enums=[Enum("public", "mood", ["ok", "bad"])]))
    before = Declared.parse("\n".join(Declared.of(Schema(tables=[
        Table("public", "users", [Column("id", "integer"), Column("gone", "text")]),
        Table("public", "posts", [Column("id", "integer")])],
        enums=[Enum("public", "mood", ["ok", "bad"])])).lines()))
    kept = undeclared(old, now, before, {"public.people": "public.members"})
    assert kept.names() == ["audit", "column users.nick", "enum value mood.meh"]
    assert undeclared(old, now, None, {}).names() == [
        "posts", "people", "audit", "column users.nick", "column users.gone",
        "enum value mood.meh"]


def test_an_exported_file_with_its_sql_note_keeps_later_hand_made_objects(project):
    """A file written by `schema export` (DBML plus its Note nself_sql) declares views and
    functions too; a table, partition, view, function and column made by hand after the
    export are kept, not dropped."""
    project.migration("001_base.sql", "CREATE TABLE users (id int PRIMARY KEY, nick text);"
                      "CREATE VIEW nicks AS SELECT nick FROM users;"
                      "CREATE TABLE events (at date) PARTITION BY RANGE (at);",
                      "DROP TABLE users CASCADE; DROP TABLE events;")
    assert project.run("db", "migrate", "up").code == 0
    assert project.run("db", "schema", "export", "--output", "schema.dbml").code == 0
    assert "Note nself_sql" in (project.root / "schema.dbml").read_text()
    project.migration("002_later.sql", """
        CREATE TABLE extra (id int);
        CREATE VIEW extra_ids AS SELECT id FROM extra;
        CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1';
        ALTER TABLE users ADD COLUMN age int;
        CREATE TABLE events_2026 PARTITION OF events
          FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
    """, "DROP TABLE extra CASCADE; DROP FUNCTION one(); ALTER TABLE users DROP COLUMN age;"
       "DROP TABLE events_2026;")
    assert project.run("db", "migrate", "up").code == 0
    result = project.run("db", "schema", "import")
    assert result.code == 0, result
    assert ("not in schema.dbml, kept: extra, events_2026, column users.age, function "
            "one(), view extra_ids;") in result.err
    assert "No schema changes" in result.out


def test_keys_and_indexes_of_dropped_columns_are_not_kept():
    """A hand-made index or check on a column the DBML dropped goes with the column; one
    on a kept column is kept (and not listed apart from it)."""
    from nself.schema.model import Index

    def index(name: str, column: str) -> Index:
        return Index(name, "users", [column],
                     definition=f"CREATE INDEX {name} ON public.users USING btree ({column})")

    old = Schema(tables=[Table(
        "public", "users", [Column("id", "integer"), Column("gone", "text"),
                            Column("nick", "text")],
        [Constraint("users_gone_check", "c", [], "CHECK ((gone <> ''::text))")],
        [index("users_gone", "gone"), index("users_nick", "nick"), index("users_id", "id")])])
    now = Declared.of(Schema(tables=[Table("public", "users", [Column("id", "integer")])]))
    before = Declared.of(Schema(tables=[Table("public", "users", [
        Column("id", "integer"), Column("gone", "text")])]))
    kept = undeclared(old, now, before, {})
    assert [i.name for _, i in kept.indexes] == ["users_nick", "users_id"]
    assert kept.constraints == []
    assert kept.names() == ["column users.nick", "index users.users_id"]


ORDERS = "Table customers {\n  id int [pk]\n}\nTable orders {\n  id int [pk]\n  total int\n}\n"


def _orders_with_hand_made_dependents(project) -> None:
    """An import declaring customers and orders, then a hand-written migration: a table
    with a foreign key to orders, a view on orders and a view on that view."""
    _dbml(project, ORDERS)
    assert project.run("db", "schema", "import", "--apply", "--name", "initial").code == 0
    project.migration("900_hand.sql", """
        CREATE TABLE order_notes (id int PRIMARY KEY, order_id int REFERENCES orders (id));
        CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100;
        CREATE VIEW bigger_orders AS SELECT * FROM big_orders WHERE total > 1000;
    """, "DROP VIEW bigger_orders; DROP VIEW big_orders; DROP TABLE order_notes;")
    assert project.run("db", "migrate", "up").code == 0
    _dbml(project, ORDERS.split("Table orders")[0])


def test_a_dropped_table_that_kept_objects_use_is_refused_naming_them(project):
    """Removing a declared table that hand-made views use is one line naming them and what
    to do, exit 2 (was: 'schema.dbml cannot be built by PostgreSQL: relation "orders" does
    not exist')."""
    _orders_with_hand_made_dependents(project)
    result = project.run("db", "schema", "import", "--dry-run")
    assert result.code == 2, result
    assert result.err == (
        "Error: schema.dbml no longer declares orders, but objects your migrations made "
        "outside schema.dbml use it: view big_orders, view bigger_orders. Nothing was "
        "written: keep orders in schema.dbml, drop those objects in a migration of your own "
        "first, or run again with --drop-undeclared to drop them too.\n")


def test_drop_undeclared_drops_the_users_of_a_dropped_table_first(project):
    """With --drop-undeclared the views on the dropped table go first (a view on a view
    before it), then the hand-made table with its foreign key, then the table; all listed."""
    _orders_with_hand_made_dependents(project)
    result = project.run("db", "schema", "import", "--apply", "--drop-undeclared")
    assert result.code == 0, result
    assert ("not in schema.dbml, dropped (--drop-undeclared): order_notes, view big_orders, "
            "view bigger_orders") in result.err
    up = _up_sections(project).split("900_hand")[-1]
    assert up.index("DROP VIEW public.bigger_orders") < up.index("DROP VIEW public.big_orders")
    assert up.index("DROP VIEW public.big_orders") < up.index("DROP TABLE public.orders")
    assert project.db.tables() == ["customers"]
    assert project.db.scalar("SELECT count(*) FROM pg_views WHERE schemaname = 'public'") == 0
    again = project.run("db", "schema", "import")
    assert again.code == 0 and "No schema changes" in again.out, again


def test_dependents_need_no_server():
    """On models alone: the definitions that use a table the file drops, through one
    another too; a renamed table is not dropped, and a definition the file declares itself
    is not listed (its own error is PostgreSQL's)."""
    from nself.schema.declared import dependents
    from nself.schema.model import Definition

    def view(name: str, *uses: str) -> Definition:
        return Definition("view", "public", name, f"CREATE VIEW {name} AS ...", list(uses))

    old = Schema(tables=[Table("public", t, [Column("id", "integer")])
                         for t in ("orders", "people", "kept")])
    views = [view("big", "public.orders"), view("bigger", "public.big"),
             view("folks", "public.people"), view("fine", "public.kept"),
             view("mine", "public.orders")]
    desired = Schema(tables=[Table("public", t, [Column("id", "integer")])
                             for t in ("members", "kept")], definitions=views)
    mine = Declared(others={("view", "public.mine")})
    found = dependents(desired, old, {"public.people": "public.members"}, mine)
    assert {t: [d.name for d in ds] for t, ds in found.items()} == {
        "public.orders": ["big", "bigger"]}


def test_a_dropped_column_that_kept_views_use_is_refused_naming_them(project):
    """The same for a column the DBML no longer declares: the views that use it (as the
    catalog says, and a view on them) are named (was: 'cannot be built by PostgreSQL')."""
    _orders_with_hand_made_dependents(project)
    _dbml(project, ORDERS.replace("  total int\n", ""))
    result = project.run("db", "schema", "import", "--dry-run")
    assert result.code == 2, result
    assert ("no longer declares orders.total, but objects your migrations made outside "
            "schema.dbml use it: view big_orders, view bigger_orders.") in result.err
    assert project.run("db", "schema", "import", "--dry-run", "--drop-undeclared").code == 0
