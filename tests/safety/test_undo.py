"""Every undo line a command prints is pasted as it is, without a terminal, and it runs and
puts the database back (issue 15: lines without ENV= or the confirmation word were refused)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

PROD = {"ENV": "production"}
STAGING = {"ENV": "staging"}
UNDO = re.compile(r"undo with: (.+)\)$|undo with `([^`]+)`")


def migrations(project):
    project.migration("001_keep.sql", "CREATE TABLE keep (id int);\nINSERT INTO keep VALUES (1);",
                      "DROP TABLE keep;")
    project.migration("002_more.sql", "CREATE TABLE more (id int);", "DROP TABLE more;")


def state(db) -> tuple:
    """What an undo must bring back: tables, applied versions, rows."""
    applied = db.query("SELECT version FROM nself.migrations ORDER BY 1") \
        if db.scalar("SELECT to_regclass('nself.migrations') IS NOT NULL") else []
    rows = db.query("SELECT id FROM keep ORDER BY 1") if "keep" in db.tables() else []
    return db.tables(), applied, rows


def undo_lines(out: str) -> list[str]:
    found = []
    for line in out.splitlines():
        match = UNDO.search(line)
        if match:
            found.append(match.group(1) or match.group(2))
    return found


def paste(project, line: str) -> subprocess.CompletedProcess:
    """Run `line` in a shell, as a user pasting it would (no terminal)."""
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    line = re.sub(r"(^|\s)nself ", rf"\1{sys.executable} -m nself ", line, count=1)
    return subprocess.run(["sh", "-c", line], cwd=project.root, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120,
                          env={**os.environ, "PATH": path})


def up_all(project, env):
    result = project.run_process("db", "migrate", "up", "--yes", env=env)
    assert result.code == 0, result


def up_one(project, env):
    result = project.run_process("db", "migrate", "up", "1", "--yes", env=env)
    assert result.code == 0, result


def backed_up_extra(project, env):
    """Both applied, a backup named b, then one more row (the restore removes it)."""
    up_all(project, env)
    made = project.run_process("db", "backup", "--name", "b", env=env)
    assert made.code == 0, made
    project.db.query("INSERT INTO keep VALUES (2)")


CASES = {
    "production migrate up": (up_one, PROD, ("db", "migrate", "up", "--yes")),
    "production migrate down": (up_all, PROD, ("db", "migrate", "down", "--confirm",
                                               "yes-destroy-production")),
    "production update": (up_one, PROD, ("db", "update", "--yes")),
    "production restore": (backed_up_extra, PROD, ("db", "restore", "backups/production/b.dump",
                                                   "--clean", "--confirm",
                                                   "yes-restore-production")),
    "staging migrate down": (up_all, STAGING, ("db", "migrate", "down", "--yes")),
    "local reset": (up_all, {}, ("db", "reset")),
    "local migrate fresh": (up_all, {}, ("db", "migrate", "fresh")),
    "local restore": (backed_up_extra, {}, ("db", "restore", "backups/local/b.dump", "--clean")),
}


@pytest.mark.parametrize("case", CASES)
def test_pasted_undo_line_restores(project, case):
    """The undo line a command prints runs as pasted (no terminal) and brings back the
    database as it was before the command."""
    prepare, env, argv = CASES[case]
    migrations(project)
    prepare(project, env)
    project.db.query("INSERT INTO keep VALUES (7)")
    before = state(project.db)
    ran = project.run_process(*argv, env=env)
    assert ran.code == 0, ran
    [line] = undo_lines(ran.out)
    assert state(project.db) != before
    pasted = paste(project, line)
    assert pasted.returncode == 0, (line, pasted.stdout, pasted.stderr)
    assert state(project.db) == before, line
