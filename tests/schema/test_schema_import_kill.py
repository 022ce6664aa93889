"""kill -9 of `nself db schema import` around the moment it writes its migration (as soon
as its temporary file shows, or at a random moment of the run's second half: the shadow
database, the checks, the write, the clean-up): the migrations folder then holds no new
migration or the whole one (never part of it under a name `migrate` reads), a temporary
file left behind is ignored by `migrate` and removed by the next import, and the next
import writes the migration a clean run writes."""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import time
from pathlib import Path

from conftest import random_seed, start_nself

DBML = """
Table users {
  id int [pk]
  email text [unique, not null]
  created_at timestamptz [default: `now()`]
}
Table posts {
  id int [pk]
  user_id int [ref: > users.id]
  title text
  indexes {
    (user_id, title)
  }
}
"""
IMPORT = ("db", "schema", "import")


def comparable(text: str) -> str:
    """A migration's text without its creation date (a run near midnight may differ)."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith("-- Created:"))


def new_entry(folder: Path) -> bool:
    """Whether FOLDER holds a file of an import (its migration, or the temporary one)."""
    return any(entry.name.endswith((".tmp", ".sql")) for entry in os.scandir(folder))


def test_kill_9_around_the_write_leaves_no_migration_or_the_whole_one(project, request,
                                                                      tmp_path, capsys):
    """kill -9 at the first sight of the import's file in the migrations folder (the
    temporary one while it is written and synced), or at a random moment between half the
    time a clean run takes to write and a bit after it: no migration, or the whole one with
    the mode `migrate create` gives; `migrate status` lists only whole migrations; the next
    import removes the temporary files of killed runs and writes the same migration as a
    clean run."""
    project.write("schema.dbml", DBML)
    clean_root = tmp_path / "clean"
    (clean_root / "migrations").mkdir(parents=True)
    shutil.copy(project.root / "schema.dbml", clean_root)
    began = time.monotonic()
    clean = start_nself(clean_root, *IMPORT)
    while clean.poll() is None and not new_entry(clean_root / "migrations"):
        time.sleep(0.0002)
    writes = time.monotonic() - began  # when a run writes, about
    out, err = clean.communicate(timeout=120)
    assert clean.returncode == 0, out + err
    (written,) = (clean_root / "migrations").iterdir()
    expected = comparable(written.read_text())
    created = project.run("db", "migrate", "create", "probe")
    assert created.code == 0, created
    (probe,) = project.migrations.iterdir()
    mode = stat.S_IMODE(probe.stat().st_mode)
    probe.unlink()

    slow = request.config.getoption("--slow")
    seed = random_seed()
    rng = random.Random(seed)
    kinds = {"at the write": 0, "random": 0}
    landed = {"no migration": 0, "whole migration": 0, "temporary file left": 0}
    for trial in range(50 if slow else 2):
        kind = "at the write" if trial % 2 == 0 else "random"
        kinds[kind] += 1
        where = (f"trial {trial}, {kind} (replay: NSELF_TEST_SEED={seed} python -m pytest "
                 f"{'--slow ' if slow else ''}'{request.node.nodeid}')")
        proc = start_nself(project.root, *IMPORT)
        if kind == "random":  # the second half of the run: shadow, checks, write, clean-up
            time.sleep(rng.uniform(writes / 2, writes * 1.2))  # the random moment is the point
        else:  # the temporary file lives for a write and an fsync: look often
            while proc.poll() is None and not new_entry(project.migrations):
                time.sleep(0.0002)
        proc.kill()
        proc.communicate(timeout=60)

        names = sorted(p.name for p in project.migrations.iterdir())
        migrations = [n for n in names if not n.startswith(".")]
        temporary = [n for n in names if n.startswith(".")]
        assert all(n.endswith(".tmp") for n in temporary), f"{where}: {names}"
        assert len(migrations) <= 1, f"{where}: {names}"
        for name in migrations:
            path = project.migrations / name
            assert comparable(path.read_text()) == expected, f"{where}: {name} is not whole"
            assert stat.S_IMODE(path.stat().st_mode) == mode, f"{where}: {name}'s mode"
        status = project.run("db", "migrate", "status", "--json")
        assert status.code == 0, f"{where}: {status}"
        listed = [f"{m['version']}_{m['name']}.sql" for m in json.loads(status.out)]
        assert listed == migrations, f"{where}: {names}"
        landed["whole migration" if migrations else "no migration"] += 1
        landed["temporary file left"] += bool(temporary)
        for name in migrations:  # the next trial starts where this import did
            (project.migrations / name).unlink()
    with capsys.disabled():  # seen with -s
        print(f"\nseed {seed}: {kinds}, {landed}")

    again = start_nself(project.root, *IMPORT)  # a process, as the clean run
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, out + err
    (path,) = project.migrations.iterdir()  # and no temporary file any more
    assert comparable(path.read_text()) == expected
    assert stat.S_IMODE(path.stat().st_mode) == mode
    applied = project.run("db", "migrate", "up")
    assert applied.code == 0, applied
    assert project.db.tables() == ["posts", "users"]
