"""`db migrate import --from FORMAT DIR`: another tool's folder as nself migrations, and
`--adopt-applied`: what that tool's tracking table says is applied (issue 18 §3).

Each format gets a small project written here, converted, applied, rolled back where it has
DOWN, and adopted from a tracking table created and filled the way that tool fills it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import applied

from nself import adopt

pytestmark = pytest.mark.db


def files(project) -> list[str]:
    return sorted(p.name for p in project.migrations.glob("*.sql"))


def recorded(db) -> list[str]:
    """What nself's tracking table records (none when the table was never made)."""
    if db.scalar("SELECT to_regclass('nself.migrations')") is None:
        return []
    return applied(db)


def imported(project, fmt: str, folder: str, *more: str) -> list[str]:
    """Import `folder` as `fmt`; the files nself's folder then holds."""
    result = project.run("db", "migrate", "import", "--from", fmt, folder, *more)
    assert result.code == 0, result
    return files(project)


def round_trip(project, tables: list[str], down: int | None = None) -> None:
    """`migrate up` makes `tables`; `migrate down` (all, or `down` steps) takes them away."""
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert project.db.tables() == tables
    steps = str(down if down is not None else len(applied(project.db)))
    result = project.run("db", "migrate", "down", steps)
    assert result.code == 0, result
    assert project.db.tables() == []


def adopted(project, fmt: str, folder: str, recorded: list[str], then: list[str]) -> None:
    """Import with --adopt-applied: nself records `recorded`; the next `up` applies the
    rest, after which nself records `then` and nothing is pending."""
    result = project.run("db", "migrate", "import", "--from", fmt, folder, "--adopt-applied")
    assert result.code == 0, result
    assert applied(project.db) == recorded
    assert "Drift: no" in project.run("db", "migrate", "status").out
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert applied(project.db) == then
    assert project.run("db", "migrate", "status", "--check").code == 0


# dbmate ------------------------------------------------------------------------------------


def dbmate_project(project):
    project.write("db/migrations/00009_users.sql", """
        -- migrate:up
        CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);

        -- migrate:down
        DROP TABLE users;
        """)
    project.write("db/migrations/00010_posts.sql", """
        -- migrate:up
        CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint REFERENCES users);
        -- migrate:down
        DROP TABLE posts;
        """)
    # the numeric-order trap: `11_` sorts before `00009_` by name, but is version 11
    project.write("db/migrations/11_posts_index.sql", """
        -- migrate:up transaction:false
        CREATE INDEX CONCURRENTLY posts_user ON posts (user_id);
        -- migrate:down
        DROP INDEX CONCURRENTLY posts_user;
        """)


def test_dbmate_converts_applies_and_rolls_back(project):
    dbmate_project(project)
    assert imported(project, "dbmate", "db/migrations") == [
        "00009_users.sql", "00010_posts.sql", "11_posts_index.sql"]
    text = (project.migrations / "11_posts_index.sql").read_text()
    assert text.startswith("-- Imported from dbmate: 11_posts_index.sql (version 11)\n"
                           "-- nself:no-transaction\n")
    assert "-- UP\nCREATE INDEX CONCURRENTLY" in text
    assert "-- DOWN\nDROP INDEX CONCURRENTLY posts_user;" in text
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert applied(project.db) == ["00009", "00010", "11"]
    assert project.db.scalar("SELECT no_transaction FROM nself.migrations WHERE version = 11")
    assert project.run("db", "migrate", "down", "3").code == 0
    assert project.db.tables() == []


def test_dbmate_adopts_what_dbmate_applied(project):
    dbmate_project(project)
    # dbmate's table, and its rows for the two it applied: the version as the file writes it
    project.db.query("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY);"
                     "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);"
                     "CREATE TABLE posts (id bigint PRIMARY KEY, user_id bigint REFERENCES users);"
                     "INSERT INTO schema_migrations (version) VALUES ('00009'), ('00010')")
    adopted(project, "dbmate", "db/migrations", ["00009", "00010"], ["00009", "00010", "11"])
    assert project.db.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = 'posts_user'") == 1


# golang-migrate ----------------------------------------------------------------------------


def golang_project(project):
    project.write("migrations-go/1_accounts.up.sql",
                  "CREATE TABLE accounts (id bigint PRIMARY KEY);\n")
    project.write("migrations-go/1_accounts.down.sql", "DROP TABLE accounts;\n")
    project.write("migrations-go/2_orders.up.sql", """
        CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts);
        CREATE FUNCTION order_count() RETURNS bigint LANGUAGE sql AS $$
            SELECT count(*) FROM orders;
        $$;
        """)
    project.write("migrations-go/2_orders.down.sql",
                  "DROP FUNCTION order_count();\nDROP TABLE orders;\n")
    project.write("migrations-go/10_audit.up.sql", "CREATE TABLE audit (at timestamptz);\n")
    project.write("migrations-go/10_audit.down.sql", "DROP TABLE audit;\n")


GOLANG_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)")


def test_golang_migrate_converts_applies_and_rolls_back(project):
    golang_project(project)
    assert imported(project, "golang-migrate", "migrations-go") == [
        "10_audit.sql", "1_accounts.sql", "2_orders.sql"]
    text = (project.migrations / "2_orders.sql").read_text()
    assert text.startswith("-- Imported from golang-migrate: 2_orders.up.sql, "
                           "2_orders.down.sql (version 2)\n")
    round_trip(project, ["accounts", "audit", "orders"])
    assert recorded(project.db) == []


def test_golang_migrate_adopts_its_single_row(project):
    golang_project(project)
    # golang-migrate keeps one row: the current version (2), every lower one applied too
    project.db.query(f"{GOLANG_TABLE}; INSERT INTO schema_migrations VALUES (2, false);"
                     "CREATE TABLE accounts (id bigint PRIMARY KEY);"
                     "CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint)")
    adopted(project, "golang-migrate", "migrations-go", ["1", "2"], ["1", "2", "10"])


def test_a_dirty_golang_migrate_row_stops_the_adoption(project):
    golang_project(project)
    project.db.query(f"{GOLANG_TABLE}; INSERT INTO schema_migrations VALUES (2, true)")
    result = project.run("db", "migrate", "import", "--from", "golang-migrate", "migrations-go",
                         "--adopt-applied")
    assert result.code == 2, result
    assert "version 2 is dirty" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert files(project) == []
    assert recorded(project.db) == []


def test_dbmate_does_not_read_golang_migrates_table(project):
    """Both name their table schema_migrations: the dirty column tells them apart."""
    dbmate_project(project)
    project.db.query(f"{GOLANG_TABLE}; INSERT INTO schema_migrations VALUES (10, false)")
    result = project.run("db", "migrate", "import", "--from", "dbmate", "db/migrations",
                         "--adopt-applied")
    assert result.code == 2, result
    assert "No dbmate tracking table" in result.err
    assert files(project) == []


# goose -------------------------------------------------------------------------------------


def goose_project(project):
    project.write("db/goose/00001_plans.sql", """
        -- +goose Up
        CREATE TABLE plans (id int PRIMARY KEY, price numeric);
        -- +goose StatementBegin
        CREATE FUNCTION plan_total() RETURNS numeric LANGUAGE plpgsql AS $$
        BEGIN
            RETURN (SELECT sum(price) FROM plans);
        END;
        $$;
        -- +goose StatementEnd

        -- +goose Down
        DROP FUNCTION plan_total();
        DROP TABLE plans;
        """)
    project.write("db/goose/00002_plans_price.sql", """
        -- +goose NO TRANSACTION
        -- +goose Up
        CREATE INDEX CONCURRENTLY plans_price ON plans (price);

        -- +goose Down
        DROP INDEX CONCURRENTLY plans_price;
        """)
    project.write("db/goose/00003_notes.sql", """
        -- +goose Up
        CREATE TABLE notes (body text);
        """)


GOOSE_TABLE = ("CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT "
               "NULL, is_applied boolean NOT NULL, tstamp timestamp NULL DEFAULT now())")


def test_goose_converts_applies_and_rolls_back(project):
    goose_project(project)
    assert imported(project, "goose", "db/goose") == [
        "00001_plans.sql", "00002_plans_price.sql", "00003_notes.sql"]
    text = (project.migrations / "00002_plans_price.sql").read_text()
    assert "-- nself:no-transaction\n" in text and "+goose" not in text
    assert "+goose" not in (project.migrations / "00001_plans.sql").read_text()
    assert "-- DOWN" not in (project.migrations / "00003_notes.sql").read_text()
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert project.db.scalar("SELECT plan_total()") is None
    assert project.db.tables() == ["notes", "plans"]
    project.run("db", "migrate", "repair", "--mark-pending", "3")  # it has no DOWN
    project.db.query("DROP TABLE notes")
    assert project.run("db", "migrate", "down", "2").code == 0
    assert project.db.tables() == []


def test_goose_adopts_the_newest_row_of_each_version(project):
    goose_project(project)
    # goose's first row is version 0; 1 and 2 applied, 2 rolled back (an older goose wrote a
    # row with is_applied false) and applied again, 3 applied then rolled back that way
    project.db.query(f"{GOOSE_TABLE};"
                     "INSERT INTO goose_db_version (version_id, is_applied) VALUES "
                     "(0, true), (1, true), (2, true), (2, false), (2, true), (3, true), "
                     "(3, false);"
                     "CREATE TABLE plans (id int PRIMARY KEY, price numeric);"
                     "CREATE INDEX plans_price ON plans (price)")
    adopted(project, "goose", "db/goose", ["00001", "00002"], ["00001", "00002", "00003"])


# Flyway ------------------------------------------------------------------------------------


def flyway_project(project):
    project.write("sql/V1__create_shop.sql", "CREATE TABLE shop (id int PRIMARY KEY);\n")
    project.write("sql/U1__create_shop.sql", "DROP TABLE shop;\n")
    project.write("sql/V1_2__shop_name.sql", "ALTER TABLE shop ADD COLUMN name text;\n")
    project.write("sql/U1_2__shop_name.sql", "ALTER TABLE shop DROP COLUMN name;\n")
    # version 1.10 comes after 1.2 (numbers, not text)
    project.write("sql/more/V1.10__shop_index.sql",
                  "CREATE INDEX CONCURRENTLY shop_name ON shop (name);\n")
    project.write("sql/more/V1.10__shop_index.sql.conf", "executeInTransaction=false\n")
    project.write("sql/more/U1.10__shop_index.sql", "DROP INDEX shop_name;\n")
    project.write("sql/R__shop_view.sql",
                  "CREATE OR REPLACE VIEW shop_names AS SELECT name FROM shop;\n")


FLYWAY_TABLE = """
    CREATE TABLE flyway_schema_history (
        installed_rank integer NOT NULL PRIMARY KEY, version varchar(50),
        description varchar(200) NOT NULL, type varchar(20) NOT NULL,
        script varchar(1000) NOT NULL, checksum integer, installed_by varchar(100) NOT NULL,
        installed_on timestamp NOT NULL DEFAULT now(), execution_time integer NOT NULL,
        success boolean NOT NULL);
    CREATE INDEX flyway_schema_history_s_idx ON flyway_schema_history (success)"""


def flyway_row(rank, version, description, script, checksum, success=True, kind="SQL"):
    return (f"INSERT INTO flyway_schema_history VALUES ({rank}, "
            f"{'NULL' if version is None else repr(version)}, '{description}', '{kind}', "
            f"'{script}', {'NULL' if checksum is None else checksum}, 'postgres', now(), 5, "
            f"{success})")


def test_flyway_converts_in_version_order_with_undo_and_repeatable(project):
    flyway_project(project)
    assert imported(project, "flyway", "sql") == [
        "001_create_shop.sql", "002_shop_name.sql", "003_shop_index.sql", "004_shop_view.sql"]
    index = (project.migrations / "003_shop_index.sql").read_text()
    assert index.startswith("-- Imported from flyway: more/V1.10__shop_index.sql, "
                            "more/U1.10__shop_index.sql (version 1.10)\n"
                            "-- nself:no-transaction\n")
    assert "-- DOWN\nDROP TABLE shop;" in (project.migrations / "001_create_shop.sql").read_text()
    view = (project.migrations / "004_shop_view.sql").read_text()
    assert "repeatable migration, applied once" in view
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert project.db.tables() == ["shop"]
    assert project.db.scalar("SELECT count(*) FROM pg_views WHERE viewname = 'shop_names'") == 1
    project.run("db", "migrate", "repair", "--mark-pending", "4")  # R__ has no DOWN
    project.db.query("DROP VIEW shop_names")
    result = project.run("db", "migrate", "down", "3")
    assert result.code == 0, result
    assert project.db.tables() == []


def test_flyway_adopts_versions_and_a_repeatable_still_current(project):
    from nself.adopt import flyway

    flyway_project(project)
    view = (project.root / "sql/R__shop_view.sql").read_text()
    project.db.query(FLYWAY_TABLE)
    project.db.query("; ".join([
        flyway_row(1, "1", "create shop", "V1__create_shop.sql", 123),
        flyway_row(2, "1.2", "shop name", "V1_2__shop_name.sql", 456),
        flyway_row(3, None, "shop view", "R__shop_view.sql", flyway.checksum(view))]))
    project.db.query("CREATE TABLE shop (id int PRIMARY KEY, name text);"
                     "CREATE VIEW shop_names AS SELECT name FROM shop")
    adopted(project, "flyway", "sql", ["001", "002", "004"], ["001", "002", "003", "004"])


def test_flyway_reapplies_a_repeatable_edited_since_and_honours_baseline_and_undo(project):
    flyway_project(project)
    project.db.query(FLYWAY_TABLE)
    project.db.query("; ".join([
        flyway_row(1, "1", "<< Flyway Baseline >>", "<< Flyway Baseline >>", None,
                   kind="BASELINE"),
        flyway_row(2, "1.2", "shop name", "V1_2__shop_name.sql", 456),
        flyway_row(3, "1.2", "shop name", "U1_2__shop_name.sql", 457, kind="UNDO_SQL"),
        flyway_row(4, None, "shop view", "R__shop_view.sql", 1)]))  # another text applied
    project.db.query("CREATE TABLE shop (id int PRIMARY KEY)")
    adopted(project, "flyway", "sql", ["001"], ["001", "002", "003", "004"])


def test_a_failed_flyway_row_stops_the_adoption(project):
    flyway_project(project)
    project.db.query(FLYWAY_TABLE)
    project.db.query("; ".join([
        flyway_row(1, "1", "create shop", "V1__create_shop.sql", 123),
        flyway_row(2, "1.2", "shop name", "V1_2__shop_name.sql", 456, success=False)]))
    result = project.run("db", "migrate", "import", "--from", "flyway", "sql",
                         "--adopt-applied")
    assert result.code == 2, result
    assert "version 1.2 (V1_2__shop_name.sql) as failed" in result.err
    assert files(project) == [] and recorded(project.db) == []


def test_flyway_checksum_is_flyways_crc32():
    """Flyway's CRC32 over the lines without their line ends, signed (values Flyway
    computes: an empty script is 0; the bytes of 'a' give CRC32 0xe8b7be43, negative)."""
    from nself.adopt import flyway

    assert flyway.checksum("") == "0"
    assert flyway.checksum("a\n") == str(0xe8b7be43 - 2**32)
    assert flyway.checksum("a\r\nb") == flyway.checksum("a\nb") == flyway.checksum("ab")
    # only \n, \r and \r\n end a line for Java's readLine (a form feed does not)
    assert flyway.checksum("a\fb") != flyway.checksum("a\nb")


# node-pg-migrate ---------------------------------------------------------------------------


def node_pg_migrate_project(project):
    project.write("migrations-node/1700000000000_create-authors.sql", """
        -- Up Migration
        CREATE TABLE authors (id serial PRIMARY KEY, name text);

        -- Down Migration
        DROP TABLE authors;
        """)
    project.write("migrations-node/1700000000500_add-books.sql", """
        -- Up Migration
        CREATE TABLE books (id serial PRIMARY KEY, author_id int REFERENCES authors);
        -- Down Migration
        DROP TABLE books;
        """)
    # shorter prefix, still a number: 900000000000 comes first
    project.write("migrations-node/900000000000_extension.sql", """
        -- Up Migration
        CREATE TABLE early (id int);
        -- Down Migration
        DROP TABLE early;
        """)


def test_node_pg_migrate_converts_applies_and_rolls_back(project):
    node_pg_migrate_project(project)
    assert imported(project, "node-pg-migrate", "migrations-node") == [
        "1700000000000_create-authors.sql", "1700000000500_add-books.sql",
        "900000000000_extension.sql"]
    round_trip(project, ["authors", "books", "early"])


def test_node_pg_migrate_adopts_pgmigrations(project):
    node_pg_migrate_project(project)
    project.db.query("CREATE TABLE pgmigrations (id serial PRIMARY KEY, name varchar(255) NOT "
                     "NULL, run_on timestamp NOT NULL);"
                     "INSERT INTO pgmigrations (name, run_on) VALUES "
                     "('900000000000_extension', now()), "
                     "('1700000000000_create-authors', now());"
                     "CREATE TABLE early (id int); CREATE TABLE authors (id serial PRIMARY KEY)")
    adopted(project, "node-pg-migrate", "migrations-node",
            ["900000000000", "1700000000000"],
            ["900000000000", "1700000000000", "1700000000500"])


# postgrator --------------------------------------------------------------------------------


def postgrator_project(project):
    project.write("pg/001.do.create-tags.sql", "CREATE TABLE tags (name text PRIMARY KEY);\n")
    project.write("pg/001.undo.create-tags.sql", "DROP TABLE tags;\n")
    project.write("pg/002.do.sql", "CREATE TABLE tagged (tag text REFERENCES tags);\n")
    project.write("pg/002.undo.sql", "DROP TABLE tagged;\n")
    project.write("pg/010.do.tag-index.sql", "CREATE INDEX tagged_tag ON tagged (tag);\n")
    project.write("pg/010.undo.tag-index.sql", "DROP INDEX tagged_tag;\n")


def test_postgrator_converts_applies_and_rolls_back(project):
    postgrator_project(project)
    assert imported(project, "postgrator", "pg") == [
        "001_create-tags.sql", "002_migration.sql", "010_tag-index.sql"]
    round_trip(project, ["tagged", "tags"])


def test_postgrator_adopts_schemaversion(project):
    postgrator_project(project)
    project.db.query("CREATE TABLE schemaversion (version bigint PRIMARY KEY, name text, "
                     "md5 text, run_at timestamptz);"
                     "INSERT INTO schemaversion (version, name, md5, run_at) VALUES "
                     "(0, '', '', now()), (1, 'create-tags', 'x', now()), (2, '', 'y', now());"
                     "CREATE TABLE tags (name text PRIMARY KEY);"
                     "CREATE TABLE tagged (tag text REFERENCES tags)")
    adopted(project, "postgrator", "pg", ["001", "002"], ["001", "002", "010"])


# What cannot be converted, --partial, --dry-run, clashes, the guard -----------------------


def test_a_file_that_cannot_be_converted_is_listed_and_nothing_is_written(project):
    dbmate_project(project)
    project.write("db/migrations/12_load.sql", """
        -- migrate:up
        CREATE TABLE seed (id int);
        \\copy seed FROM 'seed.csv'
        -- migrate:down
        DROP TABLE seed;
        """)
    project.write("db/migrations/13_typo.sql", """
        -- migrate:up
        CREATE TABLE ok (id int);
        CREAT TABLE oops (id int);
        """)
    result = project.run("db", "migrate", "import", "--from", "dbmate", "db/migrations")
    assert result.code == 2, result
    assert "  12_load.sql:3: psql meta-command `\\copy`" in result.err
    assert "  13_typo.sql:3: not SQL PostgreSQL can parse" in result.err
    assert "2 problems stop the import (listed above); nothing was written" in result.err
    assert files(project) == []
    result = project.run("db", "migrate", "import", "--from", "dbmate", "db/migrations",
                         "--partial")
    assert result.code == 0, result
    assert "12_load.sql:3" in result.err and "(not converted: --partial)" in result.err
    assert files(project) == ["00009_users.sql", "00010_posts.sql", "11_posts_index.sql"]


def test_a_flyway_placeholder_is_a_problem(project):
    project.write("fw/V1__grant.sql", "CREATE TABLE g (id int);\n"
                                      "GRANT SELECT ON g TO '${reader}';\n")
    result = project.run("db", "migrate", "import", "--from", "flyway", "fw")
    assert result.code == 2, result
    assert "V1__grant.sql:2: Flyway placeholder `${reader}`" in result.err
    assert files(project) == []
    project.write("fw/V2__more.sql", "CREATE TABLE more (id int);\n")
    assert imported(project, "flyway", "fw", "--partial") == ["2_more.sql"]


def test_a_comment_nself_would_take_for_a_marker_is_a_problem(project):
    project.write("gm/1_a.up.sql", "-- up\nCREATE TABLE a (id int);\n")
    result = project.run("db", "migrate", "import", "--from", "golang-migrate", "gm")
    assert result.code == 2, result
    assert "1_a.up.sql:1: the comment `-- up` would be read as nself's marker" in result.err


def test_dry_run_writes_nothing(project):
    dbmate_project(project)
    project.db.query("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY);"
                     "INSERT INTO schema_migrations VALUES ('00009')")
    result = project.run("db", "migrate", "import", "--from", "dbmate", "db/migrations",
                         "--dry-run", "--adopt-applied")
    assert result.code == 0, result
    assert "migrations/00010_posts.sql  <- 00010_posts.sql\n" in result.out
    assert ("migrations/00009_users.sql  <- 00009_users.sql  (dbmate applied it: recorded, "
            "not run)") in result.out
    assert ("Would record 1 of 3 migrations as applied (not run); dbmate's own tracking "
            "(public.schema_migrations) would stay") in result.out
    assert "Dry run: 3 files would be written" in result.out
    assert files(project) == []
    assert project.db.scalar("SELECT to_regclass('nself.migrations')") is None


def test_existing_migrations_are_never_overwritten(project):
    dbmate_project(project)
    project.migration("00010_mine.sql", "CREATE TABLE mine (id int);")
    result = project.run("db", "migrate", "import", "--from", "dbmate", "db/migrations")
    assert result.code == 2, result
    assert "00010_mine.sql (for 00010_posts.sql)" in result.err
    assert files(project) == ["00010_mine.sql"]
    # a second import of the same folder keeps what the first wrote
    (project.migrations / "00010_mine.sql").unlink()
    imported(project, "dbmate", "db/migrations")
    assert imported(project, "dbmate", "db/migrations") == [
        "00009_users.sql", "00010_posts.sql", "11_posts_index.sql"]


def test_adoption_refuses_versions_applied_with_no_file(project):
    dbmate_project(project)
    project.db.query("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY);"
                     "INSERT INTO schema_migrations VALUES ('00009'), ('00008')")
    result = project.run("db", "migrate", "import", "--from", "dbmate", "db/migrations",
                         "--adopt-applied")
    assert result.code == 2, result
    assert "1 applied version with no file in db/migrations: 00008" in result.err
    assert files(project) == [] and recorded(project.db) == []


def test_adoption_in_staging_needs_confirmation(project):
    dbmate_project(project)
    project.db.query("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY);"
                     "INSERT INTO schema_migrations VALUES ('00009')")
    project.write("config/staging.env", f"DATABASE_URL={project.db.url}\n")
    result = project.run_process("db", "migrate", "import", "--from", "dbmate",
                                 "db/migrations", "--adopt-applied", env={"ENV": "staging"})
    assert result.code == 3, result
    assert "--yes" in result.err
    assert files(project) == [] and recorded(project.db) == []
    result = project.run_process("db", "migrate", "import", "--from", "dbmate",
                                 "db/migrations", "--adopt-applied", "--yes",
                                 env={"ENV": "staging"})
    assert result.code == 0, result
    assert applied(project.db) == ["00009"]


def test_usage_errors_are_one_line(project):
    result = project.run("db", "migrate", "import", "--from", "liquibase", "x")
    assert result.code == 2 and "Unknown format 'liquibase' for --from" in result.err
    result = project.run("db", "migrate", "import", "--from", "dbmate", "nowhere")
    assert result.code == 2 and "nowhere: no such folder" in result.err
    result = project.run("db", "migrate", "import", "db/migrations")
    assert result.code == 2 and "Name the tool with --from" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_inv_runs_the_import(project):
    postgrator_project(project)
    project.write("tasks.py", "from nself.tasks import namespace  # noqa: F401\n")
    run = subprocess.run([sys.executable, "-m", "invoke", "db.migrate.import", "--from",
                          "postgrator", "--dir", "pg"], cwd=project.root, capture_output=True,
                         text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert run.returncode == 0, run
    assert files(project) == ["001_create-tags.sql", "002_migration.sql", "010_tag-index.sql"]


def test_detect_finds_each_format(tmp_path, project):
    dbmate_project(project)
    golang_project(project)
    goose_project(project)
    flyway_project(project)
    node_pg_migrate_project(project)
    postgrator_project(project)
    found = {(fmt, str(Path(folder).relative_to(project.root)))
             for fmt, folder in adopt.detect(project.root)}
    assert {("dbmate", "db/migrations"), ("golang-migrate", "migrations-go"),
            ("goose", "db/goose"), ("flyway", "sql"), ("node-pg-migrate", "migrations-node"),
            ("postgrator", "pg")} <= found


def test_dbmate_order_is_its_file_name_order(project):
    """dbmate applies `10_b.sql` before `9_a.sql` (file names, as its own run shows): where
    names and numbers disagree the files are numbered in dbmate's order, header kept."""
    project.write("dbm/9_a.sql", "-- migrate:up\nCREATE TABLE b2 (id int REFERENCES b1);\n")
    project.write("dbm/10_b.sql", "-- migrate:up\nCREATE TABLE b1 (id int PRIMARY KEY);\n")
    assert imported(project, "dbmate", "dbm") == ["001_b.sql", "002_a.sql"]
    assert (project.migrations / "002_a.sql").read_text().startswith(
        "-- Imported from dbmate: 9_a.sql (version 9)\n")
    assert project.run("db", "migrate", "up").code == 0
    assert project.db.tables() == ["b1", "b2"]


def test_node_pg_migrate_orders_utc_prefixes_by_their_time(project):
    """A 17-digit `utc` prefix is a time: 2023-11-14 22:13:20.000 UTC is 1700000000000 ms,
    so the millisecond file of 1699999999999 comes before it and 1700000000001 after."""
    project.write("npm/20231114221320000_second.sql", "-- Up Migration\nCREATE TABLE s (id int);\n")
    project.write("npm/1699999999999_first.sql", "-- Up Migration\nCREATE TABLE f (id int);\n")
    project.write("npm/1700000000001_third.sql", "-- Up Migration\nCREATE TABLE t (id int);\n")
    assert imported(project, "node-pg-migrate", "npm") == [
        "001_first.sql", "002_second.sql", "003_third.sql"]
    assert (project.migrations / "002_second.sql").read_text().startswith(
        "-- Imported from node-pg-migrate: 20231114221320000_second.sql "
        "(version 20231114221320000_second)\n")
