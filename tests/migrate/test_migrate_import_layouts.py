"""`db migrate import` where the source tool's layout is not the plain one (issue 18): Sqitch's
`top_dir`/`plan_file`/`registry` from sqitch.conf and `--plan-file`; Django's squashed
migrations in the `sqlmigrate` output; migrations written in code (goose `.go`,
node-pg-migrate `.js`, Flyway `.java`) listed with file and line, nothing written unless
--partial."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import applied
from test_migrate_import_more import DJANGO_TABLE, imported, write

from nself.adopt import django, flyway, goose, node_pg_migrate, sqitch
from nself.adopt.graphile_migrate import calculate_hash

# Sqitch: sqitch.conf's layout --------------------------------------------------------------

STAMP = "2024-01-01T00:00:00Z Ann <ann@example.com>"


def sqitch_elsewhere(root: Path) -> None:
    """A project whose sqitch.conf (at the root) puts everything under `database/`, the plan
    named `changes.plan`, the reverts in `database/undo` and the registry in `reg`."""
    write(root, "sqitch.conf", """
        [core]
        \tengine = pg
        \ttop_dir = database
        \tplan_file = database/changes.plan
        [engine "pg"]
        \tregistry = reg
        \trevert_dir = database/undo
        """)
    write(root, "database/changes.plan", f"""
        %syntax-version=1.0.0
        %project=shop

        books {STAMP} # books
        loans [books] {STAMP} # loans
        """)
    write(root, "database/deploy/books.sql",
          "BEGIN;\nCREATE TABLE books (id int PRIMARY KEY);\nCOMMIT;\n")
    write(root, "database/undo/books.sql", "BEGIN;\nDROP TABLE books;\nCOMMIT;\n")
    write(root, "database/deploy/loans.sql",
          "BEGIN;\nCREATE TABLE loans (book int REFERENCES books);\nCOMMIT;\n")
    write(root, "database/undo/loans.sql", "BEGIN;\nDROP TABLE loans;\nCOMMIT;\n")


def test_sqitch_reads_top_dir_plan_file_revert_dir_and_registry(tmp_path):
    sqitch_elsewhere(tmp_path)
    migrations, problems = sqitch.read(tmp_path)
    assert problems == []
    assert [(m.version_text, m.files) for m in migrations] == [
        ("books", ["database/deploy/books.sql", "database/undo/books.sql"]),
        ("loans", ["database/deploy/loans.sql", "database/undo/loans.sql"])]
    assert sqitch.layout(tmp_path).registry == "reg"


def test_sqitch_plan_file_flag_names_the_plan(tmp_path):
    """--plan-file wins over sqitch.conf, as `sqitch --plan-file` does; a missing plan is
    named with the way to give it."""
    sqitch_elsewhere(tmp_path)
    write(tmp_path, "other.plan", f"%project=shop\nbooks {STAMP}\n")
    migrations, problems = sqitch.read(tmp_path, plan_file=tmp_path / "other.plan")
    assert problems == [] and [m.version_text for m in migrations] == ["books"]
    _, problems = sqitch.read(tmp_path / "database")
    assert [str(p) for p in problems] == [
        "sqitch.plan: no plan sqitch.plan here: give the folder that holds sqitch.conf or "
        "sqitch.plan (or the plan with --plan-file)"]


@pytest.mark.db
def test_sqitch_layout_adopts_from_its_registry_and_leaves_it_out(project):
    """Through the CLI from the project root: the registry named by sqitch.conf is read, the
    deployed change adopted, the other applied by db update, and the registry schema is
    left out of the schema nself compares."""
    sqitch_elsewhere(project.root)
    project.db.query(
        "CREATE SCHEMA reg; CREATE TABLE reg.changes (change_id text PRIMARY KEY, "
        "change text NOT NULL, project text NOT NULL, committed_at timestamptz NOT NULL "
        "DEFAULT clock_timestamp()); CREATE TABLE reg.events (event text NOT NULL, change "
        "text NOT NULL, project text NOT NULL, committed_at timestamptz NOT NULL DEFAULT "
        "clock_timestamp()); INSERT INTO reg.changes (change_id, change, project) VALUES "
        "('a1', 'books', 'shop'); INSERT INTO reg.events (event, change, project) VALUES "
        "('deploy', 'books', 'shop'); CREATE TABLE books (id int PRIMARY KEY)")
    result = imported(project, "sqitch", ".", "--adopt-applied")
    assert result.code == 0, result
    assert "(schema reg) stays" in result.out
    assert applied(project.db) == ["001"]
    result = project.run("db", "update")
    assert result.code == 0, result
    assert applied(project.db) == ["001", "002"]
    assert project.run("db", "migrate", "down", "1").code == 0
    assert "loans" not in project.db.tables()


@pytest.mark.db
def test_plan_file_is_for_sqitch_only(project):
    project.write("db/1_x.up.sql", "CREATE TABLE x (id int);\n")
    result = imported(project, "golang-migrate", "db", "--plan-file", "x.plan")
    assert result.code == 2 and "--plan-file is for --from sqitch only" in result.err, result


@pytest.mark.db
def test_a_plan_given_for_the_folder_or_a_missing_plan_file_is_one_line(project):
    """The plan file given as DIR names --plan-file; a --plan-file that does not exist is
    said as such (exit 2, nothing written)."""
    sqitch_elsewhere(project.root)
    result = imported(project, "sqitch", "database/changes.plan")
    assert result.code == 2, result
    assert result.err == ("Error: database/changes.plan: a file, not a folder: give the folder "
                          "that holds the sqitch migrations (or that file as --plan-file "
                          "database/changes.plan).\n")
    result = imported(project, "sqitch", ".", "--plan-file", "nope.plan")
    assert result.code == 2 and result.err == "Error: --plan-file nope.plan: no such file.\n"
    assert list(project.migrations.glob("*.sql")) == []


# Django: squashed migrations ---------------------------------------------------------------


def squashed_output(root: Path, with_script: bool) -> Path:
    """sqlmigrate output of app `shop`: 0001 and 0002, the squashed migration that replaces
    them, and 0003 after it. `with_script`: the app's migration files beside the output
    (the squashed one under a custom name, known only by its `replaces`)."""
    folder = root / "django-sql"
    squashed = "0001_books_merged" if with_script else "0001_squashed_0002_isbn"
    write(folder, "shop/0001_initial.sql",
          'BEGIN;\nCREATE TABLE "shop_book" ("id" bigint NOT NULL PRIMARY KEY);\nCOMMIT;\n')
    write(folder, "shop/0002_isbn.sql",
          'BEGIN;\nALTER TABLE "shop_book" ADD COLUMN "isbn" text NULL;\nCOMMIT;\n')
    write(folder, f"shop/{squashed}.sql",
          'BEGIN;\nCREATE TABLE "shop_book" ("id" bigint NOT NULL PRIMARY KEY, '
          '"isbn" text NULL);\nCOMMIT;\n')
    write(folder, f"shop/{squashed}.backwards.sql",
          'BEGIN;\nDROP TABLE "shop_book" CASCADE;\nCOMMIT;\n')
    write(folder, "shop/0003_title.sql",
          'BEGIN;\nALTER TABLE "shop_book" ADD COLUMN "title" text NULL;\nCOMMIT;\n')
    if with_script:
        write(root, f"shop/migrations/{squashed}.py", """
            from django.db import migrations


            class Migration(migrations.Migration):
                replaces = [
                    ("shop", "0001_initial"),
                    ("shop", "0002_isbn"),
                ]
                operations = []
            """)
    return folder


@pytest.mark.parametrize("with_script", [False, True])
def test_django_squashed_migration_replaces_the_ones_it_squashes(tmp_path, with_script):
    """By its default name, or by the `replaces` of its migration file: the squashed one is
    imported, the two it replaces are left out (a fresh database gets what Django gives a
    new install)."""
    migrations, problems = django.read(squashed_output(tmp_path, with_script))
    assert problems == []
    squashed = "0001_books_merged" if with_script else "0001_squashed_0002_isbn"
    assert [m.version_text for m in migrations] == [f"shop.{squashed}", "shop.0003_title"]


def test_django_plan_listing_the_originals_keeps_them(tmp_path):
    """`showmigrations --plan` lists the replaced ones (some ran, not all): those are
    imported, the squashed one is left out, and nothing is a problem."""
    folder = squashed_output(tmp_path, False)
    write(folder, "plan.txt", "[X]  shop.0001_initial\n[ ]  shop.0002_isbn\n"
                              "[ ]  shop.0003_title\n")
    migrations, problems = django.read(folder)
    assert problems == []
    assert [m.version_text for m in migrations] == [
        "shop.0001_initial", "shop.0002_isbn", "shop.0003_title"]


@pytest.mark.db
def test_django_adopts_a_squashed_migration_when_all_it_replaces_ran(project):
    """Rows for 0001 and 0002 only (Django records the replaced ones; the squashed row is
    written later): the squashed migration is adopted, 0003 applied by db update."""
    squashed_output(project.root, True)
    project.db.query(DJANGO_TABLE + "; INSERT INTO django_migrations (app, name, applied) "
                     "VALUES ('shop', '0001_initial', now()), ('shop', '0002_isbn', now());"
                     'CREATE TABLE "shop_book" ("id" bigint NOT NULL PRIMARY KEY, "isbn" '
                     "text NULL)")
    result = imported(project, "django", "django-sql", "--adopt-applied")
    assert result.code == 0, result
    assert applied(project.db) == ["001"]
    result = project.run("db", "update")
    assert result.code == 0, result
    assert applied(project.db) == ["001", "002"]


@pytest.mark.db
def test_django_refuses_a_squash_half_applied(project):
    squashed_output(project.root, True)
    project.db.query(DJANGO_TABLE + "; INSERT INTO django_migrations (app, name, applied) "
                     "VALUES ('shop', '0001_initial', now())")
    result = imported(project, "django", "django-sql", "--adopt-applied")
    assert result.code == 2, result
    assert ("Django applied 1 of the 2 migrations shop.0001_books_merged replaces "
            "(shop.0002_isbn not yet): run `manage.py migrate shop`") in result.err
    assert list(project.migrations.glob("*.sql")) == []


# Migrations in code ------------------------------------------------------------------------


def test_code_migrations_are_listed_with_file_and_line(tmp_path):
    """goose's Go migration at its goose.AddMigration line, node-pg-migrate's JavaScript at
    its `up`, Flyway's Java-based migration at its class."""
    write(tmp_path, "goose/00001_users.sql", "-- +goose Up\nCREATE TABLE users (id int);\n")
    write(tmp_path, "goose/00002_backfill.go", """
        package migrations

        import "github.com/pressly/goose/v3"

        func init() {
        \tgoose.AddMigrationContext(upBackfill, downBackfill)
        }
        """)
    _, problems = goose.read(tmp_path / "goose")
    assert [(p.file, p.line) for p in problems] == [("00002_backfill.go", 6)]
    assert "a migration in code: goose runs it" in problems[0].message
    write(tmp_path, "pgm/1700000000000_users.js", """
        /* eslint-disable */
        exports.shorthands = undefined;
        exports.up = (pgm) => { pgm.createTable('users', {}); };
        """)
    _, problems = node_pg_migrate.read(tmp_path / "pgm")
    assert [(p.file, p.line) for p in problems] == [("1700000000000_users.js", 3)]
    write(tmp_path, "fly/sql/V1__users.sql", "CREATE TABLE users (id int);\n")
    write(tmp_path, "fly/java/V2__Backfill.java", """
        package db.migration;

        public class V2__Backfill extends BaseJavaMigration {
        }
        """)
    _, problems = flyway.read(tmp_path / "fly")
    assert [(p.file, p.line) for p in problems] == [("java/V2__Backfill.java", 3)]


@pytest.mark.db
def test_a_go_migration_stops_the_import_unless_partial(project):
    project.write("db/goose/00001_users.sql", "-- +goose Up\nCREATE TABLE users (id int);\n")
    project.write("db/goose/00002_backfill.go", "package m\n\nfunc init() {\n"
                  "\tgoose.AddMigration(up, down)\n}\n")
    result = imported(project, "goose", "db/goose")
    assert result.code == 2, result
    assert "00002_backfill.go:4: a migration in code: goose runs it" in result.err
    assert "1 problem stops the import" in result.err
    assert list(project.migrations.glob("*.sql")) == []
    result = imported(project, "goose", "db/goose", "--partial")
    assert result.code == 0, result
    assert [p.name for p in project.migrations.glob("*.sql")] == ["00001_users.sql"]


# The source tool's search_path ------------------------------------------------------------


@pytest.mark.db
def test_graphile_migrates_search_path_is_named_until_configured(project):
    """.gmrc's pgSettings search_path is said on import, with the setting that gives it to
    nself; once DATABASE_SEARCH_PATH says the same, nothing is said."""
    body = "create table notes (id int primary key);\n"
    project.write("gm/committed/000001.sql",
                  f"--! Previous: -\n--! Hash: {calculate_hash(body, None)}\n\n{body}")
    project.write("gm/.gmrc", '{\n  "pgSettings": {\n    "search_path": "app, public"\n  }\n}\n')
    result = imported(project, "graphile-migrate", "gm", "--dry-run")
    assert result.code == 0, result
    said = result.out + result.err
    assert ("graphile-migrate runs these migrations with search_path app, public: set "
            "DATABASE_SEARCH_PATH=app,public in config/<env>.env") in said
    project.write("config/local.env", "DATABASE_SEARCH_PATH=app,public\n")
    result = imported(project, "graphile-migrate", "gm", "--dry-run")
    assert result.code == 0 and "search_path" not in result.out + result.err, result
