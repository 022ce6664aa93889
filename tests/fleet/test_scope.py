"""The run's scope (nself.pg.scope), no server: nself's SQL rendered for a tenant schema
names the tenant's own bookkeeping schema and that schema alone as the user's; the whole
database's is the text as written."""

from __future__ import annotations

import threading

from nself.migrations import history
from nself.pg import catalog, layout, scope, session


def test_whole_database_sql_is_the_text_as_written():
    """Outside a tenant scope every Scoped text is exactly what the module wrote."""
    assert str(history.TABLE) == "nself.migrations"
    assert history.ROWS_SQL.as_bytes() == history.ROWS_SQL._obj.encode()
    assert session.migrate_lock() is session.MIGRATE


def test_a_tenant_scope_names_its_own_schema_and_only_its_schema():
    """In a tenant scope nself's tables, schema and name point at nself_<tenant>, and the
    user schemas are the tenant's alone (its drift is its own)."""
    with scope.tenant("acme"):
        assert str(history.TABLE) == "nself_acme.migrations"
        assert "INSERT INTO nself_acme.migrations" in history.INSERT_SQL.as_string()
        assert "CREATE SCHEMA nself_acme;\nCOMMENT ON SCHEMA nself_acme IS 'nself''s own" \
            in layout.SCHEMA_SQL.text
        assert "n.nspname = 'nself_acme'" in layout.STATE_SQL.text
        fingerprint = catalog.SCHEMA_FINGERPRINT_SQL.as_bytes().decode()
        assert scope.EVERY_USER_SCHEMA not in fingerprint
        assert "n.nspname = 'acme'" in fingerprint
        assert session.migrate_lock() is not session.MIGRATE
    assert str(history.TABLE) == "nself.migrations"


def test_own_schema_names_are_plain():
    """A plain short tenant name keeps its name; any other gets an md5-based plain one."""
    assert scope.own_schema("t_01") == "nself_t_01"
    for name in ("Tenant C", "o'hara", "x" * 60, "ünï"):
        own = scope.own_schema(name)
        assert own.startswith("nself_") and len(own) == 22 and own.isascii(), name
    with scope.tenant("o'hara"):
        assert "n.nspname = 'o''hara'" in catalog.SCHEMA_FINGERPRINT_SQL.text


def test_each_thread_has_its_own_scope():
    """A tenant scope set in one thread is not another thread's (the fleet's workers)."""
    seen = []
    with scope.tenant("acme"):
        worker = threading.Thread(target=lambda: seen.append(str(history.TABLE)))
        worker.start()
        worker.join()
    assert seen == ["nself.migrations"]
