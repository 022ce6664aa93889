"""Start-up of the `nself` command: what the status commands load, and the collector's pause.

No time is asserted (bench/bench_status.py measures it, in the same run as its yardstick);
these keep the two things the start-up budget rests on.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# Deferred because they are heavy (bench/README.md, "Start-up of the status commands").
HEAVY = ("pglast", "pydbml", "pyparsing", "sh", "rich", "boto3", "botocore", "faker",
         "hypothesis", "croniter", "nself.schema", "nself.seeds", "nself.mock",
         "nself.migrations.runner", "nself.backups.restore", "nself.backups.dump",
         "nself.backups.schedule", "nself.backups.remote")

RUN_AND_LIST = (
    "import sys\n"
    "from nself import __main__ as entry\n"
    "sys.argv = ['nself', *sys.argv[1:]]\n"
    "try:\n"
    "    entry.main()\n"
    "except SystemExit as exc:\n"
    f"    heavy = sorted(m for m in sys.modules if m in {HEAVY!r} or "
    f"m.startswith({tuple(name + '.' for name in HEAVY)!r}))\n"
    "    print('LOADED', heavy, file=sys.stderr)\n"
    "    raise\n"
)


@pytest.mark.parametrize("words", [("db", "status"), ("db", "migrate", "status")])
def test_status_commands_load_no_heavy_module(project, words):
    """`db status` and `migrate status`, as the installed command runs them, load none of
    pglast, pydbml, sh, rich, boto3, faker, croniter, the schema package or the runner."""
    project.migration("001_t.sql", "CREATE TABLE t (id int);", "DROP TABLE t;")
    assert project.run("db", "migrate", "up").code == 0
    proc = subprocess.run([sys.executable, "-c", RUN_AND_LIST, *words], cwd=project.root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stderr, proc.stderr


def test_the_command_runs_with_garbage_collection_on(tmp_path):
    """The collector is off only while nself's modules load: the command itself (a mock of
    millions of rows, a long import) runs with it on."""
    code = ("import gc, sys\n"
            "from nself import __main__ as entry\n"
            "import nself.cli\n"
            "nself.cli.program.run = lambda: print('collecting', gc.isenabled())\n"
            "entry.main()\n"
            "print('after', gc.isenabled())\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout.split() == ["collecting", "True", "after", "True"], proc
