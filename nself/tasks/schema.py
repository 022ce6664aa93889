"""`db schema` tasks: export, diff (against another environment or the migration files),
import (DBML -> verified migration), diagram (the schema as a picture), and sync (which
says how to do it by hand).

The schema package is reached through `nself.tasks.library` (imported when a task first
uses it): it pulls in pglast, which `nself db status` and every other command's start-up
must not pay for.
"""

from __future__ import annotations

import re
from pathlib import Path

from invoke import Collection
from invoke.exceptions import Exit

from nself import output as out
from nself import safety
from nself.errors import DIFFERENCES, UsageError
from nself.tasks.base import command, environment
from nself.tasks.flags import guard
from nself.tasks.library import compare, diagrams, exporting, importer, migration_files


@command(help={
    "format": "What to write: dbml (dbdiagram.io's language; the default) or sql (a "
              "complete CREATE script in dependency order).",
    "output": "Write to FILE instead of standard output; FILE is replaced only once the "
              "whole export is written (never left empty or half-written).",
    "grants": "Include owners and grants (left out by default).",
})
def export(c, format="dbml", output=None, grants=False):
    """Print the database's schema as DBML or SQL (stable order: a re-export is identical)."""
    exporting.check_format(format)
    target = exporting.output_path(output) if output is not None else None
    exported = exporting.export(environment(), format, grants)
    if target is None:
        out.line(exported.text.removesuffix("\n"))
        return
    exporting.write_atomically(target, exported.text)
    tables = exported.tables
    out.ok(f"Schema exported: {output} ({format.upper()}, {tables} "
           f"table{'s' if tables != 1 else ''})")


@command(positional_flag="env", iterable=["rename"], help={
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
    "rename": "OLD:NEW: a table or column of this database that ENV calls NEW is taken as "
              "renamed, not dropped and added (users:members, users.name:full_name); "
              "repeatable.",
})
def diff(c, env=None, json=False, migrations=False, generate_migration=False, name=None,
         rename=None):
    """Compare this environment's schema with ENV's, or with what its migration files
    produce (--migrations, also without ENV); read-only; exit 6 if different."""
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
        result = compare.compare_migrations(current, _aside, rename)
    else:
        result = compare.compare(current, env, hide=out.hide, renames=rename)
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
    generated = importer.generate_between(env, result.left_schema, result.right_schema,
                                          f"{result.right}'s schema", _aside, result.renames)
    for warning in generated.warnings:
        out.warn(warning)
    if generated.empty:  # e.g. only the column order differs: no statement changes it
        out.line("No migration written: no statement can remove these differences.")
        return
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
    if name is not None and not re.match(migration_files.NAME, name):
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
    "strict": "Refuse type names of other databases and generators (datetime, nvarchar(n), "
              "Prisma's String, MySQL's enum('a','b'), ...) instead of reading them as "
              "their PostgreSQL type with a warning (the README lists the mapping).",
})
def import_(c, file=None, name=None, dry_run=False, apply=False, rename=None,
            drop_undeclared=False, no_backup=False, strict=False):
    """Write the next migration from a DBML file, verified on a shadow database first; it
    drops only what the DBML declared before and no longer declares."""
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
    # one import at a time per project, from reading the migrations folder until its
    # migration is written and applied: a second one then sees the first's migration
    with importer.exclusive(env, _aside):
        generated = importer.generate(env, source, rename, _aside, drop_undeclared, strict)
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
                _apply(env, None, no_backup)
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
            _apply(env, Path(written[-1]).name.split("_", 1)[0], no_backup)


def _apply(env, version: str | None, no_backup: bool) -> None:
    """--apply: migrate up to VERSION, or the pending migrations an earlier import wrote."""
    importer.apply(env, guard(env, yes=True, no_backup=no_backup), version, out.line,
                   out.notice, out.warn)


@command(help={
    "from_": "Draw this DBML file (e.g. schema.dbml: its TableGroups become frames, its "
             "headercolors the tables' colours) instead of the environment's live database.",
    "format": "svg (the default), png, mermaid (Markdown with erDiagram blocks each under "
              "GitHub's 50,000-character limit), html (one self-contained searchable page) "
              "or dot (Graphviz text); without it, --output's ending decides (.svg .png .md "
              ".mmd .html .dot).",
    "output": "Write to FILE (replaced only once complete) instead of standard output; png "
              "needs it.",
    "keys_only": "Show only key columns (primary, foreign, unique) of each table.",
    "around": "Draw only TABLE (name or schema.name) and the tables within --depth foreign "
              "keys of it, either direction.",
    "depth": "With --around: how many foreign keys away to go (default 1; 0: the table "
             "alone).",
    "schema": "Draw only the tables of schema NAME (and the foreign keys among them).",
    "engine": "nself (the default: nself's own layout, no Graphviz needed) or dot (Graphviz's "
              "dot on PATH draws svg/png from the same DOT text).",
})
def diagram(c, format=None, output=None, from_=None, keys_only=False, around=None,
            depth=None, schema=None, engine="nself"):
    """Draw the schema (tables, columns, keys, one line per foreign key, schemas and
    TableGroups as frames) from the live database or a DBML file."""
    chosen = diagrams.choose_format(format, output)
    hops = diagrams.check_depth(depth, around)
    target = exporting.output_path(output) if output is not None else None
    if chosen == "png" and target is None:
        raise UsageError("--format png writes a file: add --output FILE.png.")
    graph = diagrams.read(None if from_ is not None else environment(), from_)
    graph = diagrams.view(graph, schema=schema, around=around, depth=hops, keys_only=keys_only)
    drawing = diagrams.draw(graph, chosen, target, engine)
    if drawing.summary is not None:
        out.ok(drawing.summary)
    elif target is None:
        out.line(drawing.content.removesuffix("\n"))
    else:
        exporting.write_atomically(target, drawing.content)
        tables, keys = len(graph.nodes), len(graph.edges)
        out.ok(f"Diagram written: {output} ({chosen.upper()}, {tables} "
               f"table{'s' if tables != 1 else ''}, {keys} foreign "
               f"key{'s' if keys != 1 else ''})")


@command(help={"token": "A dbdiagram.io API token (not used: see the message)."})
def sync(c, token=None):
    """dbdiagram.io sync: not available; says which commands do the same by hand."""
    raise UsageError(
        "dbdiagram.io's API is not available, so there is no sync: export with `nself db "
        "schema export --format dbml --output schema.dbml`, paste it into dbdiagram.io, and "
        "bring the edited file back with `nself db schema import schema.dbml`.")


collection = Collection("schema", export, diff, diagram, sync, import_)
