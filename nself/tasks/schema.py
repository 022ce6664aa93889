"""`db.schema` tasks: export, diff (against another environment), and sync (which says
how to do it by hand)."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from invoke import Collection
from invoke.exceptions import Exit

from nself import output as out
from nself.errors import DIFFERENCES, UsageError
from nself.pg import connection
from nself.tasks.base import command, environment

FORMATS = ("dbml", "sql")


@command(help={
    "format": "What to write: dbml (dbdiagram.io's language; the default) or sql (a "
              "complete CREATE script in dependency order).",
    "output": "Write to FILE instead of standard output; FILE is replaced only once the "
              "whole export is written (never left empty or half-written).",
    "grants": "Include owners and grants (left out by default).",
})
def export(c, format="dbml", output=None, grants=False):
    """Print the database's schema as DBML or SQL (stable order: a re-export is identical)."""
    if format not in FORMATS:
        raise UsageError(f"--format must be dbml or sql, not {format!r}.")
    target = _output_path(output) if output is not None else None
    # Imported here: the schema package pulls in pglast (via nself.schema.ddl), which
    # `nself db status` and every other command's start-up must not pay for.
    from nself.schema.introspect import introspect
    from nself.schema.render import to_dbml, to_sql

    env = environment()
    with connection.connect(connection.target(env)) as conn:
        model = introspect(conn, grants=grants)
    text = to_dbml(model) if format == "dbml" else to_sql(model)
    if target is None:
        out.line(text.removesuffix("\n"))
        return
    write_atomically(target, text)
    tables = sum(1 for t in model.tables if not t.partition_of)
    out.ok(f"Schema exported: {output} ({format.upper()}, {tables} "
           f"table{'s' if tables != 1 else ''})")


@command(positional_flag="env", help={
    "env": "The environment to compare with: local (dev), staging (stage), production "
           "(prod); its database comes from config/<env>.env and .env.",
    "json": "Print {left, right, equal, differences, unsupported} as JSON.",
    "migrations": "Compare this database with the schema its migration files produce "
                  "(replayed into a throwaway shadow database): drift. The default without "
                  "ENV.",
    "generate_migration": "Write a verified migration that brings this database's schema "
                          "to ENV's.",
    "name": "Name of the migration --generate-migration writes (default: "
            "match_<env>_schema).",
})
def diff(c, env=None, json=False, migrations=False, generate_migration=False, name=None):
    """Compare this environment's schema with ENV's, or with what its migration files
    produce (--migrations, also without ENV); read-only; exit 6 if different."""
    # Imported here, as in export: the schema package is not for every command's start-up.
    from nself.schema.compare import compare, compare_migrations

    if migrations and env:
        raise UsageError("Compare with an environment (`schema diff staging`) or with the "
                         "migration files (`schema diff --migrations`), not both.")
    if generate_migration and not env:
        raise UsageError("--generate-migration needs the environment whose schema to match: "
                         "`nself db schema diff staging --generate-migration`.")
    if name is not None and not generate_migration:
        raise UsageError("--name goes with --generate-migration.")
    migrations = migrations or not env  # bare `schema diff`: against the migration files
    _check_name(name)
    current = environment()
    if generate_migration:
        current.require_project()
    if migrations:
        result = compare_migrations(current, _aside)
    else:
        result = compare(current, env, hide=out.hide)
    if json:
        out.as_json(result.as_dict())
    elif result.equal:
        out.line(f"No schema differences ({result.left} vs {result.right})")
    else:
        out.heading(f"Schema Differences ({result.left} vs {result.right})", 40)
        out.line("\n".join(result.differences))
    if not json:
        for item in result.unsupported:
            out.line(f"Not compared: {item}")
    if generate_migration and not result.equal:
        _generate_from(current, result, name)
        return
    if not result.equal:
        raise Exit(code=DIFFERENCES)  # the block above is the finding: no error line


def _generate_from(env, result, name) -> None:
    """Write the verified migration that turns the current database into the other's."""
    from nself.schema import importer

    generated = importer.generate_between(env, result.left_schema, result.right_schema,
                                          f"{result.right}'s schema", _aside)
    for warning in generated.warnings:
        out.warn(warning)
    written = importer.write(env, generated, name or f"match_{result.right}_schema",
                             description=f"Brings {result.left}'s schema to "
                                         f"{result.right}'s (nself db schema diff "
                                         f"{result.right} --generate-migration)")
    for path in written:
        out.ok(f"Migration created: {path}")


def _aside(text: str) -> None:
    """A remark on stderr, so that standard output holds only the result (`--dry-run >
    migration.sql` gets SQL only)."""
    out.line(text, err=True)


def _check_name(name) -> None:
    from nself.migrations.files import NAME

    if name is not None and not re.match(NAME, name):
        raise UsageError(f"Migration name {name!r} is not a simple identifier: use letters, "
                         "digits and underscores, starting with a letter.")


@command(name="import", positional_flag="file", iterable=["rename"], help={
    "file": "The DBML file (default: the project's schema.dbml).",
    "name": "Name of the migration to write (default: from what changes, e.g. "
            "add_posts_table).",
    "dry_run": "Print the verified SQL; write nothing.",
    "apply": "Also apply the new migration(s) (local only: blocked in staging and "
             "production).",
    "rename": "OLD:NEW: take this as a rename, not a drop and an add (users:members, "
              "users.name:full_name); repeatable. A DBML note 'renamed from OLD' on the "
              "table or column does the same.",
    "drop_undeclared": "Also drop what the migrations made and the DBML never declared "
                       "(each import lists these as 'not in schema.dbml, kept: ...'; with "
                       "this flag the same list is printed as dropped, and the migration "
                       "drops them with their data).",
    "no_backup": "With --apply: skip the safety backup taken before applying a migration "
                 "that destroys data (a dropped table or column, a lossy type change).",
})
def import_(c, file=None, name=None, dry_run=False, apply=False, rename=None,
            drop_undeclared=False, no_backup=False):
    """Write the next migration from a DBML file, verified on a shadow database first; it
    drops only what the DBML declared before and no longer declares."""
    from nself import safety
    from nself.schema import importer

    env = environment()
    env.require_project()
    if dry_run and apply:
        raise UsageError("--dry-run and --apply exclude each other.")
    _check_name(name)
    if apply:
        safety.enforce("schema import --apply", env.name, yes=True)
    source = Path(file) if file else env.schema_file
    if not file and not source.exists():
        raise UsageError(f"No {env.relative(source)}: name the DBML file "
                         "(`nself db schema import schema.dbml`).")
    generated = importer.generate(env, source, rename, _aside, drop_undeclared)
    for warning in generated.warnings:
        out.warn(warning)
    for note in generated.notes:
        _aside(f"Note: {note}")
    for item in generated.plan.unsupported:
        _aside(f"Not compared (nself does not model it): {item}")
    if generated.undeclared and generated.undeclared_dropped:
        out.warn(f"not in {generated.source}, dropped (--drop-undeclared): "
                 + ", ".join(generated.undeclared))
    elif generated.undeclared:
        _aside(f"not in {generated.source}, kept: {', '.join(generated.undeclared)}; "
               f"`nself db schema export` writes them into it (or `--drop-undeclared` drops "
               "them)")
    if generated.empty:
        out.ok(f"No schema changes: the migrations already produce {generated.source}.")
        if apply:  # a run killed after writing its migration: finish the job
            _apply_pending_imports(env, no_backup)
        return
    out.ok("Schema changes detected!")
    out.line("\n".join(f"  {line}" for line in importer.changes_summary(generated.plan)))
    if dry_run:
        out.line(importer.migration_sql(generated).rstrip("\n"))
        return
    written = importer.write(env, generated, name)
    for path in written:
        out.ok(f"Migration created: {path}")
    if apply:
        _apply_new(env, Path(written[-1]).name.split("_", 1)[0], no_backup)


def _apply_new(env, version: str, no_backup: bool = False) -> None:
    """migrate up to VERSION (the newest file written), as `migrate up --to` would."""
    from nself.tasks.migrate import _session

    with _session(env, 60.0, yes=True, no_backup=no_backup) as runner:
        runner.up(to=version)


def _apply_pending_imports(env, no_backup: bool = False) -> None:
    """Apply (migrate up to the newest of them) the pending migrations an earlier
    `schema import` wrote, e.g. one killed between writing and applying."""
    from nself.migrations.status import PENDING
    from nself.schema.declared import Declared
    from nself.tasks.migrate import _session

    with _session(env, 60.0, yes=True, no_backup=no_backup) as runner:
        pending = [s for s in runner.states() if s.status == PENDING
                   and s.migration is not None
                   and Declared.parse(s.migration.text) is not None]
        if not pending:
            return
        out.line(f"Applying {len(pending)} pending migration"
                 f"{'s' if len(pending) != 1 else ''} written by an earlier schema import: "
                 + ", ".join(s.id for s in pending))
        runner.up(to=pending[-1].migration.label)


@command(help={"token": "A dbdiagram.io API token (not used: see the message)."})
def sync(c, token=None):
    """dbdiagram.io sync: not available; says which commands do the same by hand."""
    raise UsageError(
        "dbdiagram.io's API is not available, so there is no sync: export with `nself db "
        "schema export --format dbml --output schema.dbml`, paste it into dbdiagram.io, and "
        "bring the edited file back with `nself db schema import schema.dbml`.")


def _output_path(name: str) -> Path:
    """The --output file, refused up front (exit 2) when it cannot be written."""
    if not name:
        raise UsageError("--output needs a file name.")
    path = Path(name)
    if path.is_dir():
        raise UsageError(f"Cannot write {name}: it is a folder.")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"Cannot write {name}: the folder {folder} does not exist.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"Cannot write {name}: the folder {folder} is not writable.")
    return path


def write_atomically(path: Path, text: str) -> None:
    """Write TEXT to a temporary file beside PATH and rename it over PATH: PATH is either
    its old self or the complete new text, never empty or partial (a full disk or Ctrl-C
    removes the temporary file and leaves PATH alone)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


collection = Collection("schema", export, diff, sync, import_)
