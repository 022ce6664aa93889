"""The environment a command runs in: its name, project paths, settings and database.

Settings load in this order, later wins: `config/<env>.env` (committed, no
secrets), `.env` in the project root (personal, git-ignored), then the real
process environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from nself.errors import ConfigError, NoProject

ENVIRONMENTS = ("local", "staging", "production")
ALIASES = {
    "local": "local",
    "dev": "local",
    "development": "local",
    "staging": "staging",
    "stage": "staging",
    "production": "production",
    "prod": "production",
}

# libpq's connection environment variables, and the keyword each maps to.
LIBPQ_ENV = {
    "PGHOST": "host",
    "PGHOSTADDR": "hostaddr",
    "PGPORT": "port",
    "PGUSER": "user",
    "PGPASSWORD": "password",
    "PGDATABASE": "dbname",
    "PGSSLMODE": "sslmode",
    "PGSSLROOTCERT": "sslrootcert",
    "PGSSLCERT": "sslcert",
    "PGSSLKEY": "sslkey",
    "PGPASSFILE": "passfile",
    "PGSERVICE": "service",
    "PGOPTIONS": "options",
    "PGCONNECT_TIMEOUT": "connect_timeout",
    "PGTARGETSESSIONATTRS": "target_session_attrs",
}
KEYWORD_ENV = {keyword: var for var, keyword in LIBPQ_ENV.items()}


def canonical_env_name(name: str) -> str:
    """The canonical environment name for `name` or an alias of it."""
    canonical = ALIASES.get(name.strip().lower())
    if canonical is None:
        raise ConfigError(
            f"Unknown environment {name!r}: use one of local (dev), staging, production (prod)."
        )
    return canonical


def mask_url(url: str) -> str:
    """`url` with its password replaced by `***`, safe to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable database URL>"
    if parts.password is None:
        masked = url
    else:
        userinfo = quote(parts.username or "", safe="") + ":***"
        host = parts.netloc.rsplit("@", 1)[1]
        masked = urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))
    # key=value password parameters in the query string, too
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", masked)


@dataclass(frozen=True)
class Database:
    """How to reach one database: libpq keywords, plus whether nself runs the server."""

    params: Mapping[str, str]
    embedded: bool = False

    @property
    def name(self) -> str:
        return self.params.get("dbname") or self.params.get("user") or os.environ.get(
            "USER", "postgres"
        )

    @property
    def password(self) -> str | None:
        return self.params.get("password") or None

    def conninfo(self, dbname: str | None = None) -> str:
        """A libpq conninfo string (may hold the password: never print it)."""
        from psycopg.conninfo import make_conninfo

        params = dict(self.params)
        if dbname is not None:
            params["dbname"] = dbname
        return make_conninfo(**params)

    def libpq_env(self, dbname: str | None = None) -> dict[str, str]:
        """PG* environment variables for a tool, so no secret goes on its argv."""
        env = {KEYWORD_ENV[k]: str(v) for k, v in self.params.items() if k in KEYWORD_ENV}
        if dbname is not None:
            env["PGDATABASE"] = dbname
        return env

    def display(self, dbname: str | None = None) -> str:
        """A URL for this database with the password masked."""
        p = dict(self.params)
        if dbname is not None:
            p["dbname"] = dbname
        user = p.get("user", "")
        auth = f"{quote(user, safe='')}{':***' if p.get('password') else ''}@" if user else ""
        host = p.get("host", "")
        query = ""
        if host.startswith("/"):
            query = f"?host={host}"
            host = ""
        port = f":{p['port']}" if p.get("port") and not query else ""
        return f"postgresql://{auth}{host}{port}/{p.get('dbname', '')}{query}"

    def redact(self, text: str) -> str:
        """`text` with this database's password blanked out wherever it appears."""
        if self.password:
            text = text.replace(self.password, "***")
            text = text.replace(quote(self.password, safe=""), "***")
        return text


def _read_env_file(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read settings file {path}: {exc}") from exc
    return {k: v for k, v in values.items() if v is not None}


@dataclass
class Environment:
    """Everything a command needs to know about where it runs."""

    name: str
    root: Path
    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path | None = None, environ: Mapping[str, str] | None = None
             ) -> Environment:
        """Read the environment name and settings for the project in `root` (default: cwd)."""
        environ = os.environ if environ is None else environ
        root = Path(root or environ.get("NSELF_PROJECT_DIR") or os.getcwd()).resolve()
        dotenv = _read_env_file(root / ".env")
        raw = environ.get("ENV") or environ.get("NSELF_ENV") or dotenv.get("ENV") or dotenv.get(
            "NSELF_ENV") or "local"
        name = canonical_env_name(raw)
        settings: dict[str, str] = {}
        settings.update(_read_env_file(root / "config" / f"{name}.env"))
        settings.update(dotenv)
        settings.update(environ)
        return cls(name=name, root=root, settings=settings)

    # settings -------------------------------------------------------------

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.settings.get(key)
        return default if value in (None, "") else value

    def get_int(self, key: str, default: int) -> int:
        value = self.get(key)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"Setting {key}={value!r} is not a whole number.") from None

    def get_float(self, key: str, default: float) -> float:
        value = self.get(key)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"Setting {key}={value!r} is not a number.") from None

    def get_bool(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"Setting {key}={value!r} is not true or false.")

    # paths ----------------------------------------------------------------

    @cached_property
    def _base(self) -> Path:
        # The guides keep everything under `nself/`; a root `migrations/` wins when both exist.
        nested = self.root / "nself"
        if not (self.root / "migrations").is_dir() and (nested / "migrations").is_dir():
            return nested
        return self.root

    def _path(self, key: str, default: Path) -> Path:
        value = self.get(key)
        return (self.root / value).resolve() if value else default

    @property
    def migrations_dir(self) -> Path:
        return self._path("NSELF_MIGRATIONS_DIR", self._base / "migrations")

    @property
    def seeds_dir(self) -> Path:
        return self._path("NSELF_SEEDS_DIR", self._base / "seeds")

    @property
    def schema_file(self) -> Path:
        return self._path("NSELF_SCHEMA_FILE", self._base / "schema.dbml")

    @property
    def backups_dir(self) -> Path:
        """This environment's backups: `backups/<env>/` unless NSELF_BACKUPS_DIR says where."""
        return self._path("NSELF_BACKUPS_DIR", self.root / "backups" / self.name)

    @property
    def state_dir(self) -> Path:
        """nself's private, git-ignored folder (embedded server data, ...)."""
        return self._path("NSELF_STATE_DIR", self.root / ".nself")

    @property
    def project_name(self) -> str:
        raw = self.get("NSELF_PROJECT_NAME") or self.root.name or "nself"
        name = re.sub(r"[^a-z0-9_]+", "_", raw.lower()).strip("_") or "nself"
        return name[:63]

    def require_project(self) -> None:
        """Raise `NoProject` unless the project folders exist."""
        if not self.migrations_dir.is_dir():
            raise NoProject(
                f"No nself project here ({self.root}): no migrations folder "
                f"{self._shown(self.migrations_dir)}. Run `nself init` to create one, "
                "or set NSELF_MIGRATIONS_DIR."
            )

    def _shown(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root)) + "/"
        except ValueError:
            return str(path)

    def relative(self, path: Path) -> str:
        """`path` relative to the project root when inside it, for messages."""
        try:
            return str(Path(path).resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    # database -------------------------------------------------------------

    @cached_property
    def database(self) -> Database:
        """The configured database, or the embedded default in `local`."""
        url = self.get("DATABASE_URL")
        if url:
            from psycopg.conninfo import conninfo_to_dict

            try:
                params = conninfo_to_dict(url)
            except Exception as exc:  # psycopg.ProgrammingError: invalid conninfo
                raise ConfigError(
                    f"DATABASE_URL is not a valid PostgreSQL URL ({mask_url(url)}): "
                    f"{self._redact_text(str(exc), url)}"
                ) from None
            return Database({k: str(v) for k, v in params.items() if v is not None})
        params = {kw: self.settings[var] for var, kw in LIBPQ_ENV.items() if self.get(var)}
        if params.get("host") or params.get("dbname") or params.get("service"):
            return Database(params)
        if self.name != "local":
            raise ConfigError(
                f"No database configured for {self.name}: set DATABASE_URL (or PGHOST/PGDATABASE) "
                f"in config/{self.name}.env or .env. Only local falls back to the embedded server."
            )
        return Database({"dbname": self.project_name, "user": "postgres"}, embedded=True)

    @staticmethod
    def _redact_text(text: str, url: str) -> str:
        password = urlsplit(url).password if "://" in url else None
        return text.replace(password, "***") if password else text
