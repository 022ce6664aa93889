"""Real PostgreSQL for every test: the embedded 18 (started once per session) and,
when NSELF_TEST_EXTERNAL_URL is set, that server too (the machine's PostgreSQL 15).
Each test gets its own throwaway database, dropped afterwards."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from psycopg import sql

from nself.config import Database

REPO = Path(__file__).resolve().parent.parent
# A test module may use a helper of another section's module (`from test_guide_lines import
# commands_in`): every section folder is importable whatever folder pytest was given.
for _section in sorted(Path(__file__).resolve().parent.iterdir()):
    if _section.is_dir() and any(_section.glob("test_*.py")) and str(_section) not in sys.path:
        sys.path.append(str(_section))
EXTERNAL_URL = os.environ.get("NSELF_TEST_EXTERNAL_URL")
BACKENDS = ["embedded"] + (["external"] if EXTERNAL_URL else [])
ISOLATED_PREFIXES = ("NSELF_", "PG", "BACKUP_", "AWS_")
ISOLATED_NAMES = ("ENV", "DATABASE_URL")
# read before isolated_environment removes every NSELF_ setting from the tests' environment
SEED_SETTING = os.environ.get("NSELF_TEST_SEED")


def random_seed() -> int:
    """The seed of a randomized test: NSELF_TEST_SEED when set (to replay a failure it
    printed), else a new one."""
    return int(SEED_SETTING) if SEED_SETTING else random.randrange(1 << 30)


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true",
                     help="also run long randomized and load tests (marked slow)")


def pytest_configure(config):
    """Hypothesis runs a few examples per property by default and hundreds under --slow."""
    common = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                        HealthCheck.too_slow])
    settings.register_profile("default-run", max_examples=20, **common)
    settings.register_profile("slow-run", max_examples=300, **common)
    settings.load_profile("slow-run" if config.getoption("--slow") else "default-run")


# a test that uses one of these fixtures (directly or through another) talks to a server
SERVER_FIXTURES = {"embedded_server", "backend"}


def pytest_collection_modifyitems(config, items):
    """Mark every test that needs a server `db` (so `-m "not db"` is the fast tier), and
    skip the slow ones unless --slow."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long test: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch, tmp_path_factory):
    """No settings from the developer's shell leak into a test; HOME is a temp folder."""
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES) or name in ISOLATED_NAMES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory):
    """One embedded PostgreSQL 18 for the whole session, in a temp folder."""
    from nself.pg.embedded import EmbeddedServer

    state = Path(f"/tmp/nself-test-{os.getpid()}")
    server = EmbeddedServer(state, throwaway=True)
    server.ensure_running()
    _no_flush(server.connection_params("postgres"))
    yield server
    server.stop()
    subprocess.run(["rm", "-rf", str(state)], check=False)


def _no_flush(admin: dict[str, str]) -> None:
    """The session's server never waits for the disk (fsync off, no full-page images): a
    killed nself, psql or even postmaster loses nothing the kernel holds, only a machine
    crash would, and the server's folder is thrown away. CREATE and DROP DATABASE (each
    test's database, each shadow) and every commit get cheaper."""
    with psycopg.connect(Database(admin).conninfo(), autocommit=True) as conn:
        for setting in ("fsync", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")


def _admin_params(backend: str, embedded_server) -> dict[str, str]:
    if backend == "external":
        from psycopg.conninfo import conninfo_to_dict

        return {k: str(v) for k, v in conninfo_to_dict(EXTERNAL_URL).items()}
    return embedded_server.connection_params("postgres")


@dataclass
class TestDatabase:
    __test__ = False  # a helper, not a test class (for modules that import it)
    backend: str
    params: dict[str, str]
    admin: dict[str, str]

    @property
    def name(self) -> str:
        return self.params["dbname"]

    @property
    def url(self) -> str:
        p = self.params
        host, user, port = p.get("host", ""), p.get("user", "postgres"), p.get("port", "5432")
        if host.startswith("/"):
            return f"postgresql://{user}@/{p['dbname']}?host={host}&port={port}"
        return f"postgresql://{user}@{host}:{port}/{p['dbname']}"

    @property
    def database(self) -> Database:
        return Database(self.params)

    def connect(self, **kw) -> psycopg.Connection:
        return psycopg.connect(Database(self.params).conninfo(), autocommit=True, **kw)

    def query(self, text: str, params=None) -> list[tuple]:
        with self.connect() as conn:
            cur = conn.execute(text, params)
            return cur.fetchall() if cur.description else []

    def scalar(self, text: str, params=None):
        rows = self.query(text, params)
        return rows[0][0] if rows else None

    def tables(self, schema: str = "public") -> list[str]:
        return [r[0] for r in self.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (schema,))]

    def create_sibling(self) -> TestDatabase:
        """Another empty database on the same server (dropped with this one's fixture)."""
        name = f"{self.name}_b"
        _create(self.admin, name)
        return TestDatabase(self.backend, {**self.params, "dbname": name}, self.admin)


def applied(db: TestDatabase) -> list[str]:
    """The labels of the migrations nself's tracking table records as applied, in order."""
    return [r[0] for r in db.query("SELECT label FROM nself.migrations ORDER BY version")]


FINGERPRINT_SQL = ("SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), "
                   "'')) FROM {table} AS t")


def table_fingerprint(db: TestDatabase, table: str) -> tuple[int, str]:
    """A table's rows as one comparable value: their count and an md5 of every row's text
    (TABLE is SQL: a name, quoted where it needs it)."""
    return tuple(db.query(FINGERPRINT_SQL.format(table=table))[0])


def fingerprint(db: TestDatabase, schema: str = "public") -> dict[str, tuple[int, str]]:
    """Every table of SCHEMA with its table_fingerprint."""
    return {table: table_fingerprint(db, f'"{schema}"."{table}"') for table in db.tables(schema)}


def migrated(db: TestDatabase, **data) -> dict:
    """What two runs of the same migrations must agree on: public's columns, its indexes
    (definition and validity), nself's tracking and progress rows, and DATA (facts of the
    test's own, by name)."""
    return {
        "columns": db.query("SELECT table_name, column_name, data_type FROM "
                            "information_schema.columns WHERE table_schema = 'public' "
                            "ORDER BY 1, 2"),
        "indexes": db.query("SELECT c.relname, pg_get_indexdef(c.oid), i.indisvalid "
                            "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public' ORDER BY 1"),
        "applied": db.query("SELECT label FROM nself.migrations ORDER BY 1"),
        "progress": db.query("SELECT count(*) FROM nself.migration_progress"),
        **data,
    }


def _create(admin: dict[str, str], name: str) -> None:
    with psycopg.connect(Database(admin).conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _drop(admin: dict[str, str], name: str) -> None:
    with psycopg.connect(Database(admin).conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def db(backend, request) -> TestDatabase:
    """A fresh, empty database on the current backend, dropped after the test."""
    server = request.getfixturevalue("embedded_server") if backend == "embedded" else None
    admin = _admin_params(backend, server)
    name = f"nself_t_{uuid.uuid4().hex[:12]}"
    _create(admin, name)
    test_db = TestDatabase(backend, {**admin, "dbname": name}, admin)
    yield test_db
    _drop(admin, name)
    _drop(admin, f"{name}_b")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


@dataclass
class Project:
    """A temp nself project whose DATABASE_URL points at the test's database."""

    root: Path
    db: TestDatabase
    capsys: pytest.CaptureFixture
    env: dict[str, str] = field(default_factory=dict)

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def migration(self, filename: str, up: str, down: str | None = "", header: str = "") -> Path:
        """Write migrations/<filename> from an UP and a DOWN section."""
        parts = [f"-- Migration: {filename.removesuffix('.sql')}\n", textwrap.dedent(header),
                 "-- UP\n", textwrap.dedent(up).strip("\n") + "\n"]
        if down is not None:
            parts += ["\n-- DOWN\n", textwrap.dedent(down).strip("\n") + "\n"]
        path = self.migrations / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(parts))
        return path

    def run(self, *argv: str) -> Result:
        """Run `nself ARGV` in-process, as the installed command would, and capture it."""
        from nself.cli import program

        self.capsys.readouterr()
        code = program.run(["nself", *argv], exit=False)
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def run_process(self, *argv: str, env: dict[str, str] | None = None, stdin=subprocess.DEVNULL,
                    timeout: float = 120) -> Result:
        """Run the real `nself` command in a child process (no terminal)."""
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.run([sys.executable, "-m", "nself", *argv], cwd=self.root,
                              env=full_env, capture_output=True, text=True, stdin=stdin,
                              timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)


PROBE = ("import sys; from nself.cli import program; code = program.run(sys.argv[1:], "
         "exit=False); print('rich' in sys.modules, file=sys.stderr); sys.exit(code)")


@dataclass
class TerminalResult:
    code: int
    out: str          # what the terminal showed (escape sequences included)
    err: str
    rich_imported: bool


def _read_terminal(leader: int, timeout: float, answer: str | None = None) -> bytes:
    """Everything the child writes to the terminal until it closes it (or is silent for
    TIMEOUT seconds); ANSWER is typed when it asks `[y/N]`."""
    import select

    seen, answered = b"", answer is None
    while select.select([leader], [], [], timeout)[0]:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if not answered and b"[y/N]" in seen:
            os.write(leader, answer.encode() + b"\n")
            answered = True
    return seen


def run_on_terminal(root: Path, *argv: str, timeout: float = 120) -> TerminalResult:
    """Run `nself ARGV` in a child whose stdin and stdout are a pseudo-terminal."""
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", PROBE, "nself", *argv], cwd=root,
                            stdin=follower, stdout=follower, stderr=subprocess.PIPE, text=True)
    os.close(follower)
    seen = _read_terminal(leader, timeout)
    _, err = proc.communicate(timeout=timeout)
    os.close(leader)
    lines = err.strip().splitlines()
    return TerminalResult(proc.returncode, seen.decode(errors="replace"),
                          "\n".join(lines[:-1]), bool(lines) and lines[-1] == "True")


def answer_on_terminal(root: Path, argv: list[str], answer: str,
                       env: dict[str, str] | None = None, timeout: float = 120) -> Result:
    """Run `nself ARGV` with stdin, stdout and stderr on a pseudo-terminal (a prompt may go
    to either) and type ANSWER when it asks `[y/N]`. ENV adds settings (an empty value
    removes one). A child that stops talking for TIMEOUT seconds is killed."""
    import pty

    full = {**os.environ, **(env or {})}
    for name in [n for n, v in (env or {}).items() if not v]:
        full.pop(name)
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "nself", *argv], cwd=root, env=full,
                            stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen = _read_terminal(leader, timeout, answer)
    proc.kill()  # no-op when it has exited
    code = proc.wait(timeout=timeout)
    os.close(leader)
    return Result(code, seen.decode(errors="replace").replace("\r\n", "\n"), "")


@pytest.fixture
def project(tmp_path, db, monkeypatch, capsys) -> Project:
    root = tmp_path / "proj"
    for rel in ("migrations", "seeds/common", "seeds/local", "config"):
        (root / rel).mkdir(parents=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("DATABASE_URL", db.url)
    return Project(root=root, db=db, capsys=capsys)


@pytest.fixture(scope="module")
def s3_server():
    """moto's S3 server on 127.0.0.1, a free port: a real HTTP endpoint (backup tests)."""
    from moto import server as moto_server  # the dev extra installs moto[server]

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


# Kill tests (kill -9 of a long nself command, then the same command again) ------------------


def start_nself(root: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """The real `nself ARGV` in a child process (no terminal), its output captured."""
    return subprocess.Popen([sys.executable, "-m", "nself", *argv], cwd=root,
                            env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def runs_child(name: str):
    """A kill_when point: the process has a child process called NAME (e.g. pg_dump)."""
    def check(proc: subprocess.Popen, conn: psycopg.Connection) -> bool:
        try:
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            return any(Path(f"/proc/{kid}/comm").read_text().strip() == name for kid in kids)
        except OSError:  # it, or that child, just ended
            return False
    check.__name__ = f"runs_child({name})"
    return check


@dataclass
class Held:
    """A kill_when point that does not pass by: once a session matches AFTER (from the start
    when None) the test's own transaction runs HOLD (a snapshot, a lock) and the command's
    session waits on it while it matches CONDITION; after the kill that session is ended too,
    so the next run finds what the kill left."""
    hold: str
    condition: str
    name: str
    after: str | None = None
    left: str = "SELECT true"  # what the kill left, checked after it (SQL, true or false)

    def __str__(self) -> str:
        return self.name


def half_built(index: str, after: str | None = None) -> Held:
    """The CREATE INDEX CONCURRENTLY of INDEX waits at its end (for the test's snapshot,
    taken once AFTER matches: an earlier one would wait too), built and still INVALID."""
    return Held("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SELECT 1",
                f"query LIKE '%INDEX CONCURRENTLY {index} %' AND wait_event = 'virtualxid'",
                f"{index} half built", after,
                f"SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{index}')")


def kill_when(proc: subprocess.Popen, db: TestDatabase, point, timeout: float = 120,
              stop=subprocess.Popen.kill) -> tuple[str, str]:
    """SIGKILL PROC (or STOP(proc)) the moment POINT holds: the state is waited for, not a
    guessed time; returns its output and errors. POINT is SQL over pg_stat_activity (another
    session of DB matches it, e.g. "query LIKE '%UPDATE big%'"), a check(proc, conn)
    (runs_child) or Held. PROC ending first fails the test."""
    label = point if isinstance(point, str | Held) else point.__name__
    held = not isinstance(point, Held)
    condition = point if held else point.condition

    def sessions(condition: str) -> str:
        return ("FROM pg_stat_activity WHERE datname = current_database() "
                f"AND pid <> pg_backend_pid() AND ({condition})")

    def seen(conn, condition: str) -> bool:
        return conn.execute(f"SELECT count(*) {sessions(condition)}").fetchone()[0] > 0

    deadline = time.monotonic() + timeout
    with db.connect() as conn, psycopg.connect(db.database.conninfo()) as holder:
        while True:
            if not held and (point.after is None or seen(conn, point.after)):
                holder.execute(point.hold)  # until the end of this block
                held = True
            if held and (seen(conn, condition) if isinstance(condition, str)
                         else condition(proc, conn)):
                break
            assert proc.poll() is None, f"it ended before {label}: {proc.communicate()}"
            assert time.monotonic() < deadline, f"never reached {label}"
            time.sleep(0.005)
        stop(proc)
        out, err = proc.communicate(timeout=60)
        if isinstance(point, Held):
            conn.execute(f"SELECT pg_terminate_backend(pid) {sessions(condition)}")
            assert conn.execute(point.left).fetchone()[0], f"{label}: not left by the kill"
    return out, err


def kill_anywhere(project: Project, argv: tuple[str, ...], snapshot, points: list[str],
                  request, prepare=None) -> None:
    """kill -9 of `nself ARGV`, then `nself ARGV` again, ends as an uninterrupted run does
    (SNAPSHOT(db) equal to a clean run's on a sibling database, exit 0, no traceback).

    By default one run is killed at each of POINTS in turn (kill_when conditions, in the
    order the command reaches them: every phase), each run taking over from the killed one,
    and a last run finishes. With --slow, 50 more trials kill 1-3 runs at random moments.
    PREPARE(env) brings a wiped database to where the command starts (env: its settings)."""
    from nself.pg.wipe import wipe

    prepare = prepare or (lambda env: None)
    clean_db = project.db.create_sibling()
    other = {"DATABASE_URL": clean_db.url}
    prepare(other)
    began = time.monotonic()
    clean = start_nself(project.root, *argv, env=other)
    _, err = clean.communicate(timeout=300)
    span = time.monotonic() - began
    assert clean.returncode == 0, err
    expected = snapshot(clean_db)

    def finish(label: str) -> None:
        final = start_nself(project.root, *argv)
        out, err = final.communicate(timeout=300)
        assert final.returncode == 0, f"{label}: {out}{err}"
        assert "Traceback" not in err, label
        assert snapshot(project.db) == expected, label

    prepare({})
    for point in points:
        kill_when(start_nself(project.root, *argv), project.db, point)
    finish(f"killed at each of {points}")
    if not request.config.getoption("--slow"):
        return
    seed = random_seed()
    rng = random.Random(seed)
    for trial in range(50):
        with project.db.connect() as conn:
            wipe(conn)
        prepare({})
        for _ in range(rng.randint(1, 3)):
            proc = start_nself(project.root, *argv)
            time.sleep(rng.uniform(0.1, span))  # the random moment is the point here
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=300)
        finish(f"trial {trial} (replay: NSELF_TEST_SEED={seed} python -m pytest --slow "
               f"'{request.node.nodeid}')")
