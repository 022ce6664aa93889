"""`db status` on real servers: environment, server version, tables, the environment
recorded in the database, the last backup."""

import json


def test_status_reports_the_server(project):
    """`db status` shows environment, server version, masked database, tables and migrations."""
    project.db.query("CREATE TABLE t1 (id int); CREATE TABLE t2 (id int)")
    result = project.run("db", "status")
    assert result.code == 0, result
    assert "Environment:  local" in result.out
    major = project.db.scalar("SHOW server_version_num")[:2]
    assert f"PostgreSQL {major}" in result.out
    assert "Tables:       2" in result.out
    assert project.db.name in result.out


def test_status_json(project):
    """`db status --json` prints one JSON object with the same facts."""
    result = project.run("db", "status", "--json")
    assert result.code == 0, result
    facts = json.loads(result.out)
    assert facts["environment"] == "local"
    assert facts["tables"] == 0
    assert set(facts["migrations"]) >= {"applied", "pending"}
    assert facts["server_version"] == project.db.scalar("SHOW server_version").split()[0]
    assert facts["recorded_environment"] is None


def test_status_shows_the_recorded_environment(project):
    """After a migrate run, `db status` shows the environment recorded in the database, in
    text and JSON; status itself records nothing."""
    before = project.run("db", "status")
    assert "Recorded as:  - (not yet" in before.out, before
    assert project.db.scalar("SELECT to_regnamespace('nself')") is None
    project.migration("001_a.sql", "CREATE TABLE a (id int);", "DROP TABLE a;")
    # staging needs --yes without a terminal
    assert project.run_process("db", "migrate", "up", env={"ENV": "staging"}).code == 3
    assert project.run_process("db", "migrate", "up", "--yes", env={"ENV": "staging"}).code == 0
    after = project.run("db", "status")
    assert "Recorded as:  staging" in after.out, after
    assert json.loads(project.run("db", "status", "--json").out)["recorded_environment"] == \
        "staging"


def test_status_shows_last_backup(project):
    """A backup of this environment shows up as the last backup."""
    made = project.run("db", "backup", "--name", "first")
    assert made.code == 0, made
    result = project.run("db", "status")
    assert "first" in result.out.split("Last backup:")[1], result
