"""`db migrate import` from Sqitch, Alembic, Django, Prisma, Hasura and graphile-migrate
(issue 18 §3): each format's reader on a small project written here, then through the CLI:
converted, applied, rolled back where the source has DOWN, adopted from a tracking table
created and filled the way that tool does it, a failed or dirty row refused, and a file
that cannot be converted listed with its line."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest
from conftest import applied

from nself.adopt import alembic, django, graphile_migrate, hasura, prisma, sqitch


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def files(project) -> list[str]:
    return sorted(p.name for p in project.migrations.glob("*.sql"))


def recorded(db) -> list[str]:
    """What nself's tracking table records (nothing when no command made it yet)."""
    return applied(db) if db.scalar("SELECT to_regclass('nself.migrations')") else []


def imported(project, fmt: str, folder: str, *flags: str):
    return project.run("db", "migrate", "import", "--from", fmt, folder, *flags)


# Sqitch ------------------------------------------------------------------------------------

PLANNER = "2024-01-02T10:00:00Z Ann Author <ann@example.org>"


def sqitch_project(root: Path) -> Path:
    folder = root / "db"
    write(folder, "sqitch.plan", f"""
        %syntax-version=1.0.0
        %project=shop
        %uri=https://example.org/shop/

        schema {PLANNER} # the app's schema
        customers [schema] {PLANNER} # customers
        @v1.0 {PLANNER} # first release
        customers_email [customers] {PLANNER}
        customer_count [customers] {PLANNER} # a function
        @v1.1 {PLANNER}
        customer_count [customer_count@v1.1] {PLANNER} # counts only those with an email
        """)
    write(folder, "deploy/schema.sql", "BEGIN;\nCREATE SCHEMA shop;\nCOMMIT;\n")
    write(folder, "revert/schema.sql", "BEGIN;\nDROP SCHEMA shop;\nCOMMIT;\n")
    write(folder, "verify/schema.sql", "SELECT pg_catalog.has_schema_privilege('shop', 'usage');\n")
    write(folder, "deploy/customers.sql", """
        -- Deploy shop:customers to pg
        -- requires: schema

        BEGIN;

        CREATE TABLE shop.customers (id bigint PRIMARY KEY, email text);

        COMMIT;
        """)
    write(folder, "revert/customers.sql", "BEGIN;\nDROP TABLE shop.customers;\nCOMMIT;\n")
    # no BEGIN/COMMIT: psql runs it statement by statement, as CONCURRENTLY needs
    write(folder, "deploy/customers_email.sql",
          "CREATE INDEX CONCURRENTLY customers_email ON shop.customers (email);\n")
    write(folder, "revert/customers_email.sql", "DROP INDEX CONCURRENTLY shop.customers_email;\n")
    count_v1 = ("CREATE OR REPLACE FUNCTION shop.customer_count() RETURNS bigint LANGUAGE sql "
                "AS $$ SELECT count(*) FROM shop.customers $$;")
    count_v2 = ("CREATE OR REPLACE FUNCTION shop.customer_count() RETURNS bigint LANGUAGE sql "
                "AS $$ SELECT count(email) FROM shop.customers $$;")
    write(folder, "deploy/customer_count@v1.1.sql", f"BEGIN;\n{count_v1}\nCOMMIT;\n")
    write(folder, "revert/customer_count@v1.1.sql",
          "BEGIN;\nDROP FUNCTION shop.customer_count();\nCOMMIT;\n")
    write(folder, "deploy/customer_count.sql", f"BEGIN;\n{count_v2}\nCOMMIT;\n")
    write(folder, "revert/customer_count.sql", f"BEGIN;\n{count_v1}\nCOMMIT;\n")
    return folder


def test_sqitch_reads_the_plan_order_reworked_changes_and_transactions(tmp_path):
    """The plan's order, a reworked change's earlier scripts (`name@tag`), BEGIN/COMMIT
    taken out with their lines kept, and a script without them as no-transaction."""
    migrations, problems = sqitch.read(sqitch_project(tmp_path))
    assert problems == []
    assert [m.version_text for m in migrations] == [
        "schema", "customers", "customers_email", "customer_count@v1.1", "customer_count"]
    assert [m.no_transaction for m in migrations] == [False, False, True, False, False]
    customers = migrations[1]
    assert customers.files == ["deploy/customers.sql", "revert/customers.sql"]
    assert "BEGIN" not in customers.up and "COMMIT" not in customers.up
    assert customers.up.split("\n")[5].startswith("CREATE TABLE shop.customers (")
    assert "count(*)" in migrations[3].up and "count(email)" in migrations[4].up


def test_sqitch_lists_what_it_cannot_convert(tmp_path):
    folder = sqitch_project(tmp_path)
    (folder / "deploy/customers_email.sql").unlink()
    (folder / "sqitch.plan").write_text((folder / "sqitch.plan").read_text()
                                        + "this is not a plan line\n")
    _, problems = sqitch.read(folder)
    assert [str(p) for p in problems] == [
        "sqitch.plan:12: not a change, tag or pragma line Sqitch would read",
        "sqitch.plan:8: no deploy script deploy/customers_email.sql for change customers_email"]


SQITCH_REGISTRY = """
    CREATE SCHEMA sqitch;
    CREATE TABLE sqitch.projects (project text PRIMARY KEY, uri text UNIQUE,
        created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        creator_name text NOT NULL, creator_email text NOT NULL);
    CREATE TABLE sqitch.changes (change_id text PRIMARY KEY, script_hash text,
        change text NOT NULL, project text NOT NULL REFERENCES sqitch.projects ON UPDATE CASCADE,
        note text NOT NULL DEFAULT '', committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        committer_name text NOT NULL, committer_email text NOT NULL,
        planned_at timestamptz NOT NULL, planner_name text NOT NULL, planner_email text NOT NULL,
        UNIQUE (project, script_hash));
    CREATE TABLE sqitch.events (event text NOT NULL
            CHECK (event IN ('deploy', 'revert', 'fail', 'merge')),
        change_id text NOT NULL, change text NOT NULL,
        project text NOT NULL REFERENCES sqitch.projects ON UPDATE CASCADE,
        note text NOT NULL DEFAULT '', requires text[] NOT NULL DEFAULT '{}',
        conflicts text[] NOT NULL DEFAULT '{}', tags text[] NOT NULL DEFAULT '{}',
        committed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
        committer_name text NOT NULL, committer_email text NOT NULL,
        planned_at timestamptz NOT NULL, planner_name text NOT NULL, planner_email text NOT NULL,
        PRIMARY KEY (change_id, committed_at));
    INSERT INTO sqitch.projects (project, uri, creator_name, creator_email)
        VALUES ('shop', 'https://example.org/shop/', 'Ann Author', 'ann@example.org'),
               ('other', NULL, 'Bob', 'bob@example.org');
"""


def sqitch_logs(db, event: str, change: str, project: str = "shop",
                registry: str = "sqitch") -> None:
    """What sqitch writes for one change: the event, and for a deploy the change's row."""
    change_id = hashlib.sha1(f"{project}:{change}".encode()).hexdigest()
    who = ("'Ann Author', 'ann@example.org', '2024-01-02T10:00:00Z', 'Ann Author', "
           "'ann@example.org'")
    db.query(f"INSERT INTO {registry}.events (event, change_id, change, project, committer_name, "
             f"committer_email, planned_at, planner_name, planner_email) VALUES ('{event}', "
             f"'{change_id}', '{change}', '{project}', {who})")
    if event == "deploy":
        db.query(f"INSERT INTO {registry}.changes (change_id, script_hash, change, project, "
                 f"committer_name, committer_email, planned_at, planner_name, planner_email) "
                 f"VALUES ('{change_id}', '{change_id}', '{change}', '{project}', {who})")


@pytest.mark.db
def test_sqitch_converts_applies_and_rolls_back(project):
    sqitch_project(project.root)
    result = imported(project, "sqitch", "db")
    assert result.code == 0, result
    assert files(project) == ["001_schema.sql", "002_customers.sql", "003_customers_email.sql",
                              "004_customer_count.sql", "005_customer_count.sql"]
    text = (project.migrations / "003_customers_email.sql").read_text()
    assert "-- nself:no-transaction" in text
    assert "(version customers_email)" in text
    assert "(version customer_count@v1.1)" in (
        project.migrations / "004_customer_count.sql").read_text()
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    project.db.query("INSERT INTO shop.customers VALUES (1, 'a@example.org'), (2, NULL)")
    assert project.db.scalar("SELECT shop.customer_count()") == 1
    assert project.run("db", "migrate", "down", "1").code == 0
    assert project.db.scalar("SELECT shop.customer_count()") == 2
    project.db.query("DELETE FROM shop.customers")
    assert project.run("db", "migrate", "down", "4").code == 0
    assert project.db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'shop'") == 0


@pytest.mark.db
def test_sqitch_adopts_its_project_and_refuses_a_failed_deploy(project):
    """Only the plan's project counts; a deploy whose last event is `fail` stops the
    adoption until sqitch settles it."""
    folder = sqitch_project(project.root)
    project.db.query(SQITCH_REGISTRY)
    for name in ("schema", "customers"):  # sqitch ran these two, then failed on the third
        project.db.query(sqitch.transaction.unwrap(
            (folder / "deploy" / f"{name}.sql").read_text()).text)
        sqitch_logs(project.db, "deploy", name)
    sqitch_logs(project.db, "deploy", "customer_count", project="other")
    sqitch_logs(project.db, "fail", "customers_email")
    result = imported(project, "sqitch", "db", "--adopt-applied")
    assert result.code != 0
    assert "Sqitch's last deploy of project shop failed at change customers_email" in result.err
    assert recorded(project.db) == []
    assert files(project) == []
    sqitch_logs(project.db, "deploy", "customers_email")  # deployed again, by sqitch
    project.db.query("CREATE INDEX customers_email ON shop.customers (email)")
    result = imported(project, "sqitch", "db", "--adopt-applied")
    assert result.code == 0, result
    assert applied(project.db) == ["001", "002", "003"]
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert applied(project.db) == ["001", "002", "003", "004", "005"]


@pytest.mark.db
def test_sqitch_reads_the_registry_sqitch_conf_names(project):
    folder = sqitch_project(project.root)
    write(folder, "sqitch.conf", """
        [core]
        \tengine = pg
        [engine "pg"]
        \tregistry = sqitch_meta
        """)
    project.db.query(SQITCH_REGISTRY.replace("sqitch.", "sqitch_meta.")
                     .replace("SCHEMA sqitch;", "SCHEMA sqitch_meta;"))
    project.db.query("CREATE SCHEMA shop")
    sqitch_logs(project.db, "deploy", "schema", registry="sqitch_meta")
    result = imported(project, "sqitch", "db", "--adopt-applied")
    assert result.code == 0, result
    assert applied(project.db) == ["001"]


# Alembic -----------------------------------------------------------------------------------

def stamp(new: str, old: str) -> str:
    """Alembic's bookkeeping line after a revision's SQL, as it prints it."""
    return (f"UPDATE alembic_version SET version_num='{new}' "
            f"WHERE alembic_version.version_num = '{old}';")


R1, R2, R3 = "1a2b3c4d5e6f", "2b3c4d5e6f7a", "3c4d5e6f7a8b"
ALEMBIC_UP_1 = f"""
    BEGIN;

    CREATE TABLE alembic_version (
        version_num VARCHAR(32) NOT NULL,
        CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
    );

    -- Running upgrade  -> 1a2b3c4d5e6f

    CREATE TABLE account (
        id SERIAL NOT NULL,
        name VARCHAR(50) NOT NULL,
        PRIMARY KEY (id)
    );

    INSERT INTO alembic_version (version_num) VALUES ('{R1}') RETURNING \
alembic_version.version_num;

    -- Running upgrade 1a2b3c4d5e6f -> 2b3c4d5e6f7a

    ALTER TABLE account ADD COLUMN last_seen TIMESTAMP WITHOUT TIME ZONE;

    {stamp(R2, R1)}

    COMMIT;
    """
# the third revision uses autocommit_block(): Alembic prints COMMIT ... BEGIN around it
ALEMBIC_UP_2 = f"""
    BEGIN;

    -- Running upgrade 2b3c4d5e6f7a -> 3c4d5e6f7a8b

    COMMIT;

    CREATE INDEX CONCURRENTLY account_name ON account (name);

    BEGIN;

    {stamp(R3, R2)}

    COMMIT;
    """
ALEMBIC_DOWN = f"""
    BEGIN;

    -- Running downgrade 3c4d5e6f7a8b -> 2b3c4d5e6f7a

    COMMIT;

    DROP INDEX CONCURRENTLY account_name;

    BEGIN;

    {stamp(R2, R3)}

    -- Running downgrade 2b3c4d5e6f7a -> 1a2b3c4d5e6f

    ALTER TABLE account DROP COLUMN last_seen;

    {stamp(R1, R2)}

    -- Running downgrade 1a2b3c4d5e6f -> {''}

    DROP TABLE account;

    DELETE FROM alembic_version WHERE alembic_version.version_num = '1a2b3c4d5e6f';

    COMMIT;
    """


def alembic_output(root: Path) -> Path:
    """`alembic upgrade --sql` output in two files whose names sort against the chain, and
    the downgrade output."""
    folder = root / "alembic-sql"
    write(folder, "b-base-to-2b3c.sql", ALEMBIC_UP_1)
    write(folder, "a-2b3c-to-head.sql", ALEMBIC_UP_2)
    write(folder, "down.sql", ALEMBIC_DOWN)
    return folder


def test_alembic_reads_revisions_in_chain_order_without_bookkeeping(tmp_path):
    migrations, problems = alembic.read(alembic_output(tmp_path))
    assert problems == []
    assert [m.version_text for m in migrations] == ["1a2b3c4d5e6f", "2b3c4d5e6f7a",
                                                    "3c4d5e6f7a8b"]
    assert [m.no_transaction for m in migrations] == [False, False, True]
    for m in migrations:
        assert "alembic_version" not in m.up + (m.down or "")
        assert "BEGIN" not in m.up and "COMMIT" not in m.up
    first = migrations[0]
    assert first.files == ["b-base-to-2b3c.sql", "down.sql"]
    assert first.up.split("\n")[1] == "CREATE TABLE account ("
    assert first.up_line == 9
    assert first.down.strip() == "DROP TABLE account;"
    assert migrations[2].down.strip() == "DROP INDEX CONCURRENTLY account_name;"


def test_alembic_names_revisions_by_their_messages_when_the_files_are_near(tmp_path):
    """The revision files are read as text (never run) for their messages only."""
    folder = alembic_output(tmp_path)
    quotes = '"' * 3
    write(tmp_path, "alembic/versions/1a2b3c4d5e6f_create_account.py", f"""
        {quotes}create account table

        Revision ID: {R1}
        {quotes}
        raise SystemExit("never run")
        revision: str = '{R1}'
        """)
    write(tmp_path, "alembic/versions/2b3c_last_seen.py",
          f"'''add last_seen'''\nrevision = \"{R2}\"\ndown_revision = '{R1}'\n")
    migrations, problems = alembic.read(folder)
    assert problems == []
    assert [m.name for m in migrations] == ["create account table", "add last_seen", R3]


def test_alembic_refuses_python_instead_of_its_sql_output(tmp_path):
    write(tmp_path, "versions/1a2b3c4d5e6f_accounts.py", "revision = '1a2b3c4d5e6f'\n")
    write(tmp_path, "versions/notes.sql", "SELECT 1;\n")
    migrations, problems = alembic.read(tmp_path / "versions")
    assert migrations == []
    assert len(problems) == 1 and "no `-- Running upgrade` line" in str(problems[0])


@pytest.mark.db
def test_alembic_converts_applies_and_rolls_back(project):
    alembic_output(project.root)
    result = imported(project, "alembic", "alembic-sql")
    assert result.code == 0, result
    assert files(project) == ["001_1a2b3c4d5e6f.sql", "002_2b3c4d5e6f7a.sql",
                              "003_3c4d5e6f7a8b.sql"]
    assert project.run("db", "migrate", "up").code == 0
    assert "alembic_version" not in project.db.tables()
    assert project.db.scalar("SELECT count(*) FROM pg_indexes WHERE indexname = "
                             "'account_name'") == 1
    result = project.run("db", "migrate", "down", "3")
    assert result.code == 0, result
    assert project.db.tables() == []


@pytest.mark.db
def test_alembic_adopts_the_head_and_its_ancestors(project):
    """alembic_version stores only the head: everything it descends from is applied; a
    head the output does not have stops the adoption."""
    folder = alembic_output(project.root)
    one_file = write(project.root, "upgrade.sql", (folder / "b-base-to-2b3c.sql").read_text())
    project.db.query("CREATE TABLE alembic_version (version_num varchar(32) NOT NULL, "
                     "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
    project.db.query("INSERT INTO alembic_version VALUES ('3c4d5e6f7a8b')")
    result = imported(project, "alembic", str(one_file.name), "--adopt-applied")
    assert result.code != 0
    assert "alembic_version holds 3c4d5e6f7a8b, which the SQL output given does not have" \
        in result.err
    assert recorded(project.db) == []
    # what alembic itself did: ran the first two revisions, left the second as the head
    project.db.query("CREATE TABLE account (id serial PRIMARY KEY, name varchar(50) NOT NULL, "
                     "last_seen timestamp)")
    project.db.query("UPDATE alembic_version SET version_num = '2b3c4d5e6f7a'")
    result = imported(project, "alembic", "alembic-sql", "--adopt-applied")
    assert result.code == 0, result
    assert applied(project.db) == ["001", "002"]
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert applied(project.db) == ["001", "002", "003"]


# Django ------------------------------------------------------------------------------------


def django_output(root: Path) -> Path:
    """`sqlmigrate` output of two apps (accounts depends on shop's first migration) and the
    order `showmigrations --plan` printed."""
    folder = root / "django-sql"
    write(folder, "plan.txt", """
        [X]  shop.0001_initial
        [X]  accounts.0001_initial
        [ ]  shop.0002_product_price
        [ ]  shop.0003_price_index
        """)
    write(folder, "shop/0001_initial.sql", """
        BEGIN;
        --
        -- Create model Product
        --
        CREATE TABLE "shop_product" ("id" bigint NOT NULL PRIMARY KEY
            GENERATED BY DEFAULT AS IDENTITY, "name" varchar(100) NOT NULL);
        COMMIT;
        """)
    write(folder, "shop/0001_initial.backwards.sql", """
        BEGIN;
        --
        -- Create model Product
        --
        DROP TABLE "shop_product" CASCADE;
        COMMIT;
        """)
    write(folder, "accounts/0001_initial.sql", """
        BEGIN;
        --
        -- Create model Favourite
        --
        CREATE TABLE "accounts_favourite" ("id" bigint NOT NULL PRIMARY KEY
            GENERATED BY DEFAULT AS IDENTITY, "product_id" bigint NOT NULL);
        ALTER TABLE "accounts_favourite" ADD CONSTRAINT "accounts_favourite_product_id_fk"
            FOREIGN KEY ("product_id") REFERENCES "shop_product" ("id")
            DEFERRABLE INITIALLY DEFERRED;
        COMMIT;
        """)
    write(folder, "accounts/0001_initial.backwards.sql", """
        BEGIN;
        DROP TABLE "accounts_favourite" CASCADE;
        COMMIT;
        """)
    write(folder, "shop/0002_product_price.sql", """
        BEGIN;
        --
        -- Add field price to product
        --
        ALTER TABLE "shop_product" ADD COLUMN "price" numeric(10, 2) DEFAULT 0 NOT NULL;
        ALTER TABLE "shop_product" ALTER COLUMN "price" DROP DEFAULT;
        COMMIT;
        """)
    write(folder, "shop/0002_product_price.backwards.sql", """
        BEGIN;
        ALTER TABLE "shop_product" DROP COLUMN "price" CASCADE;
        COMMIT;
        """)
    # atomic = False: sqlmigrate prints it without BEGIN/COMMIT
    write(folder, "shop/0003_price_index.sql", """
        --
        -- Raw SQL operation
        --
        CREATE INDEX CONCURRENTLY shop_product_price ON shop_product (price);
        """)
    return folder


def test_django_reads_the_plan_order_and_atomic_flag(tmp_path):
    migrations, problems = django.read(django_output(tmp_path))
    assert problems == []
    assert [m.version_text for m in migrations] == [
        "shop.0001_initial", "accounts.0001_initial", "shop.0002_product_price",
        "shop.0003_price_index"]
    assert [m.no_transaction for m in migrations] == [False, False, False, True]
    assert [m.down is not None for m in migrations] == [True, True, True, False]


def test_django_needs_the_plan_for_several_apps_and_refuses_run_python(tmp_path):
    folder = django_output(tmp_path)
    (folder / "plan.txt").unlink()
    _, problems = django.read(folder)
    assert [p.file for p in problems] == ["."]
    assert "showmigrations --plan" in problems[0].message
    write(folder, "plan.txt", "[X]  shop.0001_initial\n[ ]  shop.0004_fill\n")
    write(folder, "shop/0004_fill.sql", """
        BEGIN;
        --
        -- Raw Python operation
        --
        -- MIGRATION NOW PERFORMS OPERATION THAT CANNOT BE WRITTEN AS SQL
        COMMIT;
        """)
    _, problems = django.read(folder)
    assert "shop/0004_fill.sql:5: an operation Django runs as Python" in [
        str(p)[:len("shop/0004_fill.sql:5: an operation Django runs as Python")]
        for p in problems]


DJANGO_TABLE = ('CREATE TABLE "django_migrations" ("id" bigint NOT NULL PRIMARY KEY GENERATED '
                'BY DEFAULT AS IDENTITY, "app" varchar(255) NOT NULL, "name" varchar(255) NOT '
                'NULL, "applied" timestamp with time zone NOT NULL)')


@pytest.mark.db
def test_django_converts_applies_and_rolls_back(project):
    folder = django_output(project.root)
    # RunSQL with reverse_sql: `sqlmigrate --backwards` prints it, without BEGIN/COMMIT
    write(folder, "shop/0003_price_index.backwards.sql", """
        --
        -- Raw SQL operation
        --
        DROP INDEX CONCURRENTLY shop_product_price;
        """)
    result = imported(project, "django", "django-sql")
    assert result.code == 0, result
    assert files(project) == ["001_shop_0001_initial.sql", "002_accounts_0001_initial.sql",
                              "003_shop_0002_product_price.sql", "004_shop_0003_price_index.sql"]
    assert "-- nself:no-transaction" in (
        project.migrations / "004_shop_0003_price_index.sql").read_text()
    assert project.run("db", "migrate", "up").code == 0
    assert project.db.tables() == ["accounts_favourite", "shop_product"]
    result = project.run("db", "migrate", "down", "4")
    assert result.code == 0, result
    assert project.db.tables() == []


@pytest.mark.db
def test_django_adopts_what_django_migrations_records(project):
    django_output(project.root)
    project.db.query(DJANGO_TABLE)
    for app, name in (("shop", "0001_initial"), ("accounts", "0001_initial")):
        sql = (project.root / "django-sql" / app / f"{name}.sql").read_text()
        project.db.query(django.transaction.unwrap(sql).text)
        project.db.query("INSERT INTO django_migrations (app, name, applied) "
                         "VALUES (%s, %s, now())", (app, name))
    result = imported(project, "django", "django-sql", "--adopt-applied")
    assert result.code == 0, result
    assert "Recorded 2 migrations as applied" in result.out
    assert applied(project.db) == ["001", "002"]
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert applied(project.db) == ["001", "002", "003", "004"]


@pytest.mark.db
def test_django_run_python_is_listed_and_partial_writes_the_rest(project):
    folder = django_output(project.root)
    write(folder, "plan.txt", (folder / "plan.txt").read_text() + "[ ]  shop.0004_fill\n")
    write(folder, "shop/0004_fill.sql",
          "BEGIN;\n--\n-- Raw Python operation\n--\n"
          "-- MIGRATION NOW PERFORMS OPERATION THAT CANNOT BE WRITTEN AS SQL\nCOMMIT;\n")
    result = imported(project, "django", "django-sql")
    assert result.code != 0
    assert "shop/0004_fill.sql:5: an operation Django runs as Python" in result.err
    assert files(project) == []
    result = imported(project, "django", "django-sql", "--partial")
    assert result.code == 0, result
    assert len(files(project)) == 4


# Prisma ------------------------------------------------------------------------------------


def prisma_project(root: Path) -> Path:
    folder = root / "prisma" / "migrations"
    write(folder, "migration_lock.toml", 'provider = "postgresql"\n')
    write(folder, "20240101120000_init/migration.sql", """
        -- CreateTable
        CREATE TABLE "User" (
            "id" SERIAL NOT NULL,
            "email" TEXT NOT NULL,

            CONSTRAINT "User_pkey" PRIMARY KEY ("id")
        );
        """)
    write(folder, "20240102120000_posts/migration.sql", """
        -- CreateTable
        CREATE TABLE "Post" ("id" SERIAL NOT NULL, "authorId" INTEGER NOT NULL,
            CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));
        -- AddForeignKey
        ALTER TABLE "Post" ADD CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId")
            REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
        """)
    write(folder, "20240102120000_posts/down.sql", 'DROP TABLE "Post";\n')
    write(folder, "20240103120000_email_unique/migration.sql",
          'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");\n')
    return folder


PRISMA_TABLE = """
    CREATE TABLE "_prisma_migrations" (
        "id" VARCHAR(36) NOT NULL, "checksum" VARCHAR(64) NOT NULL,
        "finished_at" TIMESTAMPTZ, "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT,
        "rolled_back_at" TIMESTAMPTZ, "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
        "applied_steps_count" INTEGER NOT NULL DEFAULT 0,
        CONSTRAINT "_prisma_migrations_pkey" PRIMARY KEY ("id"))
"""


def prisma_row(db, name: str, finished: bool, rolled_back: bool = False) -> None:
    db.query('INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, '
             'rolled_back_at, applied_steps_count) VALUES (gen_random_uuid()::text, %s, '
             f'{"now()" if finished else "NULL"}, %s, {"now()" if rolled_back else "NULL"}, '
             '%s)', (hashlib.sha256(name.encode()).hexdigest(), name, int(finished)))


def test_prisma_reads_folders_in_name_order(tmp_path):
    folder = prisma_project(tmp_path)
    (folder / "20240104120000_broken").mkdir()
    migrations, problems = prisma.read(folder)
    assert [m.key for m in migrations] == [(20240101120000,), (20240102120000,),
                                           (20240103120000,)]
    assert [m.down is not None for m in migrations] == [False, True, False]
    assert [str(p) for p in problems] == ["20240104120000_broken: a migration folder without "
                                          "migration.sql: Prisma refuses it too"]


def test_prisma_keeps_its_name_order_where_numbers_would_differ(tmp_path):
    """Prisma applies folders in name order: `10_b` before `9_a`, so the numbers cannot be
    the versions (the core renumbers them in Prisma's order)."""
    write(tmp_path, "9_a/migration.sql", "CREATE TABLE a ();\n")
    write(tmp_path, "10_b/migration.sql", "CREATE TABLE b ();\n")
    migrations, _ = prisma.read(tmp_path)
    assert sorted(m.key for m in migrations) == [("10_b",), ("9_a",)]


@pytest.mark.db
def test_prisma_converts_applies_and_rolls_back(project):
    prisma_project(project.root)
    result = imported(project, "prisma", "prisma/migrations")
    assert result.code == 0, result
    assert files(project) == ["20240101120000_init.sql", "20240102120000_posts.sql",
                              "20240103120000_email_unique.sql"]
    assert project.run("db", "migrate", "up", "2").code == 0
    assert project.db.tables() == ["Post", "User"]
    assert project.run("db", "migrate", "down", "1").code == 0
    assert project.db.tables() == ["User"]


@pytest.mark.db
def test_prisma_adopts_finished_rows_and_refuses_a_failed_one(project):
    prisma_project(project.root)
    project.db.query(PRISMA_TABLE)
    project.db.query('CREATE TABLE "User" ("id" SERIAL PRIMARY KEY, "email" TEXT NOT NULL)')
    prisma_row(project.db, "20240101120000_init", finished=True)
    prisma_row(project.db, "20240102120000_posts", finished=False)  # `migrate deploy` failed
    result = imported(project, "prisma", "prisma/migrations", "--adopt-applied")
    assert result.code != 0
    assert "Prisma records migration 20240102120000_posts as failed" in result.err
    assert recorded(project.db) == []
    # `prisma migrate resolve --rolled-back`, then a deploy that worked
    project.db.query('UPDATE "_prisma_migrations" SET rolled_back_at = now() '
                     "WHERE finished_at IS NULL")
    project.db.query('CREATE TABLE "Post" ("id" SERIAL PRIMARY KEY, "authorId" INTEGER NOT NULL '
                     'REFERENCES "User")')
    prisma_row(project.db, "20240102120000_posts", finished=True)
    result = imported(project, "prisma", "prisma/migrations", "--adopt-applied")
    assert result.code == 0, result
    assert applied(project.db) == ["20240101120000", "20240102120000"]
    assert project.run("db", "migrate", "up").code == 0
    assert applied(project.db) == ["20240101120000", "20240102120000", "20240103120000"]


# Hasura ------------------------------------------------------------------------------------


def hasura_project(root: Path) -> Path:
    folder = root / "hasura" / "migrations"
    write(folder, "default/1700000000000_create_table_public_author/up.sql",
          "CREATE TABLE public.author (id serial PRIMARY KEY, name text NOT NULL);\n")
    write(folder, "default/1700000000000_create_table_public_author/down.sql",
          "DROP TABLE public.author;\n")
    # the numeric-order trap: a shorter version sorts after by name, but runs first
    write(folder, "default/999_init/up.sql", "CREATE SCHEMA extra;\n")
    write(folder, "default/999_init/down.sql", "DROP SCHEMA extra;\n")
    write(folder, "default/1700000000500_author_rating/up.sql",
          "ALTER TABLE public.author ADD COLUMN rating integer;\n")
    write(folder, "default/1700000000500_author_rating/down.sql",
          "ALTER TABLE public.author DROP COLUMN rating;\n")
    return folder


def test_hasura_reads_versions_in_numeric_order_and_refuses_yaml(tmp_path):
    folder = hasura_project(tmp_path)
    migrations, problems = hasura.read(folder)
    assert problems == []
    assert [m.version_text for m in migrations] == ["999", "1700000000000", "1700000000500"]
    assert migrations[0].files == ["default/999_init/up.sql", "default/999_init/down.sql"]
    write(folder, "default/1700000000900_track/up.yaml", "- type: track_table\n")
    _, problems = hasura.read(folder / "default")
    assert [p.file for p in problems] == ["1700000000900_track/up.yaml"]


HASURA_CATALOG = """
    CREATE SCHEMA hdb_catalog;
    CREATE TABLE hdb_catalog.hdb_version (
        hasura_uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(), version text NOT NULL,
        upgraded_on timestamptz NOT NULL, cli_state jsonb NOT NULL DEFAULT '{}'::jsonb,
        console_state jsonb NOT NULL DEFAULT '{}'::jsonb);
    CREATE UNIQUE INDEX hdb_version_one_row ON hdb_catalog.hdb_version ((version IS NOT NULL));
    INSERT INTO hdb_catalog.hdb_version (version, upgraded_on) VALUES ('48', now());
"""


def hasura_state(db, versions: dict[str, bool]) -> None:
    """What `hasura migrate apply` leaves through set_catalog_state: the CLI's JSON."""
    state = {"migrations": {"default": versions}, "settings": {"migration_mode": "true"},
             "isStateCopyCompleted": True}
    db.query("UPDATE hdb_catalog.hdb_version SET cli_state = %s::jsonb", (json.dumps(state),))


@pytest.mark.db
def test_hasura_converts_applies_rolls_back_and_adopts(project):
    hasura_project(project.root)
    project.db.query(HASURA_CATALOG)
    project.db.query("CREATE SCHEMA extra")
    hasura_state(project.db, {"999": False, "1700000000000": True})  # failed halfway
    result = imported(project, "hasura", "hasura/migrations", "--adopt-applied")
    assert result.code != 0
    assert "Hasura marks version 1700000000000 dirty" in result.err
    assert recorded(project.db) == [] and files(project) == []
    project.db.query("CREATE TABLE public.author (id serial PRIMARY KEY, name text NOT NULL)")
    hasura_state(project.db, {"999": False, "1700000000000": False})
    result = imported(project, "hasura", "hasura/migrations", "--adopt-applied")
    assert result.code == 0, result
    assert files(project) == ["1700000000000_create_table_public_author.sql",
                              "1700000000500_author_rating.sql", "999_init.sql"]
    assert applied(project.db) == ["999", "1700000000000"]
    assert project.run("db", "migrate", "up").code == 0
    assert project.run("db", "migrate", "down", "3").code == 0
    assert "author" not in project.db.tables()


@pytest.mark.db
def test_hasura_reads_the_old_schema_migrations_table(project):
    hasura_project(project.root)
    project.db.query("CREATE SCHEMA hdb_catalog; CREATE TABLE hdb_catalog.schema_migrations "
                     "(version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); "
                     "INSERT INTO hdb_catalog.schema_migrations VALUES (999, false); "
                     "CREATE SCHEMA extra")
    result = imported(project, "hasura", "hasura/migrations/default", "--adopt-applied")
    assert result.code == 0, result
    assert applied(project.db) == ["999"]


# graphile-migrate --------------------------------------------------------------------------


def graphile_file(folder: Path, name: str, body: str, previous: str | None,
                  message: str | None = None) -> str:
    """A committed file as `graphile-migrate commit` writes it; returns its hash."""
    body = textwrap.dedent(body).strip() + "\n"
    digest = "sha1:" + hashlib.sha1((((previous or "") + "\n" + body.strip()).strip() + "\n")
                                    .encode()).hexdigest()
    head = [f"--! Previous: {previous or '-'}", f"--! Hash: {digest}"]
    if message:
        head.append(f"--! Message: {message}")
    path = folder / "committed" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(head) + "\n\n" + body)
    return digest


def graphile_project(root: Path) -> tuple[Path, list[str]]:
    folder = root / "migrations"
    one = graphile_file(folder, "000001.sql", """
        create table app_user (id serial primary key, username text not null);
        """, None, "users")
    two = graphile_file(folder, "000002-username-index.sql", """
        --! no-transaction
        create unique index concurrently app_user_username on app_user (username);
        """, one)
    three = graphile_file(folder, "000003.sql", """
        alter table app_user add column bio text;
        """, two)
    return folder, [one, two, three]


def test_graphile_migrate_reads_the_hash_chain(tmp_path):
    folder, hashes = graphile_project(tmp_path)
    migrations, problems = graphile_migrate.read(folder)
    assert problems == []
    assert [m.version_text for m in migrations] == ["000001.sql", "000002.sql", "000003.sql"]
    assert [m.no_transaction for m in migrations] == [False, True, False]
    assert [m.fingerprint for m in migrations] == hashes
    assert migrations[0].up_line == 5
    path = folder / "committed" / "000003.sql"
    path.write_text(path.read_text() + "-- edited after commit\n:DATABASE_OWNER\n")
    _, problems = graphile_migrate.read(folder)
    assert [str(p)[:40] for p in problems] == [
        "committed/000003.sql:1: its body does no",
        "committed/000003.sql:6: placeholder :DAT"]


@pytest.mark.db
def test_graphile_migrate_converts_applies_and_adopts(project):
    folder, hashes = graphile_project(project.root)
    project.db.query("create schema graphile_migrate; create table graphile_migrate.migrations "
                     "(hash text primary key, previous_hash text references "
                     "graphile_migrate.migrations, filename text not null, date timestamptz "
                     "not null default now())")
    project.db.query("create table app_user (id serial primary key, username text not null)")
    project.db.query("insert into graphile_migrate.migrations (hash, previous_hash, filename) "
                     "values ('sha1:0000000000000000000000000000000000000000', null, "
                     "'000001.sql')")
    result = imported(project, "graphile-migrate", "migrations", "--adopt-applied")
    assert result.code != 0
    assert "graphile-migrate applied 000001.sql with hash sha1:0000" in result.err
    assert recorded(project.db) == []
    project.db.query("update graphile_migrate.migrations set hash = %s", (hashes[0],))
    result = imported(project, "graphile-migrate", "migrations", "--adopt-applied")
    assert result.code == 0, result
    assert files(project) == ["1_users.sql", "2_username-index.sql", "3_000003.sql"]
    assert "-- nself:no-transaction" in (project.migrations / "2_username-index.sql").read_text()
    assert applied(project.db) == ["1"]
    result = project.run("db", "migrate", "up")
    assert result.code == 0, result
    assert applied(project.db) == ["1", "2", "3"]


def test_each_format_is_found_where_its_tool_keeps_it(tmp_path):
    """`nself.adopt.detect` (what `nself init` reports) names each of these formats, and
    only it, for the folder its tool keeps."""
    from nself import adopt

    sqitch_project(tmp_path)
    prisma_project(tmp_path)
    hasura_project(tmp_path)
    graphile_project(tmp_path)
    write(tmp_path, "backend/alembic.ini", "[alembic]\nscript_location = backend\n")
    write(tmp_path, "backend/versions/1a2b3c4d5e6f_accounts.py", "revision = '1a2b3c4d5e6f'\n")
    write(tmp_path, "site/manage.py", "import django\n")
    write(tmp_path, "site/shop/migrations/0001_initial.py", "from django.db import migrations\n")
    found: dict[str, set[str]] = {}
    for fmt, folder in adopt.detect(tmp_path):
        found.setdefault(str(folder.relative_to(tmp_path)), set()).add(fmt)
    assert {folder: found.get(folder) for folder in (
        "db", "backend", "site", "prisma/migrations", "hasura/migrations/default",
        "migrations")} == {
        "db": {"sqitch"}, "backend": {"alembic"}, "site": {"django"},
        "prisma/migrations": {"prisma"}, "hasura/migrations/default": {"hasura"},
        "migrations": {"graphile-migrate"}}
