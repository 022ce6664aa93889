"""`nself init`: the folders and files of a new project, never overwriting one."""

from __future__ import annotations

from pathlib import Path

from nself import config, userfile

ENV_FILE = """\
# Settings for the {env} environment. Committed: keep secrets in .env (git-ignored).
# Later wins: config/{env}.env, then .env, then the process environment.
{database}
# Migrations: lock wait for each statement (ms, 0 = none), retries when it times out,
# the first retry's delay (ms), and whether every migration's commit waits for its flush.
# NSELF_LOCK_TIMEOUT_MS=5000
# NSELF_LOCK_RETRIES=3
# NSELF_LOCK_RETRY_BACKOFF_MS=500
# NSELF_MIGRATE_SYNC_COMMIT=true
# Backups
# BACKUP_ENABLED=true
# BACKUP_SCHEDULE="0 2 * * *"
# BACKUP_RETENTION_DAYS=30
# BACKUP_COMPRESSION=true
"""

LOCAL_DATABASE = """\
# No DATABASE_URL: nself runs an embedded PostgreSQL in .nself/postgres/.
# DATABASE_URL=postgresql://postgres@127.0.0.1:5432/app
# NSELF_POSTGRES_BIN=/usr/lib/postgresql/15/bin   # embedded server from a full installation"""

REMOTE_DATABASE = """\
# Required here: .env never names {env}'s database (until this line is set, {env}
# commands refuse unless the shell's DATABASE_URL or `nself --url` names one for a run).
# Keep the password out of this file: PGPASSWORD=... in .env or the process environment.
# DATABASE_URL=postgresql://app@db.{env}.example.com:5432/app"""

ENV_EXAMPLE = """\
# Copy to .env (git-ignored) for personal settings and secrets. Its DATABASE_URL is yours
# in local; staging and production keep the database config/<env>.env names.
# ENV=local
# DATABASE_URL=postgresql://user:password@localhost:5432/app
# PGPASSWORD=...   # the password for config/<env>.env's DATABASE_URL
"""

# The project's mark: commands run anywhere below this folder use it (config.is_marked).
MARKER = """\
# This folder is an nself project: nself commands run in any folder below it use it.
# Settings live in config/<env>.env (committed) and .env (personal, git-ignored).
"""

SCHEMA = """\
Project {name} {{
  database_type: 'PostgreSQL'
  Note: '{name} database schema'
}}
"""

# The project's invoke entry point: `inv db.migrate.up`, `inv db.update`, `inv --list` (from a
# Makefile, in CI). The interrupt handling comes first, as in nself's own entry points.
TASKS_FILE = """\
\"\"\"Invoke entry point: `inv --list` shows nself's tasks (`inv db.migrate.up`, `inv db.update`).

Your own tasks can live here too: define them above the two nself lines at the end.
\"\"\"
from nself import interrupts

interrupts.stop_at_once()

from nself.tasks.include import with_nself  # noqa: E402

ns = with_nself(__name__)
"""
# What a project whose tasks.py nself did not write adds at its end (never written for it).
TASKS_LINES = ("from nself.tasks.include import with_nself",
               "ns = with_nself(__name__)")

# `.env` and `.nself/` at any depth (a command once run in a subfolder may have left state
# there); backups by their environment folders, at any depth: a bare `backups/` would also
# hide a source package of that name.
GITIGNORE_LINES = (".env", ".nself/", "**/backups/local/", "**/backups/staging/",
                   "**/backups/production/")


def scaffold(root: Path, project_name: str) -> tuple[list[str], list[str]]:
    """Create the project layout in `root`; returns (created, kept) relative paths."""
    created: list[str] = []
    kept: list[str] = []

    def folder(rel: str) -> None:
        path = root / rel
        if path.is_dir():
            return
        path.mkdir(parents=True)
        created.append(rel + "/")

    def file(rel: str, text: str) -> None:
        path = root / rel
        if path.exists():
            kept.append(rel)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        created.append(rel)

    file(config.MARKER, MARKER)
    folder("migrations")
    for env in ("common", "local", "staging", "production"):
        folder(f"seeds/{env}")
    for env in ("local", "staging", "production"):
        database = LOCAL_DATABASE if env == "local" else REMOTE_DATABASE.format(env=env)
        file(f"config/{env}.env", ENV_FILE.format(env=env, database=database))
    file("schema.dbml", SCHEMA.format(name=project_name))
    file("tasks.py", TASKS_FILE)
    file(".env.example", ENV_EXAMPLE)

    gitignore = root / ".gitignore"
    present = (userfile.read_text(gitignore, "a .gitignore", userfile.SETTINGS_LIMIT).splitlines()
               if gitignore.exists() else [])
    present_set = {line.strip() for line in present}
    missing = [entry for entry in GITIGNORE_LINES if not _covered(entry, present_set)]
    if missing:
        with gitignore.open("a") as handle:
            if present and present[-1].strip():
                handle.write("\n")
            handle.write("\n".join(missing) + "\n")
        created.append(f".gitignore ({', '.join(missing)})")
    return created, kept


def tasks_advice(root: Path) -> list[str]:
    """The lines a project's existing tasks.py still needs for `inv` to show nself's tasks
    (empty when it already names nself's namespace)."""
    path = root / "tasks.py"
    if not path.is_file():
        return []
    text = userfile.read_text(path, "tasks.py", userfile.SETTINGS_LIMIT)
    if "nself.tasks" in text:
        return []
    return list(TASKS_LINES)


def _covered(entry: str, present: set[str]) -> bool:
    """Whether a .gitignore already holding `present` ignores what `entry` does: the same
    line, or (for `**/backups/local/`) its first folder ignored at any depth (`backups/`)."""
    bare = entry.removeprefix("**/")
    if "/" not in bare.rstrip("/"):
        return bool({entry, "**/" + bare} & present)
    first = bare.split("/")[0] + "/"
    return bool({entry, first, "**/" + first} & present)


# Another tool's migrations (`nself init` names them, found by nself.adopt.detect) ----------

# formats whose migrations are Python: nself reads the SQL the tool prints, never runs them
PRINTED_SQL = {"alembic": "`alembic upgrade head --sql`",
               "django": "`manage.py sqlmigrate APP NAME` for each migration"}


def adopt_advice(kind: str, folder: str) -> str:
    """What `nself init` says of FOLDER's migrations (format KIND): the command that brings
    them into nself with what the other tool had applied."""
    found = f"Found {kind} migrations in {folder}/: "
    if kind in PRINTED_SQL:
        return (found + f"they are Python: save the SQL {PRINTED_SQL[kind]} prints in a "
                f"folder, then `nself db migrate import --from {kind} FOLDER --adopt-applied`")
    return (found + f"bring them in, with what {kind} had applied, by "
            f"`nself db migrate import --from {kind} {folder} --adopt-applied`")
