"""`nself db migrate lint`: every unsafe statement of a migration named, with the lock it
takes, what that lock blocks, why it matters and the safe form, from parse trees only.

`lint(paths, context_factory)` reads each file, walks its statements (and those inside its
DO blocks and function bodies) with a `Context` that knows what came before, and runs
every registered rule (`nself.lint.rule.REGISTRY`: the rule modules imported below).
`Config` (nself.toml's [lint] table) turns rules off or changes their level, per
environment; `policy` says what an environment does with the findings.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from nself import sql
from nself.errors import ConfigError, NselfError, Refused, UsageError
from nself.lint import locks  # noqa: F401  (registers its rules)
from nself.lint.context import SMALL_TABLE_MB, Context, Schema, live_sizes
from nself.lint.rule import REGISTRY, Finding, Stmt, for_kind, statements
from nself.migrations import files
from nself.migrations.engine import Settings
from nself.pg import connection

__all__ = ["REGISTRY", "Config", "Context", "Finding", "Project", "lint", "policy"]

# Rule modules written beside locks.py register themselves when imported here.
for _name in ("data", "hygiene"):
    try:
        __import__(f"nself.lint.{_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"nself.lint.{_name}":
            raise


@dataclass(frozen=True)
class Read:
    """What lint reads of a file: the statements it looks at (a migration's UP section, or
    the whole file when it has no `-- UP` marker), whether it runs in a transaction, its
    text, and whether it has a DOWN with SQL (None: not a migration file)."""

    statements: list[sql.Statement]
    transactional: bool
    text: str
    has_down: bool | None


def read_file(path: Path, shown: str) -> Read:
    raw = files.userfile.read_bytes(str(path), "a migration", files.userfile.SQL_LIMIT,
                                    shown=shown, error=files.MigrationFileError)
    migration = files.Migration(0, "", path.stem, path.name, files.normalise(raw), shown, raw)
    text = migration.text
    if re.search(files.UP_MARKER, text, re.MULTILINE):
        down = migration.down
        return Read(files.split(migration.up, migration, parse=True),
                    not migration.no_transaction, text, down is not None and not down.empty)
    whole = files.Section(text, 1)
    no_tx = re.search(files.NO_TRANSACTION, text, re.MULTILINE) is not None
    return Read(files.split(whole, migration, parse=True), not no_tx, text, None)


@dataclass
class Project:
    """What lint knows beyond a file: the migrations folder (the schema its earlier files
    build), the live database's table sizes and version, the runner's lock_timeout."""

    folder: Path | None = None
    root: Path | None = None
    sizes: dict[str, tuple] | None = None
    server_version: int | None = None
    lock_timeout_ms: int | None = None
    small_bytes: int = SMALL_TABLE_MB << 20
    absent_is_new: bool = False  # see Context.absent_is_new (at apply time)
    # the files linted are all pending (being applied, or newer than `lint --since`): what
    # an earlier one creates is new to the later ones (Context.fresh)
    pending: bool = False
    _fresh: Schema = field(default_factory=Schema)
    # the folder's migrations, and the schema those before `_next` build (learned once,
    # in order: linting a folder costs one more parse per file, not a copy per file)
    _folder: list = field(default_factory=list)
    _running: Schema = field(default_factory=Schema)
    _next: int = 0

    _real: dict = field(default_factory=dict)  # path -> path.resolve(), once each

    def resolved(self, path: Path) -> Path:
        if path not in self._real:
            self._real[path] = path.resolve()
        return self._real[path]

    def in_folder(self, path: Path) -> bool:
        return self.folder is not None and \
            self.resolved(path).parent == self.resolved(self.folder)

    def shown(self, path: Path) -> str:
        if self.root is not None:
            try:
                return str(self.resolved(path).relative_to(self.resolved(self.root)))
            except ValueError:
                pass
        return str(path)

    def earlier(self, path: Path) -> Schema:
        """The schema the folder's migrations older than `path` build (empty for a file
        outside the folder or without a version). It is shared, read-only, and valid until
        the next call: `lint` reads it for one file at a time."""
        match = files.FILENAME.match(path.name)
        if not match or not self.in_folder(path):
            return Schema()
        version = int(match.group(1))
        self.migrations()
        if self._next and self._folder[self._next - 1].version >= version:
            self._running, self._next = Schema(), 0  # out of order: learn again
        while self._next < len(self._folder) and self._folder[self._next].version < version:
            m = self._folder[self._next]
            try:
                found = files.split(m.up, m, parse=True)
            except (files.MigrationFileError, files.SqlSyntaxFailure):
                found = []
            for st in found:
                if st.node is not None:
                    self._running.learn(st.node)
            self._next += 1
        return self._running

    def migrations(self) -> list:
        """The folder's migrations, read once."""
        if not self._folder and self.folder is not None:
            self._folder = files.read_folder(self.folder, self.root)
        return self._folder

    def learned(self, path: Path, top: list[sql.Statement]) -> None:
        """File `path` was just linted with statements `top`: when it is the folder's next
        migration, the schema learns them (the next file needs no second parse of it);
        in a pending run, what they create is new to the files after it."""
        if self.pending:
            for st in top:
                if st.node is not None:
                    self._fresh.learn(st.node)
        if self._folder and self._next < len(self._folder) and \
                self._folder[self._next].filename == path.name and self.in_folder(path):
            for st in top:
                if st.node is not None:
                    self._running.learn(st.node)
            self._next += 1

    def context(self, path: Path, text: str, transactional: bool) -> Context:
        return Context.for_text(self.shown(path), text, transactional,
                                earlier=self.earlier(path), sizes=self.sizes,
                                server_version=self.server_version,
                                lock_timeout_ms=self.lock_timeout_ms,
                                small_bytes=self.small_bytes,
                                absent_is_new=self.absent_is_new, fresh=self._fresh)


def lint(paths: Iterable[Path],
         context_factory: Callable[[Path, str, bool], Context] | None = None,
         config: Config | None = None) -> list[Finding]:
    """The findings of every registered rule in files `paths`, in file and line order,
    each with its level from `config` (rules it turns off are not run) and the file's
    acknowledgement when it has one."""
    factory = context_factory or Project().context
    owner = getattr(factory, "__self__", None)  # a Project's context: its shown(), learned()
    found: list[Finding] = []
    for path in paths:
        path = Path(path)
        shown = getattr(owner, "shown", Project().shown)(path)
        read = read_file(path, shown)
        ctx = factory(path, read.text, read.transactional)
        ctx.has_down = read.has_down
        found += lint_statements(read.statements, ctx, config)
        if hasattr(owner, "learned"):
            owner.learned(path, read.statements)
    return found


def lint_statements(top: list[sql.Statement], ctx: Context,
                    config: Config | None = None) -> list[Finding]:
    """The findings in statements `top` of the migration `ctx` describes."""
    rules = [r for r in REGISTRY.values() if config is None or config.level(r) is not None]
    ctx.top = top
    for st in top:
        if st.node is not None:
            ctx.whole.learn(st.node)
    found: list[Finding] = []
    by_kind: dict[str, list] = {}
    for stmt in statements(top):
        if stmt.node is None:
            continue
        if stmt.kind not in by_kind:
            by_kind[stmt.kind] = for_kind(rules, stmt.kind)
        for r in by_kind[stmt.kind]:
            for f in r.check(stmt, ctx):
                level = config.levels.get(r.id, f.level) if config is not None else f.level
                allowed = ctx.allowed.get(f.rule)
                found.append(replace(f, level=level,
                                     allowed=allowed[1] or "(no reason given)"
                                     if allowed else None))
        _advance(stmt, ctx)
    found.sort(key=lambda f: f.line)
    return found


def _advance(stmt: Stmt, ctx: Context) -> None:
    """What `stmt` changes in the context the next statements are linted with."""
    node, kind = stmt.node, stmt.kind
    if kind == "VariableSetStmt" and (node.name or "").lower() == "lock_timeout":
        ctx.lock_timeout_set = True
    if ctx.exclusive_at is not None and not stmt.inside and kind != "VariableSetStmt":
        ctx.exclusive_followed = True
    if ctx.exclusive_at is None and locks.takes_exclusive(stmt, ctx):
        ctx.exclusive_at = stmt.line
    if stmt.statement.adds_enum_value:
        ctx.enum_values.setdefault(stmt.statement.value, stmt.line)
        ctx.enum_types.setdefault(stmt.statement.value, set()).add(
            stmt.statement.target.rsplit(".", 1)[-1].strip('"'))
    ctx.created.learn(node)
    if not stmt.inside:
        ctx.before.append(stmt)


# Configuration ---------------------------------------------------------------------------

# The settings (config/<env>.env, .env or the shell, like every setting: so per environment)
# that change a rule's level: comma-separated rule ids.
LEVEL_SETTINGS = (("NSELF_LINT_OFF", None), ("NSELF_LINT_WARNING", "warning"),
                  ("NSELF_LINT_ERROR", "error"))


@dataclass(frozen=True)
class Config:
    """Rules turned off or given another level: NSELF_LINT_OFF=PG113,PG114 (never
    reported), NSELF_LINT_WARNING=... (warnings), NSELF_LINT_ERROR=... (errors), read from
    the environment's settings (config/production.env holds production's)."""

    levels: dict[str, str | None] = field(default_factory=dict)  # rule -> level, None = off

    def level(self, r) -> str | None:
        return self.levels.get(r.id, r.level)

    @classmethod
    def from_settings(cls, get: Callable[[str], str | None]) -> Config:
        levels: dict[str, str | None] = {}
        for key, level in LEVEL_SETTINGS:
            for rule_id in (get(key) or "").replace(" ", ",").split(","):
                if not rule_id:
                    continue
                if rule_id.upper() not in REGISTRY:
                    raise ConfigError(f"Setting {key}: no lint rule {rule_id!r} "
                                      "(`nself db migrate lint --rules` lists them).")
                levels[rule_id.upper()] = level
        return cls(levels)


# Environment policy ----------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    shown: list[Finding]      # to print (staging: errors as warnings)
    refused: list[Finding]    # production: error-level findings nobody acknowledged
    acknowledged: list[Finding]  # error-level findings the file allows (printed at apply)
    errors: list[Finding] = field(default_factory=list)  # error-level, not acknowledged
    # (staging: still named, though it only warns)


def policy(found: list[Finding], environment: str) -> Verdict:
    """What applying migrations with `found` does in `environment`: local shows them,
    staging shows them as warnings, production refuses an error-level finding unless the
    file acknowledges it (`-- nself:allow RULE reason`)."""
    acknowledged = [f for f in found if f.level == "error" and f.allowed]
    errors = blocking(found)
    if environment == "staging":
        return Verdict([replace(f, level="warning") for f in found], [], acknowledged, errors)
    refused = errors if environment == "production" else []
    return Verdict(list(found), refused, acknowledged, errors)


def blocking(found: list[Finding]) -> list[Finding]:
    """The error-level findings no acknowledgement covers (`lint` exits 6 when any)."""
    return [f for f in found if f.level == "error" and not f.allowed]


# Output ----------------------------------------------------------------------------------


def text_lines(f: Finding) -> list[str]:
    lock = f" [lock: {f.lock}, blocks: {f.blocks or 'neither reads nor writes'}]" \
        if f.lock else ""
    size = f" ({f.table})" if f.table else ""
    lines = [f"{f.file}:{f.line}: {f.rule} {f.level}: {f.message}{lock}{size}",
             f"    why: {f.why}", f"    safe: {f.safe}"]
    if f.allowed:
        lines.append(f"    allowed: {f.allowed}")
    return lines


def github_line(f: Finding) -> str:
    kind = "warning" if f.level == "warning" or f.allowed else "error"
    body = f"{f.message}. {f.why} Safe: {f.safe}".replace("%", "%25").replace("\n", "%0A")
    return f"::{kind} file={f.file},line={f.line},title={f.rule}::{body}"


def gcc_line(f: Finding) -> str:
    kind = "warning" if f.level == "warning" or f.allowed else "error"
    return f"{f.file}:{f.line}:1: {kind}: {f.message} [{f.rule}]"


# The command ---------------------------------------------------------------------------


def chosen_files(env, names: list[str], since: str | None, changed: bool,
                 project: Project | None = None) -> list[Path]:
    """The files `lint` reads: `names`, or the folder's migrations newer than `since`, or
    those git sees changed against HEAD (untracked too), or every migration (read through
    `project` when given: it reads the folder once)."""
    folder = env.migrations_dir
    if names:
        if since or changed:
            raise UsageError("Give files, --since or --changed: one of them.")
        return [Path(n) if Path(n).is_absolute() else Path.cwd() / n for n in names]
    if since and changed:
        raise UsageError("Give either --since or --changed, not both.")
    migrations = project.migrations() if project is not None else \
        files.read_folder(folder, env.root)
    if since:
        if not str(since).isdigit():
            raise UsageError(f"--since expects a migration version (042), got {since!r}.")
        return [folder / m.filename for m in migrations if m.version > int(since)]
    if changed:
        wanted = _changed(env, folder)
        return [folder / m.filename for m in migrations if m.filename in wanted]
    return [folder / m.filename for m in migrations]


def _changed(env, folder: Path) -> set[str]:
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--",
                               str(folder)], cwd=env.root, capture_output=True, text=True,
                              check=False)
    except OSError as exc:
        raise UsageError(f"--changed needs git: {exc.strerror}.") from None
    if done.returncode != 0:
        raise UsageError("--changed needs a git repository: "
                         f"{(done.stderr.strip().splitlines() or ['git failed'])[0]}.")
    return {Path(line[3:].strip().strip('"').split(" -> ")[-1]).name
            for line in done.stdout.splitlines() if line[:2].strip() != "D"}


def project_for(env, read_database: bool) -> Project:
    """The Project of `env`: its migrations folder, the runner's lock_timeout, and (when
    `read_database` and the configured database answers) its table sizes and version."""
    sizes = version = None
    if read_database:
        try:
            with connection.connect(connection.target(env)) as conn:
                sizes, version = live_sizes(conn)
        except NselfError:
            pass  # no database here: lint what the files say
    return Project(env.migrations_dir, env.root, sizes, version,
                   Settings.from_env(env).lock_timeout_ms, small_table(env))


def small_table(env) -> int:
    """NSELF_LINT_SMALL_TABLE_MB in bytes: a live table under it only gets warnings from
    the rules whose harm is a long scan or rewrite."""
    return max(env.get_int("NSELF_LINT_SMALL_TABLE_MB", SMALL_TABLE_MB), 0) << 20


def run(env, names: list[str], since: str | None, changed: bool,
        read_database: bool) -> list[Finding]:
    """`nself db migrate lint`'s findings (its Config from the environment's settings)."""
    config = Config.from_settings(env.get)
    project = project_for(env, read_database)
    project.pending = bool(since)  # the files production lacks: applied together
    return lint(chosen_files(env, names, since, changed, project), project.context, config)


def review(env, path: Path) -> list[Finding]:
    """What lint finds in the new migration `path` (`migrate create` prints it), by the
    earlier migrations and the environment's levels; no database."""
    return lint([path], project_for(env, False).context, Config.from_settings(env.get))


def before_apply(env, conn, paths: list[Path], lock_timeout_ms: int, say, warn) -> None:
    """Lint the migrations about to be applied (`paths`) by `env`'s policy: local shows
    the error-level findings, staging warns of them, production refuses (exit 3) one the
    file does not acknowledge; each acknowledgement is printed. Warnings are for `nself db
    migrate lint` only (they would bury what applying prints)."""
    if not paths:
        return
    sizes, version = live_sizes(conn)
    project = Project(env.migrations_dir, env.root, sizes, version, lock_timeout_ms,
                      small_table(env), absent_is_new=True, pending=True)
    verdict = policy(lint(paths, project.context, Config.from_settings(env.get)), env.name)
    for f in verdict.acknowledged:
        say(f"Lint: {f.file}:{f.line}: {f.rule} acknowledged: {f.allowed}")
    if verdict.refused:
        listed = "; ".join(f"{f.file}:{f.line} {f.rule} {f.message}" for f in verdict.refused)
        raise Refused(f"Refused in {env.name}: {len(verdict.refused)} lint error"
                      f"{'s' if len(verdict.refused) != 1 else ''} ({listed}). Nothing was "
                      "changed. `nself db migrate lint` shows why and the safe form; fix the "
                      "file, or acknowledge a finding with `-- nself:allow RULE reason`.")
    tell = warn if env.name == "staging" else say
    for f in verdict.errors:
        tell(f"Lint: {f.file}:{f.line}: {f.rule} error: {f.message}")
