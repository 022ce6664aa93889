"""`nself db migrate lint --trace FILE`: the locks a migration really takes.

The migrations before FILE are replayed into a shadow database (never the configured
one); then FILE's statements run there one by one, as `migrate up` runs them (in one
transaction unless the file is `-- nself:no-transaction`), while a second connection
polls `pg_locks` for the first one's backend. A statement's own locks are also read from
its session right after it (inside a transaction they are held until COMMIT, so none is
missed however short the statement); the watcher sees those a no-transaction statement
releases before it ends (CONCURRENTLY's), when they last at least one poll.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from nself.errors import OperationFailed
from nself.lint import read_file
from nself.migrations import files
from nself.pg import connection
from nself.schema import shadow

POLL_SECONDS = 0.002
# the relation locks of backend %s on user relations (catalogs and TOAST left out)
LOCKS_SQL = """
SELECT coalesce(n.nspname || '.' || c.relname,
                'relation ' || l.relation || ' (not visible yet)'), l.mode
FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation
LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = %s AND l.locktype = 'relation' AND l.database = (
    SELECT oid FROM pg_database WHERE datname = current_database())
  AND coalesce(n.nspname, '') NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
"""


@dataclass(frozen=True)
class Held:
    """A lock one statement took: on what, which mode, and for how long it was held."""

    line: int
    relation: str   # 'public.users' (an index's name too: its own lock)
    mode: str       # 'SHARE', 'ACCESS EXCLUSIVE'
    seconds: float  # until COMMIT in a transaction, else while the watcher saw it

    def as_dict(self) -> dict:
        return {"line": self.line, "relation": self.relation, "mode": self.mode,
                "ms": round(self.seconds * 1000, 1)}


def mode_name(mode: str) -> str:
    """pg_locks' 'ShareUpdateExclusiveLock' as the docs write it: 'SHARE UPDATE EXCLUSIVE'."""
    return " ".join(re.findall(r"[A-Z][a-z]*", mode.removesuffix("Lock"))).upper()


class Watcher(threading.Thread):
    """Polls the locks of backend `pid` until stopped: (relation, mode) -> first, last."""

    def __init__(self, conn, pid: int):
        super().__init__(name="lock watcher", daemon=True)
        self.conn, self.pid = conn, pid
        self.seen: dict[tuple[str, str], list[float]] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            now = time.perf_counter()
            for relation, mode in self.conn.execute(LOCKS_SQL, (self.pid,)).fetchall():
                self.seen.setdefault((relation, mode), [now, now])[1] = now
            time.sleep(POLL_SECONDS)


def trace(env, path: Path, say) -> list[Held]:
    """The locks each statement of migration `path` takes, run in a shadow database after
    the folder's migrations older than it."""
    read = read_file(path, str(path))
    match = files.FILENAME.match(path.name)
    folder = files.read_folder(env.migrations_dir, env.root)
    same = path.resolve().parent == env.migrations_dir.resolve()
    earlier = {m.version for m in folder
               if not (same and match) or m.version < int(match.group(1))}
    with shadow.shadows(env, say) as shades:
        sh = shades.create()
        shadow.replay(env, sh, earlier)
        with connection.connect(sh.db) as watching:
            return _run(sh.conn, watching, read, path)


def _run(conn, watching, read, path: Path) -> list[Held]:
    pid = conn.info.backend_pid
    watcher = Watcher(watching, pid)
    watcher.start()
    taken: list[tuple[int, str, str, float, float | None]] = []  # line, rel, mode, from, to
    mine: set[tuple[str, str]] = set()
    try:
        if read.transactional:
            conn.execute("BEGIN")
        for st in read.statements:
            watcher.seen = {}
            started = time.perf_counter()
            try:
                conn.execute(st.text)
            except psycopg.Error as exc:
                raise OperationFailed(f"{path}:{st.line} failed in the shadow database: "
                                      f"{connection.describe_error(exc)}") from None
            if read.transactional:
                for relation, mode in conn.execute(LOCKS_SQL, (pid,)).fetchall():
                    if (relation, mode) not in mine:
                        mine.add((relation, mode))
                        taken.append((st.line, relation, mode, started, None))
            else:
                time.sleep(POLL_SECONDS * 3)  # the watcher's last look at this statement
                for (relation, mode), (first, last) in list(watcher.seen.items()):
                    taken.append((st.line, relation, mode, first, last))
        if read.transactional:
            conn.execute("COMMIT")
        done = time.perf_counter()
    finally:
        watcher.stop.set()
        watcher.join()
    return [Held(line, relation, mode_name(mode), (to or done) - since)
            for line, relation, mode, since, to in taken]
