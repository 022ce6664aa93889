"""The environment a command runs in: its name, project paths, settings and database.

Settings load in this order, later wins: `config/<env>.env` (committed, no
secrets), `.env` in the project root (personal, git-ignored), then the real
process environment.
"""

from __future__ import annotations

import io
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from nself import display, userfile
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
    # (the user may hold an unencoded @ too: `postgresql://@:password@host`)
    re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/*[^:/]*:(.*)@"),
    # no scheme at all (user:password@host); never a scheme's own colon
    re.compile(r"^(?![A-Za-z][A-Za-z0-9+.-]*:/)[^:/]*:(.*)@"),
)
# the same up to the FIRST @: where the rest is garbage, a tool may quote only that far
_URL_PASSWORDS_TO_FIRST_AT = tuple(re.compile(p.pattern.replace("(.*)@", "(.*?)@"))
                                   for p in _URL_PASSWORDS[1:])
# `key=value` in a conninfo string or a URL's query
_KEYWORD_VALUE = re.compile(r"""(?<![\w.-])([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*"""
                            r"""('(?:[^'\\]|\\.)*'?|[^\s&]*)""")
# a setting whose name says it holds a secret, misspellings included (PASWORD, PASSWD)
_SECRET_KEY = re.compile(r"(?i)PASS|PASW|PWD|SECRET|TOKEN|CREDENTIAL")
# the shell's folders and libpq's password-file path match it but hold no secret
_NOT_SECRET = frozenset({"PWD", "OLDPWD", "PGPASSFILE"})
# libpq's keywords whose values are not secret: every other key's value is masked, so a
# misspelled `pasword=` or `passwd=` hides its value as `password=` does.
SHOWN_KEYWORDS = frozenset("""
    host hostaddr port dbname user options application_name fallback_application_name
    connect_timeout client_encoding keepalives keepalives_idle keepalives_interval
    keepalives_count tcp_user_timeout replication gssencmode sslmode sslnegotiation
    sslcompression sslcert sslkey sslcertmode sslrootcert sslcrl sslcrldir sslsni
    requirepeer ssl_min_protocol_version ssl_max_protocol_version krbsrvname gsslib
    gssdelegation service target_session_attrs load_balance_hosts channel_binding
    require_auth passfile""".split())
# `scheme://authority` of a URL without an `@`: `user:password` then looks like `host:port`
_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")


def _keyword_secrets(text: str) -> list[re.Match]:
    """The `key=value` pairs of `text` whose value may be secret (any key but libpq's
    harmless ones)."""
    return [m for m in _KEYWORD_VALUE.finditer(text)
            if m.group(1).lower() not in SHOWN_KEYWORDS and m.group(2)]


def _portless_password(url: str) -> tuple[int, int] | None:
    """Where a URL with no `@` holds `user:password` instead of `host:port` (the `@` was
    forgotten): from after the first `:` to the path's last `/`; None when every `host:port`
    has a numeric port."""
    match = _AUTHORITY.match(url)
    if not match or "@" in url:
        return None
    authority = match.group(1)
    for piece in authority.split(","):
        if piece.startswith("[") or ":" not in piece:
            continue
        port = piece.split(":", 1)[1]
        if port and not (port.isascii() and port.isdigit()):
            start = match.start(1) + authority.index(":") + 1
            query = url.find("?", start)
            end = url.rfind("/", start, query if query >= 0 else len(url))
            return start, end if end >= 0 else (query if query >= 0 else len(url))
    return None


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
        if char == ":":  # the password starts here and ends at any later separator
            found.update(userinfo[i + 1:j] for j in range(i + 1, len(userinfo))
                         if userinfo[j] in ":/@")
    portless = _portless_password(url)
    if portless:
        found.add(url[portless[0]:portless[1]])
    for match in _keyword_secrets(url):
        value = match.group(2)
        found.add(value)
        found.add(value.strip("'"))
    if _is_conninfo(url) and _harmless_conninfo(url) is not None:
        # unparseable: any word that is not a harmless `key=value` may be the password
        harmless = {m.group(0) for m in _KEYWORD_VALUE.finditer(url)
                    if m.group(1).lower() in SHOWN_KEYWORDS}
        found.update(word for word in url.split() if word not in harmless)
    for secret in list(found):
        found.add(unquote(secret, errors="ignore"))
        found.add(quote(unquote(secret, errors="ignore"), safe=""))
    found.discard("")
    return found


# where a URL's userinfo starts: after `scheme://`, or a malformed `scheme//`, `scheme:/`
_USERINFO_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*(?::/+|//+)|^")


def _userinfo_password(url: str) -> tuple[int, int] | None:
    """Where the password of `url` is: after the userinfo's first `:` up to the LAST `@`
    before the query (a password may hold an unencoded `@`); None without one."""
    before_query = url.split("?", 1)[0]
    at = before_query.rfind("@")
    start = _USERINFO_START.match(url).end()
    colon = url.find(":", start, at) if at > start else -1
    if colon < 0:
        return None
    return colon + 1, at


def _is_conninfo(text: str) -> bool:
    """Whether `text` is a `key=value` conninfo string rather than a URL."""
    return "=" in text and "@" not in text and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/?/", text)


def _harmless_conninfo(text: str) -> str | None:
    """An unparseable conninfo string shown as only its harmless `key=value` pairs (a bare
    word in it may be a password: `user=postgres S3cr3tPW`); None when it parses."""
    try:
        conninfo_to_dict(text)
        return None
    except Exception:  # psycopg.ProgrammingError: libpq could not parse it
        pass
    kept = [m.group(0) for m in _KEYWORD_VALUE.finditer(text)
            if m.group(1).lower() in SHOWN_KEYWORDS]
    return " ".join(kept + ["***"])


def mask_url(url: str) -> str:
    """`url` with its password (or anything that may be one: a value under a misspelled
    key, `user:password` with the `@` forgotten, everything up to the authority's LAST `@`,
    the words of an unparseable conninfo) replaced by `***`; never raises. THE function
    every display of a setting-derived address goes through."""
    if _is_conninfo(url):
        harmless = _harmless_conninfo(url)
        if harmless is not None:
            return harmless
    found = _userinfo_password(url)
    if found:
        url = url[:found[0]] + "***" + url[found[1]:]
    else:
        match = _URL_PASSWORDS[1].match(url) or _URL_PASSWORDS[2].match(url)
        if match and match.group(1):
            url = url[:match.start(1)] + "***" + url[match.end(1):]
    portless = _portless_password(url)
    if portless:
        url = url[:portless[0]] + "***" + url[portless[1]:]
    for found in reversed(_keyword_secrets(url)):
        url = url[:found.start(2)] + "***" + url[found.end(2):]
    return url


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
        if p.get("service"):  # the address is in pg_service.conf: name the service
            query += f"{'&' if query else '?'}service={quote(p['service'], safe='')}"
        # through mask_url too: a host libpq took from a password holding an `@`
        # (`postgres:S3cr@3tPW@host`: host `3tPW@host`) is masked up to the last `@`
        return mask_url(f"postgresql://{auth}{host}{port}/{p.get('dbname', '')}{query}")

    def with_search_path(self, search_path: str | None) -> Database:
        """This database with `search_path` (as `Environment.search_path` gives it) set for
        every session from its start (libpq `options`, PGOPTIONS for psql): a migration's
        RESET ALL goes back to it, not to the server's default."""
        if not search_path:
            return self
        option = "-c search_path=" + search_path.replace("\\", "\\\\").replace(" ", "\\ ")
        options = self.params.get("options")
        return replace(self, params={**self.params,
                                     "options": f"{options} {option}" if options else option})

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
    data = userfile.read_bytes(path, "a settings file", userfile.SETTINGS_LIMIT,
                               shown=f"settings file {path}", error=ConfigError)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"Cannot read settings file {path}: line {line} is not UTF-8.") from None
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
# nearest one wins, as git finds `.git`): a mark nself itself wrote. `nself init` writes
# `nself.toml`; a `[tool.nself]` table in pyproject.toml is one too, and so are the files
# `init` wrote before that mark existed (config/<env>.env) and the guides' `nself/` layout.
# A folder merely called `migrations` never is one (alembic's, Django's, ...).
MARKER = "nself.toml"
MARK_FILES = (MARKER, "config/local.env", "config/staging.env", "config/production.env",
              "nself/schema.dbml")
NESTED_MIGRATIONS = "nself/migrations"
# Another tool's migrations folder: alembic's has env.py, Django's is a Python package.
FOREIGN_MIGRATIONS = ("env.py", "__init__.py")
_TOOL_TABLE = re.compile(r"(?m)^[ \t]*\[[ \t]*tool[ \t]*\.[ \t]*\"?nself\"?[ \t]*[\].]")
PYPROJECT_READ_LIMIT = 1 << 20


def is_marked(folder: Path) -> bool:
    """Whether nself marked `folder` as a project root (see MARK_FILES)."""
    try:
        if any((folder / rel).is_file() for rel in MARK_FILES):
            return True
        nested = folder / NESTED_MIGRATIONS
        if nested.is_dir() and not any((nested / f).exists() for f in FOREIGN_MIGRATIONS):
            return True
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            return False
        with pyproject.open("rb") as handle:
            head = handle.read(PYPROJECT_READ_LIMIT).decode("utf-8", errors="replace")
        return _TOOL_TABLE.search(head) is not None
    except OSError:
        return False


def find_project_root(start: Path) -> Path:
    """The nearest folder from `start` upwards that nself marked; `start` when none is
    (commands then use it if it has a migrations folder of nself's, or name `nself init`)."""
    for folder in (start, *start.parents):
        if is_marked(folder):
            return folder
    return start


SHELL = "the shell"
# For one run (`nself --url URL`, `nself --env-file FILE`, or these variables): a database
# that beats every other setting, and a settings file read instead of .env.
URL_SETTING, URL_FLAG = "NSELF_DATABASE_URL", "--url"
# the origin of a NSELF_DATABASE_URL the shell set (not `--url`)
URL_VARIABLE = URL_SETTING
# the run options the command line gave (nself.cli fills it; the rest came from the shell)
given_by_flag: set[str] = set()
ENV_FILE_SETTING = "NSELF_ENV_FILE"
# The settings that choose a database: a server and a database on it. The user and password
# are credentials, which `.env` may supply in every environment; these it may change only
# in local (or where config/<env>.env names no database).
ADDRESS_KEYS = ("DATABASE_URL", "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGSERVICE")
ADDRESS_KEYWORDS = ("host", "hostaddr", "port", "dbname", "service")


def _where(origin: str | None) -> str:
    if origin in (SHELL, URL_FLAG, URL_VARIABLE):
        return f"from {origin}"
    return f"in {origin or 'the settings'}"


def database_params(settings: Mapping[str, str]) -> dict[str, str] | None:
    """libpq's keywords for the database `settings` name: DATABASE_URL, the PG* variables
    filling in what it leaves out (as libpq does), or the PG* variables alone; None when
    neither names a server or database. A malformed DATABASE_URL is a ConfigError."""
    pg = {kw: settings[var] for var, kw in LIBPQ_ENV.items() if settings.get(var)}
    url = settings.get("DATABASE_URL")
    if url:
        return {**pg, **parse_database_url(url)}
    if any(pg.get(kw) for kw in ("host", "hostaddr", "dbname", "service")):
        return pg
    return None


def _address(settings: Mapping[str, str]) -> tuple | None:
    """Which server and database `settings` name (no user, no password), for comparing."""
    try:
        params = database_params(settings)
    except ConfigError:
        return ("malformed", settings.get("DATABASE_URL"))
    if params is None:
        return None
    return tuple(params.get(kw) or ("5432" if kw == "port" else "") for kw in ADDRESS_KEYWORDS)


def _address_display(settings: Mapping[str, str]) -> str:
    """The database `settings` name, masked; never raises."""
    try:
        params = database_params(settings)
    except ConfigError:
        return mask_url(settings.get("DATABASE_URL") or "")
    return Database(params).display() if params else "-"


def _address_origin(settings: Mapping[str, str], origins: Mapping[str, str]) -> str:
    """Which settings named the database, and where they came from: `DATABASE_URL in
    config/production.env`, `PGHOST, PGDATABASE from the shell`."""
    keys = ["DATABASE_URL"] if settings.get("DATABASE_URL") else [
        k for k in ADDRESS_KEYS[1:] if settings.get(k)]
    return _named(keys, origins)


def _named(keys: list[str], origins: Mapping[str, str]) -> str:
    """`PGHOST, PGDATABASE from the shell, PGPORT in .env`: KEYS grouped by origin."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(origins.get(key, ""), []).append(key)
    return ", ".join(f"{', '.join(names)} {_where(origin)}" for origin, names in groups.items())


def _merge(kept: list[tuple[str, dict]], given: list[tuple[str, dict]]
           ) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The settings of KEPT then GIVEN layers (origin, values), later wins; where each came
    from; and the line saying that a GIVEN one replaced the database the KEPT ones name."""
    settings: dict[str, str] = {}
    origins: dict[str, str] = {}
    for origin, values in kept:
        settings.update(values)
        origins.update(dict.fromkeys(values, origin))
    before = _address(settings)
    named_by, shown = _address_origin(settings, origins), _address_display(settings)
    for origin, values in given:
        settings.update(values)
        origins.update(dict.fromkeys(values, origin))
    if before is None or _address(settings) == before:
        return settings, origins, []
    keys = [k for k in ADDRESS_KEYS
            if settings.get(k) and origins[k] in {origin for origin, _ in given}]
    verb = "replaces" if len(keys) == 1 else "replace"
    return settings, origins, [
        f"Note: {_named(keys, origins)} {verb} the database named by {named_by}: this run "
        f"uses {_address_display(settings)}, not {shown}."]


def _pghost_alone(name: str, settings: Mapping[str, str], origins: Mapping[str, str]
                  ) -> list[str]:
    """The line saying that PGHOST without PGDATABASE picks the user's database there."""
    host = next((k for k in ("PGHOST", "PGHOSTADDR") if settings.get(k)), None)
    if not host or any(settings.get(k) for k in ("DATABASE_URL", "PGDATABASE", "PGSERVICE")):
        return []
    dbname = Database(database_params(settings) or {}).name
    embedded = ", not the embedded one" if name == "local" else ""
    return [f"Note: {host} is set ({_where(origins.get(host))}) without PGDATABASE: the "
            f"database is {dbname!r} on that server (named after the user, as libpq does)"
            f"{embedded}; set PGDATABASE to choose."]


# Every numeric setting nself reads, its range and unit: checked once, at load, so that a
# value that cannot work (a lock_timeout PostgreSQL rejects, a retry delay of years) is one
# line naming the setting before anything runs.
INT_SETTINGS = {
    "NSELF_LOCK_TIMEOUT_MS": (0, 2_147_483_647, "milliseconds, 0 = no limit"),
    "NSELF_LOCK_RETRIES": (0, 100, "retries; each waits at most a minute"),
    "NSELF_LOCK_RETRY_BACKOFF_MS": (0, 60_000, "milliseconds"),
    "BACKUP_RETENTION_DAYS": (1, 36_500, "days"),
    "PGCONNECT_TIMEOUT": (0, 2_147_483_647, "seconds, 0 = no limit"),
}
BOOL_SETTINGS = ("NSELF_MIGRATE_SYNC_COMMIT", "NSELF_KEEP_REPLAY", "BACKUP_ENABLED",
                 "BACKUP_COMPRESSION")
PATH_SETTINGS = ("NSELF_PROJECT_DIR", "NSELF_MIGRATIONS_DIR", "NSELF_SEEDS_DIR",
                 "NSELF_SCHEMA_FILE", "NSELF_BACKUPS_DIR", "NSELF_STATE_DIR",
                 "NSELF_POSTGRES_BIN")
# DATABASE_SEARCH_PATH: schema names separated by commas, each plain (lower-cased, as SQL
# does), "double-quoted" (kept as written) or $user
SEARCH_PATH_SETTING = "DATABASE_SEARCH_PATH"
SEARCH_PATH_ITEM = re.compile(r'\s*(?:"((?:[^"]|"")+)"|(\$user|[A-Za-z_\u0080-\U0010ffff]'
                              r'[A-Za-z0-9_$\u0080-\U0010ffff]*))\s*(?:,|$)')
MAX_IDENTIFIER_BYTES = 63
# libpq's integer keywords (psycopg overrides connect_timeout for its own connections, so a
# bad one would only fail pg_dump, later)
INT_KEYWORDS = ("connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                "keepalives_count", "tcp_user_timeout")
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
# Far below PATH_MAX on purpose: pathlib recurses once per missing folder.
MAX_PATH_DEPTH = 100
MAX_PATH_BYTES = 4095


def usable_path(path: Path, what: str) -> Path:
    """`path` resolved; a ConfigError naming `what` for a path that cannot work (a symlink
    loop, too long, too deep), instead of an internal error later."""
    text = str(path)
    if len(text.encode(errors="replace")) > MAX_PATH_BYTES or any(
            len(part.encode(errors="replace")) > 255 for part in path.parts):
        raise ConfigError(f"{what} is too long to be a path (at most {MAX_PATH_BYTES} bytes, "
                          "255 per folder name).")
    try:
        resolved = path.resolve()
    except RuntimeError:  # Python before 3.13: "Symlink loop from ..."
        raise ConfigError(f"{what} runs through a symlink loop: fix the link.") from None
    except OSError as exc:
        raise ConfigError(f"{what} cannot be used as a path: {exc.strerror or exc}.") from None
    if len(resolved.parts) - 1 > MAX_PATH_DEPTH:
        raise ConfigError(f"{what} is {len(resolved.parts) - 1} folders deep: at most "
                          f"{MAX_PATH_DEPTH} are supported.")
    return resolved


def check_hosts(value: str | None, what: str) -> None:
    """Each host of a comma-separated list is a socket folder, an address or a DNS name
    whose labels fit (1-63 characters; the encoder would fail mid-connect otherwise)."""
    for host in (value or "").split(","):
        host = host.strip()
        if not host or host.startswith(("/", "@", "[")):
            continue
        try:
            host.rstrip(".").encode("idna")
        except UnicodeError:
            raise ConfigError(f"{what} is not a valid host name: each dot-separated part is "
                              "1 to 63 characters.") from None


def check_int_keywords(params: Mapping[str, str], what: str) -> None:
    """libpq's integer keywords are whole numbers from 0 (libpq would refuse them only in
    the tool that connects later: `db status` passes, `db backup` fails)."""
    for keyword in INT_KEYWORDS:
        value = str(params.get(keyword) or "").strip()
        if value and not (value.isascii() and value.isdigit() and int(value) <= 2_147_483_647):
            raise ConfigError(f"{what} {keyword}={value[:20]!r} is not a whole number from 0 "
                              "to 2147483647.")


@dataclass
class Environment:
    """Everything a command needs to know about where it runs."""

    name: str
    root: Path
    settings: dict[str, str] = field(default_factory=dict)
    # where each setting came from: `config/<env>.env`, `.env` or SHELL
    origins: dict[str, str] = field(default_factory=dict)
    # .env's database settings left out: config/<env>.env names this environment's database
    ignored: tuple[str, ...] = ()
    # what load found surprising about the address (a shell variable replacing the database
    # the files name; .env's left out; PGHOST without PGDATABASE), one line each
    notes: tuple[str, ...] = ()
    # the notes already said this run; shared with dataclasses.replace() copies (seeds check
    # as another environment's copy), so that a note is said once
    _said: set = field(default_factory=set, repr=False, compare=False)

    @classmethod
    def load(cls, root: Path | None = None, environ: Mapping[str, str] | None = None,
             search_parents: bool = True) -> Environment:
        """Read the environment name and settings of the project at `root`, or at
        NSELF_PROJECT_DIR, or found from the current folder upwards (`search_parents`)
        or in it; every setting's range is checked here, once."""
        environ = os.environ if environ is None else environ
        if root is None and environ.get("NSELF_PROJECT_DIR"):
            root = Path(environ["NSELF_PROJECT_DIR"])
        if root is None:
            cwd = Path(os.getcwd()).resolve()
            root = find_project_root(cwd) if search_parents else cwd
        root = usable_path(Path(root), "The project folder (NSELF_PROJECT_DIR)")
        chosen = environ.get(ENV_FILE_SETTING)  # `nself --env-file FILE`: instead of .env
        if chosen and not os.path.lexists(chosen):
            raise ConfigError(f"Cannot read settings file {chosen} (--env-file, "
                              f"{ENV_FILE_SETTING}): no such file.")
        dotenv = _read_env_file(Path(chosen) if chosen else root / ".env")
        raw = environ.get("ENV") or environ.get("NSELF_ENV") or dotenv.get("ENV") or dotenv.get(
            "NSELF_ENV") or "local"
        name = canonical_env_name(raw)
        env_file = f"config/{name}.env"
        files = _read_env_file(root / "config" / f"{name}.env")
        for where, values in ((chosen or ".env", dotenv), (env_file, files)):
            for key in (URL_SETTING, ENV_FILE_SETTING):
                if values.get(key):
                    flag = "--url" if key == URL_SETTING else "--env-file"
                    raise ConfigError(
                        f"{key} in {where} is not read: it names a database or file for one "
                        f"run, in the shell or as `nself {flag}`; a settings file names its "
                        "database with DATABASE_URL.")
        # .env is personal: it never moves staging or production to another database than
        # the one their own file names (it may add the password to it).
        # When their file names none, .env gives them none either: the command refuses
        # (`database`) unless the shell or --url names one, for this run.
        ignored: tuple[str, ...] = ()
        if not chosen and name != "local" and \
                _address({**files, **dotenv}) != _address(files):
            ignored = tuple(k for k in ADDRESS_KEYS if dotenv.get(k))
            dotenv = {k: v for k, v in dotenv.items() if k not in ignored}
        # the files a project keeps, then what this run was given: --env-file, the shell,
        # --url (each announced when it replaces the database the files name)
        kept = [(env_file, files)] + ([] if chosen else [(".env", dotenv)])
        given = ([(chosen, dotenv)] if chosen else []) + [(SHELL, dict(environ))]
        if environ.get(URL_SETTING):
            given.append((URL_FLAG if URL_SETTING in given_by_flag else URL_VARIABLE,
                          {"DATABASE_URL": environ[URL_SETTING]}))
        settings, origins, notes = _merge(kept, given)
        if ignored and _address(files) is not None:
            notes.append(f"Note: {', '.join(ignored)} in .env ignored: {env_file} names the "
                         f"{name} database (.env is personal and local; it may add a password, "
                         "never another database).")
        elif name != "local" and _address(files) is None and _address(settings) is not None:
            notes.append(f"Note: {env_file} names no database: this run uses "
                         f"{_address_display(settings)} ({_address_origin(settings, origins)}).")
        notes += _pghost_alone(name, settings, origins)
        env = cls(name=name, root=root, settings=settings, origins=origins, ignored=ignored,
                  notes=tuple(notes))
        env.check_settings()
        return env

    def check_settings(self) -> None:
        """Every setting nself reads is in its range (one ConfigError naming the setting,
        where it came from and what is allowed; a secret's value is never shown)."""
        for key, (low, high, unit) in INT_SETTINGS.items():
            value = self.get(key)
            if value is None:
                continue
            text = value.strip()
            number = int(text) if text.isascii() and text.lstrip("-").isdigit() else None
            if number is None or not low <= number <= high:
                problem = "is out of range" if number is not None else "is not a whole number"
                where = _where(self.origins.get(key))
                raise ConfigError(f"Setting {key}={value[:30]!r} ({where}) {problem}: use a "
                                  f"whole number from {low} to {high} ({unit}).")
        for key in BOOL_SETTINGS:
            self.get_bool(key, False)
        for key in PATH_SETTINGS:
            if self.get(key):
                usable_path(self.root / self.settings[key],
                            f"Setting {key} ({_where(self.origins.get(key))})")
        _check_ports(self.get("PGPORT"), "PGPORT")
        _ = self.search_path
        check_hosts(self.get("PGHOST"), f"PGHOST ({_where(self.origins.get('PGHOST'))})")
        if self.get("BACKUP_STORAGE"):
            # the storage kind, bucket, endpoint and key pair are checked here, not at
            # `db backup` (no boto3: only the settings)
            s3_settings(self)

    def secrets(self) -> set[str]:
        """The configured passwords, secret keys and tokens (AWS_SECRET_ACCESS_KEY,
        AWS_SESSION_TOKEN, ...), in every form they may be shown (never print these)."""
        found: set[str] = set()
        for key, value in self.settings.items():
            if not value:
                continue
            if key.endswith("DATABASE_URL"):  # NSELF_DATABASE_URL (--url) too
                found |= url_secrets(value)
            elif _SECRET_KEY.search(key) and key not in _NOT_SECRET:
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

    def get_bool(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise ConfigError(f"Setting {key}={value[:30]!r} ({_where(self.origins.get(key))}) is not "
                          f"true or false: use one of {', '.join(TRUE_WORDS + FALSE_WORDS)}.")

    @cached_property
    def search_path(self) -> str | None:
        """DATABASE_SEARCH_PATH as PostgreSQL's search_path value (`app,extensions,public`),
        None when unset; a value that is not a list of schema names is a ConfigError."""
        value = self.get(SEARCH_PATH_SETTING)
        if value is None:
            return None
        names, at = [], 0
        while at < len(value) or value.rstrip().endswith(","):  # a last empty name
            match = SEARCH_PATH_ITEM.match(value, at)
            quoted = match and match.group(1) is not None
            name = (match.group(1).replace('""', '"') if quoted else match.group(2).lower()
                    ) if match else ""
            if not match or len(name.encode()) > MAX_IDENTIFIER_BYTES:
                why = (f"{name[:20]!r} is longer than {MAX_IDENTIFIER_BYTES} bytes" if match
                       else "it ends with a comma" if at >= len(value)
                       else f"cannot read it from {value[at:at + 20]!r}")
                raise ConfigError(
                    f"Setting {SEARCH_PATH_SETTING}={value[:60]!r} "
                    f"({_where(self.origins.get(SEARCH_PATH_SETTING))}) is not a list of schema "
                    f"names ({why}): write them separated by commas, e.g. "
                    f"{SEARCH_PATH_SETTING}=app,extensions,public (a name with capitals or "
                    "spaces in double quotes).")
            names.append(name)
            at = match.end()
        plain = re.compile(r"\$user|[a-z_][a-z0-9_$]*")
        return ",".join(n if plain.fullmatch(n) else '"' + n.replace('"', '""') + '"'
                        for n in names)

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
        """Raise `NoProject` unless the project folders exist (a folder nself never marked
        whose migrations folder is another tool's is no project either)."""
        foreign = next((f for f in FOREIGN_MIGRATIONS
                        if (self.migrations_dir / f).exists()), None)
        if foreign and not self.get("NSELF_MIGRATIONS_DIR") and not is_marked(self.root):
            raise NoProject(
                f"No nself project here ({self.root}): {self._shown(self.migrations_dir)} holds "
                f"{foreign}, so it belongs to another tool (alembic, Django). Run nself from its "
                f"project folder, or `nself init` (it writes {MARKER}) where one should be."
            )
        if not self.migrations_dir.is_dir():
            above = "" if is_marked(self.root) else (
                f", and no folder above is marked as one ({MARKER}, which `nself init` writes)")
            raise NoProject(
                f"No nself project here ({self.root}): no migrations folder "
                f"{self._shown(self.migrations_dir)}{above}. Run `nself init` to create one, "
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
        params = database_params(self.settings)
        if params is not None:
            return Database(params)
        if self.name != "local":
            from_dotenv = (f" (.env's {', '.join(self.ignored)} is never {self.name}'s: .env "
                           "is personal and local)") if self.ignored else ""
            raise ConfigError(
                f"config/{self.name}.env names no database{from_dotenv}: set DATABASE_URL "
                f"there (its password as PGPASSWORD in .env), or give one for this run with "
                f"DATABASE_URL in the shell or `nself --url`. Only local falls back to the "
                "embedded server."
            )
        return Database({"dbname": self.project_name, "user": "postgres"}, embedded=True)

    def address_source(self) -> str:
        """Where the database's address comes from, in words: `DATABASE_URL from the
        shell`, `PGHOST, PGDATABASE in .env`, `the embedded default`."""
        if database_params(self.settings) is None:
            return "the embedded default (no DATABASE_URL or PGHOST/PGDATABASE set)"
        return _address_origin(self.settings, self.origins)

    def target_text(self, db: Database | None = None) -> str:
        """The database a command will change and where its address came from, for prompts
        and status: `postgresql://app:***@db:5432/app (DATABASE_URL in config/production.env)`."""
        return f"{(db or self.database).display()} ({self.address_source()})"

    def undo_address(self) -> tuple[str, str, str]:
        """How a printed undo line names this run's database when the environment's own
        files did not (the shell, --url, NSELF_DATABASE_URL, --env-file): (variables
        before `nself`, nself's options, a trailing shell comment); all empty when the
        files or the embedded default did. Never a password: a URL holding one is passed
        as the shell variable it came from (`DATABASE_URL="$DATABASE_URL"`), or, from
        `--url`, without it and a comment naming PGPASSWORD/~/.pgpass."""
        params = database_params(self.settings)
        if params is None:
            return "", "", ""
        keys = ["DATABASE_URL"] if self.settings.get("DATABASE_URL") else [
            k for k in ADDRESS_KEYS[1:] if self.settings.get(k)]
        own = (f"config/{self.name}.env", ".env")
        given = [k for k in keys if self.origins.get(k) not in own]
        if not given:
            return "", "", ""
        origin = self.origins[given[0]]
        if origin not in (SHELL, URL_FLAG, URL_VARIABLE):  # --env-file / NSELF_ENV_FILE
            return "", f"--env-file {shlex.quote(origin)} ", ""
        if given != ["DATABASE_URL"]:  # PGHOST, PGDATABASE ... from the shell: no secret
            return " ".join(f"{k}={shlex.quote(self.settings[k])}" for k in given) + " ", "", ""
        url = self.settings["DATABASE_URL"]
        if mask_url(url) == url and not url_secrets(url):
            return "", f"--url {shlex.quote(url)} ", ""
        if origin in (SHELL, URL_VARIABLE):
            var = "DATABASE_URL" if origin == SHELL else URL_SETTING
            return f'{var}="${var}" ', "", ""
        plain = Database({k: v for k, v in params.items() if k != "password"}).display()
        return "", f"--url {shlex.quote(plain)} ", "  # the password: PGPASSWORD or ~/.pgpass"

    def address_notes(self) -> list[str]:
        """One line for each surprise in where the database comes from: a shell variable
        replacing the database an environment file names, .env's database left out in
        staging/production, PGHOST without PGDATABASE (libpq then picks the user's name)."""
        return list(self.notes)

    def announce(self, say) -> None:
        """Say the address notes, once per run (every command that changes data calls it)."""
        for note in self.address_notes():
            if note not in self._said:
                self._said.add(note)
                say(note)


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
    try:
        check_hosts(params.get("host"), "its host")
        check_int_keywords(params, "its")
    except ConfigError as exc:
        raise bad(str(exc).rstrip(".")) from None
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


# --- off-site backups (BACKUP_STORAGE=s3): the settings only; nself.backups.remote uses them

STORAGE_KINDS = ("local", "s3")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-_]{1,253}[a-z0-9]$", re.IGNORECASE)


@dataclass(frozen=True)
class S3Settings:
    """Where the off-site copies go, from the AWS_* settings."""

    bucket: str
    prefix: str
    endpoint: str | None
    region: str
    access_key: str | None
    secret_key: str | None
    session_token: str | None
    profile: str | None

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    @property
    def where(self) -> str:
        """The bucket and, for S3-compatible stores, the endpoint (for messages)."""
        return self.bucket + (f" at {mask_url(self.endpoint)}" if self.endpoint else "")


def backup_storage(env) -> str:
    """`local` or `s3` (BACKUP_STORAGE); anything else is a settings error."""
    kind = (env.get("BACKUP_STORAGE", "local") or "local").strip().strip("'\"").lower()
    if kind not in STORAGE_KINDS:
        raise ConfigError(f"BACKUP_STORAGE={kind!r} is not a storage nself knows: use local "
                          "(the default) or s3.")
    return kind


def _s3_endpoint(env) -> str | None:
    for key in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        value = (env.get(key) or "").strip()
        if not value:
            continue
        try:
            parts = urlsplit(value)
            port = parts.port  # raises ValueError for a bad port
        except ValueError:
            parts, port = None, None
        if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
                or parts.query or parts.fragment or (port is not None and port == 0)):
            raise ConfigError(f"{key}={mask_url(value)!r} is not an http(s) URL of an S3 "
                              "endpoint (e.g. http://127.0.0.1:9000 for MinIO, "
                              "https://<account>.r2.cloudflarestorage.com for R2).")
        return value.rstrip("/")
    return None


def s3_settings(env) -> S3Settings | None:
    """The S3 settings when BACKUP_STORAGE=s3, else None; a settings error (exit 2) for a
    missing bucket, a malformed endpoint or half a key pair."""
    if backup_storage(env) != "s3":
        return None
    secret = env.get("AWS_SECRET_ACCESS_KEY")
    token = env.get("AWS_SESSION_TOKEN")
    display.hide(secret)
    display.hide(token)
    bucket = (env.get("AWS_BACKUP_BUCKET") or "").strip()
    if not bucket:
        raise ConfigError("BACKUP_STORAGE=s3 needs AWS_BACKUP_BUCKET (the bucket's name) in "
                          ".env or config/<env>.env.")
    if not BUCKET_NAME.match(bucket):
        raise ConfigError(f"AWS_BACKUP_BUCKET={bucket!r} is not a bucket name (3-255 letters, "
                          "digits, dots, dashes; no slashes).")
    endpoint = _s3_endpoint(env)
    key = env.get("AWS_ACCESS_KEY_ID")
    profile = env.get("AWS_PROFILE")
    if bool(key) != bool(secret) or not (key or profile):
        # Never the SDK's search for credentials: it probes instance-metadata addresses.
        missing = "AWS_SECRET_ACCESS_KEY" if key else "AWS_ACCESS_KEY_ID"
        raise ConfigError(f"BACKUP_STORAGE=s3: {missing} is not set (give both "
                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE for a "
                          "profile in ~/.aws/config).")
    prefix = (env.get("AWS_BACKUP_PREFIX") or "").strip().strip("/")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    return S3Settings(bucket=bucket, prefix=f"{prefix}/" if prefix else "", endpoint=endpoint,
                      region=region, access_key=key, secret_key=secret, session_token=token,
                      profile=None if key else profile)
