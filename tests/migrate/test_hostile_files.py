"""Files that are not what they seem: every file nself reads is a regular file (after
symlinks) of a sane size, checked before a byte is read (`nself.userfile`).

Each case runs the real command in a child process with a timeout, so a regression (a
read of /dev/zero that never ends, a FIFO that waits for a writer) fails the test instead
of hanging the suite.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nself import errors, userfile
from nself.errors import UsageError

TIMEOUT = 60


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _link_to_zero(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/zero")
    return path


def _sparse(path: Path, size: int) -> Path:
    """A file that claims SIZE bytes without taking the disk (a hole)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


# (id, make the hostile file under the project root, argv, extra env, words the line holds)
CASES = [
    ("dbml-dev-zero", None, ["db", "schema", "import", "/dev/zero", "--dry-run"], {},
     "/dev/zero is not a regular file: it is a character device"),
    ("dbml-setting-urandom", None, ["db", "schema", "import", "--dry-run"],
     {"NSELF_SCHEMA_FILE": "/dev/urandom"}, "it is a character device"),
    ("dbml-fifo", lambda root: _fifo(root / "schema.dbml"),
     ["db", "schema", "import", "schema.dbml", "--dry-run"], {}, "it is a FIFO"),
    ("dbml-too-large", lambda root: _sparse(root / "big.dbml", userfile.DBML_LIMIT + 1),
     ["db", "schema", "import", "big.dbml", "--dry-run"], {}, "more than the 67,108,864 bytes"),
    ("restore-fifo", lambda root: _fifo(root / "x.dump"),
     ["db", "restore", "x.dump", "--dry-run"], {}, "x.dump is not a regular file: it is a FIFO"),
    ("restore-dump-linked-to-dev-zero", lambda root: _link_to_zero(root / "z.dump"),
     ["db", "restore", "z.dump", "--dry-run"], {}, "through a link to /dev/zero"),
    ("migration-fifo", lambda root: _fifo(root / "migrations" / "001_a.sql"),
     ["db", "migrate", "status"], {}, "001_a.sql is not a regular file: it is a FIFO"),
    ("migration-linked-to-dev-zero",
     lambda root: _link_to_zero(root / "migrations" / "001_a.sql"),
     ["db", "migrate", "up"], {}, "through a link to /dev/zero"),
    ("migration-too-large",
     lambda root: _sparse(root / "migrations" / "001_a.sql", userfile.SQL_LIMIT + 1),
     ["db", "migrate", "status"], {}, "more than the 268,435,456 bytes nself reads as a migration"),
    ("seed-fifo", lambda root: _fifo(root / "seeds" / "common" / "01_a.sql"),
     ["db", "seed"], {}, "01_a.sql is not a regular file: it is a FIFO"),
    ("seed-linked-to-dev-zero",
     lambda root: _link_to_zero(root / "seeds" / "local" / "01_a.sql"),
     ["db", "seed", "--dry-run"], {}, "through a link to /dev/zero"),
    ("seed-given-dev-zero", None, ["db", "seed", "/dev/zero"], {}, "it is a character device"),
    ("settings-linked-to-dev-zero", lambda root: _link_to_zero(root / ".env"),
     ["db", "status"], {}, ".env"),
    ("settings-too-large",
     lambda root: _sparse(root / "config" / "local.env", userfile.SETTINGS_LIMIT + 1),
     ["db", "status"], {}, "more than the 1,048,576 bytes nself reads as a settings file"),
    ("shell-file-dev-zero", None, ["db", "shell", "-f", "/dev/zero"], {},
     "it is a character device"),
    ("config-file-fifo", lambda root: _fifo(root / "invoke.yaml"),
     ["-f", "invoke.yaml", "db", "status"], {}, "invoke.yaml is not a regular file: it is a FIFO"),
    ("gitignore-fifo", lambda root: _fifo(root / ".gitignore"), ["init"], {},
     ".gitignore is not a regular file: it is a FIFO"),
]


@pytest.mark.parametrize("name,make,argv,env,said", CASES, ids=[c[0] for c in CASES])
def test_hostile_file_is_one_line_exit_2(project, name, make, argv, env, said):
    """A FIFO, a device, a link to /dev/zero or an oversized file where nself reads a file:
    exit 2 at once, one line naming it (it read /dev/zero to 23 GB, or waited forever)."""
    if make is not None:
        make(project.root)
    result = project.run_process(*argv, env=env, timeout=TIMEOUT)
    assert result.code == errors.USAGE, result
    assert said in result.err and result.err.count("\n") == 1, result
    assert "Traceback" not in result.err


def test_backup_sidecars_linked_to_dev_zero_are_ignored(project):
    """A backup's .sha256 and .json that are links to /dev/zero read as absent: `backup list`
    answers at once (it would read them forever)."""
    backups = project.root / "backups" / "local"
    backups.mkdir(parents=True)
    (backups / "2026-01-01_000000_x.dump").write_bytes(b"PGDMP" + b"\0" * 100)
    _link_to_zero(backups / "2026-01-01_000000_x.dump.sha256")
    _link_to_zero(backups / "2026-01-01_000000_x.dump.json")
    result = project.run_process("db", "backup", "list", "--all", timeout=TIMEOUT)
    assert result.code == errors.SUCCESS, result
    assert "2026-01-01_000000_x.dump" in result.out


# The reader itself (no server) ------------------------------------------------------------


def test_read_bytes_reads_a_regular_file_whole(tmp_path):
    """A regular file of several read pieces comes back byte for byte."""
    data = os.urandom(3 * userfile.CHUNK + 17)
    (tmp_path / "f").write_bytes(data)
    assert userfile.read_bytes(tmp_path / "f", "a test file", 10 * userfile.MB) == data


def test_read_bytes_stops_at_the_limit_when_the_size_lies(tmp_path):
    """A regular file that reports no size (/proc) is still read no further than the limit."""
    text = userfile.read_bytes("/proc/self/status", "a test file", userfile.MB)
    assert b"SigCgt" in text
    with pytest.raises(UsageError, match="more than the 10 B"):
        userfile.read_bytes("/proc/self/status", "a test file", 10)


def test_errors_are_the_callers_class(tmp_path):
    """The caller's own UsageError class is raised (a migration's, a seed's, settings')."""
    class MineError(UsageError):
        pass

    with pytest.raises(MineError, match="no such file"):
        userfile.read_text(tmp_path / "missing", "a test file", 10, error=MineError)
    (tmp_path / "bad").write_bytes(b"ok\n\xff")
    with pytest.raises(MineError, match=r"bad:2: the file is not UTF-8"):
        userfile.read_text(tmp_path / "bad", "a test file", 10, error=MineError)


def test_last_lines_reads_only_the_end(tmp_path):
    """A log's tail comes from its end: a 2 GB file of one endless line costs at most
    TAIL_LIMIT bytes, and a missing log has no lines."""
    log = tmp_path / "server.log"
    with open(log, "wb") as handle:
        handle.truncate(2 * 1024 * userfile.MB)
        handle.seek(0, os.SEEK_END)
        handle.write(b"\nfirst\nsecond\n")
    assert userfile.last_lines(log, 2, "a log") == ["first", "second"]
    assert len(userfile.last_lines(log, 5, "a log")[0]) < userfile.TAIL_LIMIT
    assert userfile.last_lines(tmp_path / "none.log", 5, "a log") == []
