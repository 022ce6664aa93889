"""Schema per tenant: `fleet ... --schemas PATTERN` runs the migrations in each matching
schema of one database (first on the search_path), each tracked in its own bookkeeping
schema (nself_<schema>): tenants advance, drift and fail independently."""

from __future__ import annotations

import json

from test_fleet import ALL, ROWS, small_migrations

TENANTS = ["t_a", "t_b", "Tenant C"]


def setup_tenants(project) -> None:
    project.db.query("CREATE SCHEMA t_a; CREATE SCHEMA t_b; CREATE SCHEMA \"Tenant C\"; "
                     "CREATE SCHEMA shared")
    small_migrations(project)


def tracked(db, tenant: str) -> list[str]:
    """The labels TENANT's own tracking table records."""
    from nself.pg.scope import own_schema

    table = f"{own_schema(tenant)}.migrations"
    if db.scalar("SELECT to_regclass(%s) IS NULL", (table,)):
        return []
    return [r[0] for r in db.query(f"SELECT label FROM {table} ORDER BY 1")]


def test_each_tenant_schema_gets_the_migrations_and_its_own_tracking(project):
    """Every schema matching the pattern gets its own tables and tracking table; the
    database's own tracking table and the other schemas are untouched."""
    setup_tenants(project)
    db = project.db
    run = project.run("db", "fleet", "migrate", "up", "--schemas", "t%")
    assert run.code == 0, run
    for tenant in ["t_a", "t_b"]:
        assert f"✓ {tenant}: 3 migrations applied" in run.out, run
        assert db.tables(tenant) == ["items"]
        assert db.scalar(f'SELECT count(*) FROM "{tenant}".items') == ROWS
        assert tracked(db, tenant) == ALL
    assert db.tables("Tenant C") == [] and db.tables("shared") == [] and db.tables() == []
    assert db.scalar("SELECT to_regclass('nself.migrations')") is None
    quoted = project.run("db", "fleet", "migrate", "up", "--schemas", "Tenant%")
    assert quoted.code == 0, quoted
    assert db.tables("Tenant C") == ["items"]
    assert tracked(db, "Tenant C") == ALL


def test_tenants_advance_and_drift_independently(project):
    """A migration applied to one tenant (--only) is pending on the others, and a change in
    one tenant's schema is its drift alone."""
    setup_tenants(project)
    db = project.db
    assert project.run("db", "fleet", "migrate", "up", "--schemas", "t\\_%").code == 0
    project.migration("004_note.sql", "ALTER TABLE items ADD COLUMN note text;",
                      "ALTER TABLE items DROP COLUMN note;")
    one = project.run("db", "fleet", "migrate", "up", "--schemas", "t\\_%", "--only", "t_a")
    assert one.code == 0, one
    assert (tracked(db, "t_a"), tracked(db, "t_b")) == ([*ALL, "004"], ALL)
    db.query("CREATE TABLE t_b.extra (id int)")
    status = project.run("db", "fleet", "status", "--schemas", "t\\_%", "--json")
    assert status.code == 0, status
    found = {r["target"]: (r["applied"], r["pending"], r["drift"])
             for r in json.loads(status.out)}
    assert found == {"t_a": (4, 0, False), "t_b": (3, 1, True)}, found


def test_schema_targets_run_side_by_side_and_a_failing_one_is_named(project):
    """Tenants of one database run in parallel (each its own migrate lock); a tenant whose
    migration fails is named, the others applied (--continue-on-error)."""
    setup_tenants(project)
    db = project.db
    db.query("CREATE TABLE t_b.items (id int PRIMARY KEY, v text); "
             "INSERT INTO t_b.items VALUES (1, 'x')")
    project.migration("001_items.sql", "CREATE TABLE IF NOT EXISTS items "
                      "(id int PRIMARY KEY, v text);", "DROP TABLE items;")
    run = project.run("db", "fleet", "migrate", "up", "--schemas", "%t%", "--parallel", "3",
                      "--continue-on-error")
    assert run.code == 1, run
    assert "Failed on 1 of 3 targets: t_b." in run.err, run
    assert [tracked(db, t) for t in TENANTS] == [ALL, ["001"], ALL]


def test_update_and_backup_refuse_schema_targets(project):
    """`fleet update` and `fleet backup` name the schema target they cannot take (exit 2,
    nothing changed)."""
    setup_tenants(project)
    for argv in (("update",), ("backup",)):
        run = project.run("db", "fleet", *argv, "--schemas", "t%")
        assert run.code == 2, run
        assert "is a schema target" in run.err and len(run.err.strip().splitlines()) == 1
    assert [tracked(project.db, t) for t in TENANTS] == [[], [], []]
