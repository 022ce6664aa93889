"""`schema diff` across server versions: the current environment on the embedded
PostgreSQL 18, staging on the machine's PostgreSQL 15 (NSELF_TEST_EXTERNAL_URL). The same
schema must compare equal although the servers print some of it differently (16 and later
drop `posts.` in a one-table view), and each kind of difference must be reported."""

from __future__ import annotations

import uuid

import conftest
import pytest
from conftest import EXTERNAL_URL, REPO, _admin_params, _create, _drop

pytestmark = pytest.mark.skipif(
    not EXTERNAL_URL, reason="needs a second server: set NSELF_TEST_EXTERNAL_URL (CI does)")

RICH_SQL = (REPO / "tests" / "data" / "schema_rich.sql").read_text()


@pytest.fixture
def staging15(project):
    """A database on the machine's server, configured as staging's; the project's own
    database is on the embedded 18 (the `project` fixture's embedded backend)."""
    admin = _admin_params("external", None)
    name = f"nself_t_{uuid.uuid4().hex[:12]}"
    _create(admin, name)
    project.write("config/staging.env", f"DATABASE_URL=postgresql://{admin.get('user')}@"
                  f"{admin['host']}:{admin.get('port', '5432')}/{name}\n")
    yield conftest.TestDatabase("external", {**admin, "dbname": name}, admin)
    _drop(admin, name)


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_same_schema_on_18_and_15_is_equal(project, staging15):
    project.db.query(RICH_SQL)
    staging15.query(RICH_SQL)
    assert project.db.scalar("SHOW server_version_num").startswith("18")
    assert staging15.scalar("SHOW server_version_num").startswith("15")
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 0, result
    assert result.out.splitlines()[0] == "No schema differences (local vs staging)"


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_each_kind_of_difference_across_versions(project, staging15):
    project.db.query(RICH_SQL + """
        CREATE TABLE only_here (id int PRIMARY KEY);
        ALTER TYPE user_role ADD VALUE 'robot';
        ALTER TABLE users ADD COLUMN last_login timestamp;
        CREATE OR REPLACE VIEW published_posts AS
          SELECT p.id, p.title, u.email, p.slug FROM posts p JOIN users u ON u.id = p.user_id
          WHERE p.status = 'published';
    """)
    staging15.query(RICH_SQL + """
        ALTER TABLE users ADD COLUMN last_login timestamptz;
        CREATE INDEX idx_users_login ON users (last_login);
        ALTER TABLE posts ADD CONSTRAINT title_short CHECK (length(title) < 200);
        CREATE FUNCTION only_there() RETURNS int LANGUAGE sql RETURN 1;
    """)
    result = project.run("db", "schema", "diff", "staging")
    assert result.code == 6, result
    lines = result.out.splitlines()
    for expected in ("+ Table: only_here (missing in staging)",
                     "~ Column: users.last_login (different type)",
                     "- Index: idx_users_login (missing in local)",
                     "- Check constraint: posts.title_short (missing in local)",
                     "- Function: only_there() (missing in local)",
                     "~ View: published_posts (different definition)"):
        assert expected in lines, (expected, lines)
    assert any(line.startswith("~ Enum: user_role") for line in lines), lines
    assert "app.recent" not in result.out  # printed differently by 15 and 18, yet equal
