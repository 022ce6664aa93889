"""The environment a command runs in: its name, project paths, settings and database.

Settings load in this order, later wins: `config/<env>.env` (committed, no
secrets), `.env` in the project root (personal, git-ignored), then the real
process environment.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import quote, unquote

from psycopg.conninfo import conninfo_to_dict, make_conninfo

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


# The userinfo's password as libpq reads it (up to the first `@` or `/`) and as a person
# may have meant it (up to the last `@`); `key=value` passwords too.
_URL_PASSWORDS = (
    re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^:@/]*:([^@/]*)@"),
    # a password holding an unencoded / or @ (up to the last @)
    re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/*[^:@/]*:(.*)@"),
    # no scheme at all (user:password@host); never a scheme's own colon
    re.compile(r"^(?![A-Za-z][A-Za-z0-9+.-]*:/)[^:@/]*:(.*)@"),
)
# the same up to the FIRST @: where the rest is garbage, a tool may quote only that far
_URL_PASSWORDS_TO_FIRST_AT = tuple(re.compile(p.pattern.replace("(.*)@", "(.*?)@"))
                                   for p in _URL_PASSWORDS[1:])
_KEYWORD_PASSWORD = re.compile(r"""(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'?|[^\s&]*)""")


def url_secrets(url: str) -> set[str]:
    """Every form of the password `url` holds (raw, percent-decoded, quoted), however
    malformed the rest of it is; never raises."""
    found: set[str] = set()
    for pattern in _URL_PASSWORDS + _URL_PASSWORDS_TO_FIRST_AT:
        match = pattern.match(url)
        if match and match.group(1):
            found.add(match.group(1))
    # A password with an unencoded `/`, `:` or `@` is split by libpq into a port, a
    # database name...: every tail of the userinfo after such a character is hidden too.
    start = url.find("://") + 3 if "://" in url else 0
    userinfo = url[start:url.rfind("@")] if url.rfind("@") > start else ""
    for i, char in enumerate(userinfo):
        if char in ":/@":
            found.add(userinfo[i + 1:])
    for match in _KEYWORD_PASSWORD.finditer(url):
        value = match.group(1)
        if value:
            found.add(value)
            found.add(value.strip("'"))
    for secret in list(found):
        found.add(unquote(secret, errors="ignore"))
        found.add(quote(unquote(secret, errors="ignore"), safe=""))
    found.discard("")
    return found


def mask_url(url: str) -> str:
    """`url` with its password replaced by `***`, safe to print; never raises."""
    match = _URL_PASSWORDS[1].match(url) or _URL_PASSWORDS[2].match(url)
    if match and match.group(1):
        url = url[:match.start(1)] + "***" + url[match.end(1):]
    return _KEYWORD_PASSWORD.sub(lambda m: m.group(0)[:m.start(1) - m.start(0)] + "***", url)


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
    """The settings in a dotenv file; an absent file is empty, an unreadable or malformed
    one is a ConfigError naming it (and the line, never the line's text: it may hold a
    password)."""
    if not path.exists():
        return {}
    if not path.is_file():
        raise ConfigError(f"Cannot read settings file {path}: it is not a regular file.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(f"Cannot read settings file {path}: line {line} is not UTF-8.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read settings file {path}: {exc.strerror}.") from None
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise ConfigError(f"Cannot read settings file {path}: line {line} holds a NUL byte.")
    # Imported here: python-dotenv costs ~20 ms, spent only when a settings file exists.
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    for binding in parse_stream(io.StringIO(text)):
        # a bare word (`S3CRETPW`) is legal dotenv that sets nothing: here, a mistake
        if binding.error or (binding.key is not None and binding.value is None):
            raise ConfigError(f"Cannot read settings file {path}: line "
                              f"{binding.original.line} is not NAME=value.")
    values = dotenv_values(stream=io.StringIO(text))
    return {k: v for k, v in values.items() if v is not None}


# What makes a folder an nself project root, for commands run in a folder below it (the
# nearest one wins, as git finds `.git`). A `migrations/` folder that is a Python package
# (Django, alembic apps) does not count.
ROOT_FILES = ("schema.dbml", "nself/schema.dbml", "config/local.env", "config/staging.env",
              "config/production.env")
ROOT_FOLDERS = (".nself", "migrations", "nself/migrations")


def looks_like_project(folder: Path) -> bool:
    """Whether `folder` holds an nself project (see ROOT_FILES and ROOT_FOLDERS)."""
    try:
        if any((folder / rel).is_file() for rel in ROOT_FILES):
            return True
        return any((folder / rel).is_dir() and not (folder / rel / "__init__.py").exists()
                   for rel in ROOT_FOLDERS)
    except OSError:
        return False


def find_project_root(start: Path) -> Path:
    """The nearest folder from `start` upwards that looks like a project; `start` when none
    does (commands then say there is no project and name `nself init`)."""
    for folder in (start, *start.parents):
        if looks_like_project(folder):
            return folder
    return start


@dataclass
class Environment:
    """Everything a command needs to know about where it runs."""

    name: str
    root: Path
    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path | None = None, environ: Mapping[str, str] | None = None,
             search_parents: bool = True) -> Environment:
        """Read the environment name and settings of the project at `root`, or at
        NSELF_PROJECT_DIR, or found from the current folder upwards (`search_parents`)
        or in it."""
        environ = os.environ if environ is None else environ
        if root is None and environ.get("NSELF_PROJECT_DIR"):
            root = Path(environ["NSELF_PROJECT_DIR"])
        if root is None:
            cwd = Path(os.getcwd()).resolve()
            root = find_project_root(cwd) if search_parents else cwd
        root = Path(root).resolve()
        dotenv = _read_env_file(root / ".env")
        raw = environ.get("ENV") or environ.get("NSELF_ENV") or dotenv.get("ENV") or dotenv.get(
            "NSELF_ENV") or "local"
        name = canonical_env_name(raw)
        settings: dict[str, str] = {}
        settings.update(_read_env_file(root / "config" / f"{name}.env"))
        settings.update(dotenv)
        settings.update(environ)
        return cls(name=name, root=root, settings=settings)

    def secrets(self) -> set[str]:
        """The configured passwords, secret keys and tokens (AWS_SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN, ...), in every form they may be shown (never print these)."""
        found: set[str] = set()
        for key, value in self.settings.items():
            if not value:
                continue
            if key == "DATABASE_URL":
                found |= url_secrets(value)
            elif any(word in key.upper() for word in ("PASSWORD", "SECRET", "TOKEN")):
                found.add(value)
                found.add(quote(value, safe=""))
        return found

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
            return Database(parse_database_url(url))
        params = {kw: self.settings[var] for var, kw in LIBPQ_ENV.items() if self.get(var)}
        if params.get("host") or params.get("dbname") or params.get("service"):
            _check_ports(params.get("port"), "PGPORT")
            return Database(params)
        if self.name != "local":
            raise ConfigError(
                f"No database configured for {self.name}: set DATABASE_URL (or PGHOST/PGDATABASE) "
                f"in config/{self.name}.env or .env. Only local falls back to the embedded server."
            )
        return Database({"dbname": self.project_name, "user": "postgres"}, embedded=True)


def parse_database_url(url: str) -> dict[str, str]:
    """libpq's keywords for DATABASE_URL (a URL or `key=value` conninfo); a malformed one is
    a ConfigError of one line that never shows the password."""
    def bad(reason: str) -> ConfigError:
        return ConfigError(f"DATABASE_URL is not a valid PostgreSQL URL ({mask_url(url)}): "
                           f"{reason}.")

    scheme = url.split("://", 1)[0] if "://" in url else None
    if scheme is not None and scheme.lower() not in ("postgresql", "postgres"):
        raise bad(f"it must start with postgresql:// or postgres://, not {scheme[:20]}://")
    if any(ord(ch) < 32 for ch in url):
        # libpq would stop at a NUL and read the rest as something else entirely
        raise bad("it holds a control character")
    try:
        params = conninfo_to_dict(url)
    except Exception as exc:  # psycopg.ProgrammingError: libpq could not parse it
        raise bad(_without_secrets(str(exc), url)) from None
    params = {k: str(v) for k, v in params.items() if v is not None}
    for port in params.get("port", "").split(","):
        # not echoed: when a password holds a `/`, libpq reads part of it as the port
        if not _is_port(port):
            raise bad("its port is not a number from 1 to 65535")
    return params


def _without_secrets(message: str, url: str) -> str:
    """libpq's complaint about `url`, which quotes the URL or a piece of it, without its
    password (a short one only where it is quoted whole: it could be any letter)."""
    message = " ".join(message.replace(url, mask_url(url)).split()).rstrip(".")
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        if len(secret) >= 4:
            message = message.replace(secret, "***")
        else:
            message = message.replace(f'"{secret}"', '"***"')
    return message


def _is_port(value: str) -> bool:
    value = value.strip()
    return not value or (value.isascii() and value.isdigit() and 0 < int(value) < 65536)


def _check_ports(value: str | None, what: str) -> None:
    """Each of a comma-separated port list is empty or 1..65535 (libpq would only say so
    when connecting, as if the server were unreachable)."""
    for port in (value or "").split(","):
        if not _is_port(port):
            raise ConfigError(f"{what} {port.strip()!r} is not a port number (1-65535).")
