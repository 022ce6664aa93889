"""`schema import`: DBML -> the next migration, verified before it is written.

1. The DBML file is read and checked (every problem at once, exit 2) before any database
   work.
2. Shadow A gets every migration file replayed (`shadow.replay`): its schema is OLD, what
   the migrations produce, whatever anyone's own database looks like.
3. The DESIRED schema is the DBML's, plus what DBML cannot say but the migrations made:
   extensions, domains, free sequences, views, functions, triggers and policies (of tables
   still there), partial indexes, partitions and row security (see `carry_over`). DBML is
   authoritative for what it can express; nothing else is dropped because DBML cannot write
   it down. And the DBML manages only what it declares (nself.schema.declared): what the
   migrations made that neither the file nor the record of the previous import declares is
   kept too (`--drop-undeclared` drops it); each migration written records what the file
   declared.
4. Shadow B gets DESIRED as SQL, and is introspected: NEW is DESIRED as PostgreSQL prints it
   back, so OLD and NEW compare like with like (expressions, defaults, type spellings).
5. UP = diff(OLD, NEW), cut into migrations where a statement must run outside a
   transaction (`ALTER TYPE … ADD VALUE`); each part's DOWN is diff(after it, before it).
6. Verification on shadow A: every UP applied, then the schema must equal NEW; every DOWN
   applied in reverse, then it must equal OLD at each step. A failure shows the SQL and
   writes nothing.

Records blocks become INSERTs at the end of the migration that creates their table (the
DOWN drops the table, and the rows with it); Records of a table that already exists are
not written (they belong in a seed file), and that is said.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from nself import lint, sql, userfile
from nself.config import Environment
from nself.errors import LockTimeout, NselfError, OperationFailed, UsageError
from nself.lint import safe
from nself.migrations import files
from nself.migrations.engine import Settings
from nself.migrations.runner import session
from nself.migrations.status import PENDING
from nself.pg import connection
from nself.schema import declared, derive, parse_cache
from nself.schema import shadow as shadows_module
from nself.schema.dbml import (
    DbmlDocument,
    DbmlError,
    load_dbml_document,
    locate_failure,
    not_an_expression,
    read_sql_note,
)
from nself.schema.ddl import ident, qualified
from nself.schema.diff import NEEDS_A_VALUE, Plan, diff, display, invert_renames, type_key
from nself.schema.introspect import introspect
from nself.schema.model import Schema
from nself.schema.render import (
    GENERATED,
    PARTITION_BY,
    SQL_NOTE,
    export_facts,
    exported_facts,
    is_expression,
    to_sql,
)

RENAMED_FROM = re.compile(r"(?i)\brenamed\s+from\s+(.+)", re.S)
_NAME_PART = re.compile(r'\s*(?:"((?:[^"]|"")+)"|`([^`]+)`|\'([^\']+)\'|([\w$]+))')


@dataclass
class Part:
    """One migration to write: its UP and DOWN SQL, and whether it runs outside a
    transaction."""

    up: str
    down: str
    autocommit: bool = False
    # what its DOWN cannot do once the tables have rows (diff.NEEDS_A_VALUE), to be said
    down_warnings: list[str] = field(default_factory=list)


@dataclass
class Generated:
    source: str
    plan: Plan = field(default_factory=Plan)
    parts: list[Part] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)   # phase -> seconds (bench/)
    # what the file declares (recorded in the migrations written); None: not from a DBML file
    declared: declared.Declared | None = None
    # what the migrations made and the file never declared: kept, or dropped when
    # undeclared_dropped (--drop-undeclared)
    undeclared: list[str] = field(default_factory=list)
    undeclared_dropped: bool = False
    # the DBML's type names read as PostgreSQL's (DbmlDocument.mapped): the header says so
    mapped: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.parts


class Clock:
    """Seconds per phase, added up (`with clock("diff"): ...`)."""

    def __init__(self, times: dict[str, float] | None = None):
        self.times = {} if times is None else times

    @contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.times[phase] = self.times.get(phase, 0.0) + time.perf_counter() - start


# ------------------------------------------------------------------------------ renames

def parse_renames(flags: list[str] | None) -> list[tuple[str, str]]:
    """`--rename old:new` values as (old, new) pairs; a malformed one is exit 2."""
    pairs = []
    for value in flags or []:
        old, sep, new = value.partition(":")
        if not sep or not old.strip() or not new.strip() or ":" in new:
            raise UsageError(f"--rename takes OLD:NEW (e.g. users:members or "
                             f"users.name:full_name), not {value!r}.")
        pairs.append((old.strip(), new.strip()))
    return pairs


def resolve_renames(pairs: list[tuple[str, str]], old: Schema, new: Schema
                    ) -> dict[str, str]:
    """Rename hints as diff() takes them ('schema.table' -> 'schema.newtable',
    'schema.table.column' -> 'schema.table.newcolumn'), from --rename pairs and DBML notes
    'renamed from NAME' on tables and columns. A hint naming nothing in the old schema is
    exit 2 (a flag) or ignored (a note left over from an earlier import)."""
    hints: dict[str, str] = {}
    for before, after in pairs:
        key, target = _flag_hint(before, after, old, new)
        hints[key] = target
    for table in new.tables:
        for parts in _renamed_from(table.comment):
            name = ".".join(parts) if len(parts) > 1 else parts[0]
            source = (f"{parts[-2]}.{parts[-1]}" if len(parts) > 1
                      else f"{table.schema}.{parts[0]}")
            if old.table(source) is None:
                source = _table_in(name, old, table.schema)
            if source and source != table.qualified and not new.table(source):
                hints.setdefault(source, table.qualified)
                break
        for column in table.columns:
            origin = _origin_table(table.qualified, hints)
            before_table = old.table(origin)
            for parts in _renamed_from(column.comment):
                name = parts[-1]
                if (before_table and before_table.column(name) and name != column.name
                        and not table.column(name)):
                    hints.setdefault(f"{origin}.{name}", f"{origin}.{column.name}")
                    break
    return hints


def _renamed_from(note: str | None) -> list[list[str]]:
    """The names a note 'renamed from NAME' may mean, as name parts: `"Display Name"`,
    `app."Old Orders"`, `old_name`; and the rest of the note as written (`Display Name`)."""
    if not note or not (m := RENAMED_FROM.search(note)):
        return []
    text, parts, at = m.group(1), [], 0
    while True:
        part = _NAME_PART.match(text, at)
        if not part:
            break
        parts.append(next(g for g in part.groups() if g is not None).replace('""', '"'))
        at = part.end()
        if not text.startswith(".", at):
            break
        at += 1
    found = [parts] if parts else []
    rest = text.strip().rstrip(".;,)").strip()
    if rest and [rest] not in found:
        found.append([rest])
    return found


def _origin_table(qualified_name: str, hints: dict[str, str]) -> str:
    return next((k for k, v in hints.items() if v == qualified_name and k.count(".") == 1),
                qualified_name)


def _table_in(name: str, schema: Schema, default_schema: str = "public") -> str | None:
    key = name if "." in name else f"{default_schema}.{name}"
    return key if schema.table(key) else None


def flag_hints(pairs: list[tuple[str, str]], old: Schema, new: Schema, new_side: str,
               old_side: str) -> dict[str, str]:
    """--rename pairs (parse_renames) as diff()'s hints; a pair naming nothing is exit 2,
    with OLD_SIDE and NEW_SIDE naming the schemas ("local's schema", "staging's")."""
    return dict(_flag_hint(before, after, old, new, new_side, old_side)
                for before, after in pairs)


def _flag_hint(before: str, after: str, old: Schema, new: Schema, new_side: str = "the DBML",
               old_side: str = "the schema the migrations produce") -> tuple[str, str]:
    table = _table_in(before, old)
    if table:  # a table: users:members, app.users:app.members
        target = after if "." in after else f"{table.split('.')[0]}.{after}"
        if not new.table(target):
            raise UsageError(f"--rename {before}:{after}: {new_side} has no table {after}.")
        return table, target
    owner, _, column = before.rpartition(".")
    table = _table_in(owner, old) if owner else None
    if not table or not old.table(table).column(column):
        raise UsageError(f"--rename {before}:{after}: there is no table or column {before} "
                         f"in {old_side}.")
    new_column = after.rpartition(".")[2]
    return f"{table}.{column}", f"{table}.{new_column}"


# --------------------------------------------------------------------------- carry-over

def carry_over(dbml: Schema, old: Schema, renames: dict[str, str]) -> Schema:
    """DBML's schema plus what DBML cannot express that OLD has (see the module text)."""
    desired = replace(dbml)
    new_tables = {t.qualified: t for t in dbml.tables}
    renamed_to = {k: v for k, v in renames.items() if k.count(".") == 1}

    def kept_table(name: str) -> str | None:
        name = renamed_to.get(name, name)
        return name if name in new_tables else None

    desired.extensions = sorted(set(dbml.extensions) | set(old.extensions))
    desired.schemas = sorted(set(dbml.schemas) | set(old.schemas))
    dbml_types = {e.qualified for e in dbml.enums}
    desired.domains = [d for d in old.domains if d.qualified not in dbml_types]
    desired.sequences = list(dbml.sequences) + [
        s for s in old.sequences if s.owned_by is None and not any(
            x.qualified == s.qualified for x in dbml.sequences)]
    desired.comments = {**{k: v for k, v in old.comments.items()
                           if k.startswith(("schema:", "extension:"))}, **dbml.comments}
    tables = []
    for t in dbml.tables:
        before = old.table(next((k for k, v in renamed_to.items() if v == t.qualified),
                                t.qualified))
        if before is not None:
            # partial indexes: DBML cannot write WHERE, so the migrations' ones stay
            names = {i.name for i in t.indexes}
            partial = [replace(i, table=t.name) for i in before.indexes
                       if i.where and i.name not in names]
            t = replace(t, indexes=list(t.indexes) + partial,
                        row_security=before.row_security,
                        force_row_security=before.force_row_security,
                        partition_by=t.partition_by or before.partition_by)
        tables.append(t)
    for t in old.tables:  # partitions of tables the DBML keeps
        if t.partition_of and not new_tables.get(t.qualified):
            parent = kept_table(t.partition_of)
            if parent:
                tables.append(replace(t, partition_of=parent))
    desired.tables = tables
    definitions = []
    for d in old.definitions:
        if d.kind in ("trigger", "policy"):
            table = f"{d.schema}.{d.name.rpartition('.')[0]}"
            if not kept_table(table):
                continue
        if d.kind == "statistics" and not all(kept_table(x) for x in d.depends_on
                                              if old.table(x)):
            continue  # its table is dropped
        definitions.append(d)
    desired.definitions = definitions + list(dbml.definitions)
    return desired


def domain_types(old: Schema) -> dict[str, str]:
    """The names a DBML file may use for the migrations' domains -> their spelling."""
    types = {}
    for d in old.domains:
        spelling = type_key(d.schema, d.name)
        types[f"{d.schema}.{d.name}"] = spelling
        if d.schema == "public":
            types[d.name] = spelling
    return types


# ----------------------------------------------------------------------------- generate

def generate(env: Environment, source: Path, rename_flags: list[str] | None,
             say: Callable[[str], None], drop_undeclared: bool = False,
             strict: bool = False) -> Generated:
    """The verified migration(s) that bring the migrations' schema to SOURCE's. What the
    migrations made and SOURCE never declared (see nself.schema.declared) is kept and
    listed in `undeclared`, or dropped with DROP_UNDECLARED. STRICT: other databases' type
    names are refused, not read as PostgreSQL's (see nself.schema.types.MAPPED)."""
    shown = env.relative(source) if source.is_absolute() else str(source)
    pairs = parse_renames(rename_flags)
    clock = Clock()
    with clock("parse"), parse_cache.using(env.state_dir):  # blocks read before: kept
        document = _precheck(source, shown, strict)

    def read(shadow) -> Schema:
        with clock("introspection"):
            return introspect(shadow.conn)

    with shadows_module.shadows(env, say) as shadows, ExitStack() as stack:
        with clock("shadow replay"):
            # the replay an earlier import of the same migrations kept, or a new one (kept)
            a, old = shadows.replayed(lambda home: shadows_module.replay_key(env, home),
                                      lambda shadow: shadows_module.replay(env, shadow), read)
        clock.times["shadow replay"] -= clock.times["introspection"]
        stack.enter_context(a.unchanged())  # what follows is rolled back in A
        # the full parse has the note already; without it (domain names pending) read just that
        text = document.sql if document is not None else read_sql_note(source)
        note = NoteSql.parse(text, shown, _file_text(source)) if text else None
        # it used type names the migrations' domains may explain, or the note declares types
        # a name read alone could take for a built-in one ("Money" is not money)
        if document is None or note is not None and note.domains:
            with clock("parse"), parse_cache.using(env.state_dir):
                types = note.domains if note is not None else domain_types(old)
                document = load_dbml_document(source, types, shown, strict)
        renames = resolve_renames(pairs, old, document.schema)
        before = declared.previous(m.text for m in files.read_folder(env.migrations_dir,
                                                                      env.root))
        result = Generated(source=shown, warnings=list(document.warnings), timings=clock.times,
                           mapped=list(document.mapped))
        new = None
        if note is None:
            _check_export(shadows, source, shown, document)
            result.declared = declared.Declared.of(document.schema)
            kept = declared.undeclared(old, result.declared, before, renames)
            dbml = document.schema
            if kept and not drop_undeclared:
                dbml = declared.keep(dbml, old, kept)
            desired = carry_over(dbml, old, renames)
        else:  # the file says everything itself
            result.notes.append(f"{shown}'s Note {SQL_NOTE} is built with the tables "
                                f"({note.count} SQL statements)")
            desired = note.shape(document.schema)
            with clock("build the DBML's schema"), shadows.scratch():  # dropped meanwhile
                new = _settled(shadows, desired, shown, note, document.places)
            _check_export(shadows, source, shown, document, new)
            result.declared = declared.Declared.of(new, everything=True)
            kept = declared.undeclared(old, result.declared, before, renames, everything=True)
            if kept and not drop_undeclared:
                desired, new = declared.keep(desired, old, kept), None
        result.undeclared = kept.names()
        result.undeclared_dropped = drop_undeclared
        gone = declared.dropped_columns(desired, old, renames)
        using = declared.dependents(desired, old, renames, result.declared,
                                    _column_users(a.conn, gone) if gone else None)
        if using:
            desired, new = _drop_dependents(desired, using, shown, drop_undeclared, result), None
        return _generate(shadows, a, old, desired, shown, renames, result, document, note, new)


def _check_export(shadows, source: Path, shown: str, document: DbmlDocument,
                  built: Schema | None = None) -> None:
    """An unedited `schema export` (its `// nself export` line still matches the text) must
    build back the schema it was exported from, fact for fact (render.export_facts): else
    the import would lose something, which no later check could see. BUILT: the file's
    schema already built (with its Note), else it is built here."""
    expected = exported_facts(_file_text(source))
    if expected is None:
        return
    if built is None:
        built = _build(shadows.create(), document.schema, shown)
    facts = export_facts(built)
    differing = [kind for kind in sorted(expected) if facts.get(kind) != expected[kind]]
    if differing:
        raise OperationFailed(
            f"{shown} is an unedited `nself db schema export`, but the schema built from it "
            f"differs from the exported one in its {', '.join(differing)}: importing it "
            "would not reproduce that schema. Nothing was written. This is a bug in nself.")


# What uses a column, by pg_depend: a view's query (through its rule), a policy's or
# trigger's expression, a function's SQL body -> (kind, qualified) as introspect names them
COLUMN_USERS_SQL = """
SELECT r.schema || '.' || r.tbl || '.' || r.col, CASE d.classid
         WHEN 'pg_rewrite'::regclass THEN
           CASE (SELECT relkind FROM pg_class WHERE oid = w.ev_class)
             WHEN 'v' THEN 'view' ELSE 'materialized view' END
         WHEN 'pg_policy'::regclass THEN 'policy'
         WHEN 'pg_trigger'::regclass THEN 'trigger' ELSE 'function' END,
       CASE d.classid
         WHEN 'pg_rewrite'::regclass THEN
           (SELECT n.nspname || '.' || x.relname FROM pg_class x
            JOIN pg_namespace n ON n.oid = x.relnamespace WHERE x.oid = w.ev_class)
         WHEN 'pg_policy'::regclass THEN
           (SELECT r.schema || '.' || r.tbl || '.' || p.polname FROM pg_policy p
            WHERE p.oid = d.objid)
         WHEN 'pg_trigger'::regclass THEN
           (SELECT r.schema || '.' || r.tbl || '.' || t.tgname FROM pg_trigger t
            WHERE t.oid = d.objid)
         ELSE (SELECT n.nspname || '.' || p.proname || '(' || oidvectortypes(p.proargtypes)
                      || ')' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE p.oid = d.objid) END
FROM unnest(%s::text[], %s::text[], %s::text[]) AS r(schema, tbl, col)
JOIN pg_namespace n ON n.nspname = r.schema
JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = r.tbl
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = r.col
JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid
     AND d.refobjsubid = a.attnum AND d.deptype = 'n'
LEFT JOIN pg_rewrite w ON d.classid = 'pg_rewrite'::regclass AND w.oid = d.objid
WHERE d.classid IN ('pg_rewrite'::regclass, 'pg_policy'::regclass, 'pg_trigger'::regclass,
                    'pg_proc'::regclass)
  AND (w.oid IS NULL OR w.ev_class <> c.oid)
"""


def _column_users(conn, columns: list[tuple[str, str, str]]) -> dict[str, set[tuple[str, str]]]:
    """'schema.table.column' -> the definitions that use it, read from CONN's catalog (the
    shadow that holds the migrations' schema)."""
    found: dict[str, set[tuple[str, str]]] = {}
    rows = conn.execute(COLUMN_USERS_SQL, [list(x) for x in zip(*columns, strict=True)])
    for column, kind, name in rows:
        found.setdefault(column, set()).add((kind, name))
    return found


def _drop_dependents(desired: Schema, using: dict[str, list], shown: str,
                     drop_undeclared: bool, result: Generated) -> Schema:
    """DESIRED without the kept definitions that use tables it drops (USING: table -> them),
    listed as dropped; without DROP_UNDECLARED that is refused, naming them (PostgreSQL
    cannot keep a view whose table is gone)."""
    def short(qualified: str) -> str:
        return qualified.removeprefix("public.")

    if not drop_undeclared:
        tables = ", ".join(short(t) for t in using)
        said = "; ".join((f"{short(table)}: " if len(using) > 1 else "")
                         + ", ".join(declared.describe(d) for d in found)
                         for table, found in using.items())
        raise UsageError(
            f"{shown} no longer declares {tables}, but objects your migrations made outside "
            f"{shown} use {'it' if len(using) == 1 else 'them'}: {said}. Nothing was "
            f"written: keep {tables} in {shown}, drop those objects in a migration of your "
            "own first, or run again with --drop-undeclared to drop them too.")
    dropped = [d for found in using.values() for d in found]
    result.undeclared += [declared.describe(d) for d in dropped]
    return declared.without(desired, dropped)


@dataclass
class NoteSql:
    """A DBML file's `Note nself_sql` (what DBML cannot express, as SQL; written by
    `schema export`): statements the tables need first (schemas, extensions, types,
    domains, sequences, functions), the rest (after the tables), and the tables it says
    are partitioned."""

    before: list[str]
    after: list[str]
    partition_by: dict[str, str]
    domains: dict[str, str]
    generated: dict[tuple[str, str], str]      # (table, column) -> expression

    @property
    def count(self) -> int:
        return len(self.before) + len(self.after)

    @classmethod
    def parse(cls, text: str, shown: str, file_text: str = "") -> NoteSql:
        """The note's TEXT; FILE_TEXT (the whole file) places a bad directive's line."""
        try:
            statements = [st for st in sql.split(text, parse=True) if st.text.strip()]
        except sql.SqlSyntaxError as exc:
            raise UsageError(f"{shown}: Note {SQL_NOTE} is not valid SQL: {exc}") from None
        note = cls([], [], {}, {}, {})
        for line in text.splitlines():
            for word, store in ((PARTITION_BY, note.partition_by), (GENERATED, note.generated)):
                if not line.startswith(word + " "):
                    continue
                at = _line_in(file_text, line.strip(), shown)
                try:
                    fields = json.loads(line[len(word) + 1:])
                    table = fields["table"]
                    key = table if "." in table else f"public.{table}"
                    if word == PARTITION_BY:
                        store[key] = fields["by"]
                        why = _not_a_partitioning(fields["by"])
                    else:
                        store[(key, fields["column"])] = fields["expression"]
                        why = not_an_expression(fields["expression"])
                except (ValueError, KeyError, TypeError):
                    raise UsageError(f"{at}: Note {SQL_NOTE}: cannot read the line "
                                     f"{line.strip()!r}") from None
                if why:  # pasted into the tables' SQL: PostgreSQL must be able to read it
                    raise UsageError(f"{at}: Note {SQL_NOTE}: {line.strip()!r}: {why}")
        for statement in statements:
            node = statement.node
            kind = type(node).__name__
            if kind in ("CreateDomainStmt", "CompositeTypeStmt"):  # type names DBML may use
                names = ([n.sval for n in node.domainname] if kind == "CreateDomainStmt"
                         else [x for x in (node.typevar.schemaname, node.typevar.relname) if x])
                schema, name = (names[-2] if len(names) > 1 else "public"), names[-1]
                spelling = type_key(schema, name)
                note.domains[f"{schema}.{name}"] = spelling
                if schema == "public":
                    note.domains[name] = spelling
            (note.before if kind in _BEFORE_TABLES else note.after).append(statement.text + ";")
        return note

    def shape(self, schema: Schema) -> Schema:
        """SCHEMA (the DBML's) with the partitioning and generated columns the note says."""
        def column(table, c):
            expression = self.generated.get((table, c.name))
            return c if expression is None else replace(c, generated=expression, default=None)

        return replace(schema, tables=[
            replace(t, partition_by=self.partition_by.get(t.qualified, t.partition_by),
                    columns=[column(t.qualified, c) for c in t.columns])
            for t in schema.tables])


def _file_text(source: Path) -> str:
    try:
        return source.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _line_in(file_text: str, line: str, shown: str) -> str:
    """`shown:N`, N the file's line holding LINE (just `shown` when it is not found)."""
    at = file_text.find(line) if line else -1
    return f"{shown}:{sql.line_of(file_text, at)}" if at >= 0 else shown


def _not_a_partitioning(by: str) -> str | None:
    """Why BY cannot follow PARTITION BY, or None."""
    try:
        statements = sql.texts(f"CREATE TABLE t (x int) PARTITION BY {by}")
    except sql.SqlSyntaxError as exc:
        return exc.message
    return None if len(statements) == 1 else "more than one statement"


# statements a table may need (a domain, a sequence, a function for a default)
_BEFORE_TABLES = {"CreateSchemaStmt", "CreateExtensionStmt", "CreateDomainStmt",
                  "CreateSeqStmt", "CreateEnumStmt", "CompositeTypeStmt", "DefineStmt",
                  "CreateFunctionStmt", "CreateRangeStmt"}


def _precheck(source: Path, shown: str, strict: bool = False) -> DbmlDocument | None:
    """The DBML file, every problem reported before any database work; None when its only
    problems are unknown type names, which may be the migrations' domains (read again
    once they are known)."""
    try:
        return load_dbml_document(source, shown=shown, strict=strict)
    except DbmlError as exc:
        # a name that is no enum nor built-in type ("App"."Short Text" too) may be a domain
        # or composite type of the note or the migrations; the second parse reports the rest
        if not all("(use a PostgreSQL type (" in problem for problem in exc.problems):
            raise
        return None


def generate_between(env: Environment, current: Schema, target: Schema, shown: str,
                     say: Callable[[str], None],
                     renames: dict[str, str] | None = None) -> Generated:
    """The verified migration(s) that turn CURRENT (a live database's schema) into TARGET
    (another's): `schema diff ENV --generate-migration`. CURRENT is rebuilt in a shadow
    first, and must come back equal, so the check runs on what the database really is.
    RENAMES: hints as diff() takes them (see `flag_hints`)."""
    with shadows_module.shadows(env, say) as shadows:
        a = shadows.create()
        old = _build(a, current, "the current database's schema")
        if not diff(current, old).empty:  # printed back differently once: settle it
            a = shadows.create()
            old = _build(a, old, "the current database's schema")
        rebuilt = diff(current, old)
        if not rebuilt.empty:
            raise OperationFailed(
                "The current database's schema cannot be rebuilt exactly in a shadow database, "
                "so a migration from it cannot be checked: " + "; ".join(
                    rebuilt.summary("current", "rebuilt")[:5]))
        return _generate(shadows, a, old, target, shown, renames or {},
                         Generated(source=shown))


def _generate(shadows, a, old: Schema, desired: Schema, shown: str, renames: dict[str, str],
              result: Generated, document: DbmlDocument | None = None,
              note: NoteSql | None = None, new: Schema | None = None) -> Generated:
    clock = Clock(result.timings)
    if new is None:  # DESIRED as PostgreSQL prints it back (NEW when already built)
        with clock("build the DBML's schema"):
            # in shadow A when it comes out exactly DESIRED (issue 17), else a build of its own
            new = derive.derived(a, old, desired, renames) if note is None else None
            if new is None:
                with shadows.scratch():  # dropped in the background once NEW is read
                    new = _settled(shadows, desired, shown, note,
                                   document.places if document else None)
    with clock("diff"):
        plan = diff(old, new, renames)
    result.plan = plan = _explicit_casts_said(
        plan, _check_casts(a.conn, old, new, renames, document.places if document else {}))
    records = _records(document, old, new, result) if document else ""
    if plan.empty and not records:
        return result
    with clock("verification"):
        try:
            result.parts = _verify(a, old, new, plan, renames, records, shown)
        except OperationFailed:
            if not a.rolling_back:
                raise
            # checked inside a kept replay's transaction (shadow.in_transaction), a change
            # may fail that its own transactions would take: again as written, committed
            a.leave()
            result.parts = _verify(a, old, new, plan, renames, records, shown)
    for change in plan.hazards():
        result.warnings.append(f"{change.name}: {change.hazard}")
    result.warnings += [w for part in result.parts for w in part.down_warnings]
    return result


def _check_casts(conn, old: Schema, new: Schema, renames: dict[str, str],
                 places: dict) -> dict[str, str]:
    """A column whose type changes to one PostgreSQL has no cast to (integer -> uuid): one
    line naming it (and its DBML line) and what to do, exit 2, rather than a migration
    that cannot run. Asked of the server (CONN, holding OLD) as `CAST(NULL::old AS new)`,
    which refuses exactly what `ALTER COLUMN ... TYPE new USING col::new` would. Returns
    the columns ('schema.table.column' -> 'old -> new') only an explicit cast converts
    (text -> integer: ALTER COLUMN ... TYPE without USING refuses them)."""
    explicit: dict[str, str] = {}
    before = {renames.get(t.qualified, t.qualified): t for t in old.tables}
    for table in new.tables:
        was = before.get(table.qualified)
        columns = {renames.get(f"{was.qualified}.{c.name}", c.name).rpartition(".")[2]: c
                   for c in was.columns} if was is not None else {}
        for column in table.columns:
            prior = columns.get(column.name)
            if prior is None or prior.type == column.type:
                continue
            try:
                with conn.transaction(force_rollback=True):
                    for enum in new.enums:  # a new enum: its stand-in, for the cast
                        if (type_key(enum.schema, enum.name) == column.type.removesuffix("[]")
                                and old.enum(enum.qualified) is None):
                            conn.execute(f"CREATE TYPE {qualified(enum.schema, enum.name)} "
                                         "AS ENUM ()")
                    conn.execute(f"SELECT CAST(NULL::{prior.type} AS {column.type})")
                    try:
                        with conn.transaction():
                            conn.execute(f"CREATE TEMPORARY TABLE nself_cast_probe "
                                         f"(c {prior.type})")
                            conn.execute(f"ALTER TABLE nself_cast_probe ALTER c TYPE "
                                         f"{column.type}")
                    except psycopg.errors.DatatypeMismatch:
                        explicit[f"{table.qualified}.{column.name}"] = \
                            f"{prior.type} -> {column.type}"
            except psycopg.errors.CannotCoerce as exc:
                place = places.get((table.schema, table.name, column.name))
                raise UsageError(
                    f"{place + ': ' if place else ''}column "
                    f"{display(table.schema, table.name)}.{column.name}: "
                    f"its type cannot change from {prior.type} to {column.type} in place "
                    f"({connection.describe_error(exc)}); nothing was written. Add a new "
                    "column of the new type, fill it with an UPDATE, then drop the old one; "
                    "or drop the column and add it again (its data is lost).") from None
            except psycopg.Error:
                continue  # a type the migration creates: the verification decides
    return explicit


def _reverse_casts(conn, after: Schema, before: Schema) -> dict[str, str]:
    """_check_casts for a DOWN (AFTER back to BEFORE, held by CONN): its columns only an
    explicit cast converts; none when one has no cast at all (the DOWN's verification says
    so)."""
    try:
        return _check_casts(conn, after, before, {}, {})
    except UsageError:
        return {}


def _explicit_casts_said(plan: Plan, explicit: dict[str, str]) -> Plan:
    """PLAN with a comment above each column type change only an explicit cast makes (the
    `USING col::type` it writes), saying that a value it cannot convert stops it."""
    if not explicit:
        return plan
    changes = []
    for change in plan.changes:
        if change.kind == "alter column" and change.name in explicit and " TYPE " in change.sql:
            change = replace(change, sql=(
                f"-- {change.name}: {explicit[change.name]} has no automatic conversion: "
                "USING converts\n-- each value by its explicit cast; a value it cannot "
                "convert stops the migration.\n"
                + change.sql))
        changes.append(change)
    return replace(plan, changes=changes)


def _settled(shadows, desired: Schema, shown: str, note: NoteSql | None = None,
             places: dict | None = None) -> Schema:
    """DESIRED as PostgreSQL prints it back, at its fixed point: an expression PostgreSQL
    reprints differently the second time (`IN (...)` on varchar becomes `= ANY (ARRAY[...])`
    with other casts) is built once more from its printed form, so what a migration
    written from it produces compares equal. Without such expressions (checks, exclusion
    constraints, expression or partial indexes, generated columns, domain checks) there is
    nothing to settle and no second build."""
    new = _build(shadows.create(), desired, shown, note, places)
    tricky = {t.qualified for t in new.tables if _has_expressions(t)}
    if not tricky and not any(d.checks for d in new.domains):
        return new
    subset = _subset(new, tricky)
    try:  # only what holds expressions, and what it needs: much less to build
        again = _build(shadows.create(), subset, shown)
    except NselfError:
        subset, again = new, _build(shadows.create(), new, shown)
    if diff(subset, again).empty:
        return new
    settled = {t.qualified: t for t in again.tables}
    tables = [_with_foreign_keys(settled[t.qualified], t) if t.qualified in settled else t
              for t in new.tables]
    return replace(new, tables=tables, domains=again.domains)


def _has_expressions(table) -> bool:
    return (any(c.kind in ("c", "x") for c in table.constraints)
            or any(c.generated for c in table.columns)
            or any(i.where or any(is_expression(x) for x in i.columns)
                   for i in table.indexes))


def _subset(schema: Schema, tricky: set[str]) -> Schema:
    """The tables named TRICKY (with their partition families), without foreign keys, and
    every type, domain, sequence and function they may use; no views, triggers, policies."""
    family = set(tricky)
    for t in schema.tables:
        if t.partition_of and (t.partition_of in tricky or t.qualified in tricky):
            family |= {t.partition_of, t.qualified}
    family |= {t.qualified for t in schema.tables if t.partition_of in family}
    tables = [replace(t, constraints=[c for c in t.constraints if c.kind != "f"])
              for t in schema.tables if t.qualified in family]
    sequences = [q if not q.owned_by or q.owned_by.rpartition(".")[0] in family
                 else replace(q, owned_by=None) for q in schema.sequences]
    return replace(schema, tables=tables, sequences=sequences,
                   definitions=[d for d in schema.definitions if d.kind == "function"])


def _with_foreign_keys(settled, original):
    """A table as the settle build printed it, with its foreign keys back."""
    return replace(settled, constraints=list(settled.constraints) + original.foreign_keys,
                   comment=original.comment)


# statements per transaction when building a shadow (one transaction for a whole schema can
# run out of the server's lock table: about 15 locks per table)
BATCH = 200


def _build(shadow, desired: Schema, shown: str, note: NoteSql | None = None,
           places: dict | None = None) -> Schema:
    """Build DESIRED (and NOTE's SQL around it) in SHADOW, in batches of statements, and
    read it back. PLACES (DbmlDocument.places): a failure names the DBML line it comes
    from."""
    conn, whole = shadow.conn, desired
    try:
        conn.execute("SET check_function_bodies = off")  # functions may precede their tables
        # the schemas first: the note's domains and functions may live in them
        for name in desired.schemas:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(name)}")
        desired = replace(desired, schemas=[])
        later = []
        for statement in note.before if note is not None else ():
            try:
                with conn.transaction():
                    conn.execute(statement)
            except psycopg.Error:
                later.append(statement)  # e.g. a function over a table: after them
        _batches(conn, [s + ";" for s in sql.texts(to_sql(desired))])
        if note is not None:
            _batches(conn, later + note.after)
    except psycopg.Error as exc:
        if (exc.sqlstate or "").startswith("53"):  # out of memory, disk, connections
            raise OperationFailed(f"The shadow database ran out of resources building "
                                  f"{shown}: {connection.describe_error(exc)}") from None
        where = locate_failure(conn, whole, places) if places else None
        raise UsageError(f"{shown} cannot be built by PostgreSQL: "
                         + (f"{where}: " if where else "")
                         + connection.describe_error(exc)) from None
    return introspect(shadow.conn)


def _batches(conn, statements: list[str]) -> None:
    for start in range(0, len(statements), BATCH):
        with conn.transaction():
            conn.execute("\n".join(statements[start:start + BATCH]))


def _records(document: DbmlDocument, old: Schema, new: Schema, result: Generated) -> str:
    """INSERTs for the Records of tables this migration creates, in foreign-key order."""
    statements = []
    order = {t.qualified: i for i, t in enumerate(_fk_order(new))}
    for table, (columns, rows) in sorted(document.records.items(),
                                         key=lambda item: order.get(item[0], 0)):
        if old.table(table) is not None:
            result.notes.append(f"Records of {table} not written: the table already exists "
                                "(put such rows in a seed file)")
            continue
        schema, _, name = table.partition(".")
        cols = ", ".join(ident(c) for c in columns)
        values = ",\n  ".join("(" + ", ".join(v.sql for v in row) + ")" for row in rows)
        if values:
            statements.append(f"INSERT INTO {qualified(schema, name)} ({cols}) VALUES\n"
                              f"  {values};")
    return "\n".join(statements)


def _fk_order(schema: Schema):
    tables = {t.qualified: t for t in schema.tables}
    done: list = []
    seen: set[str] = set()

    def visit(name: str, path: set[str]) -> None:
        if name in seen or name in path or name not in tables:
            return
        path.add(name)
        for fk in tables[name].foreign_keys:
            visit(fk.ref_qualified, path)
        seen.add(name)
        done.append(tables[name])

    for name in sorted(tables):
        visit(name, set())
    return done


def _verify(a, old: Schema, new: Schema, plan: Plan, renames: dict[str, str],
            records: str, shown: str = "") -> list[Part]:
    """Apply each part's UP to shadow A (which holds OLD), derive its DOWN from the schemas
    before and after it, then check UP reaches NEW and the DOWNs lead back to OLD. Records
    the server refuses ('abc' for an integer) are the file's problem, exit 2."""
    groups = safe.safe_parts([(g.sql(), g.autocommit) for g in plan.groups()],
                             lambda name: _plain(old, name))
    last_tx = max((i for i, (_, autocommit) in enumerate(groups) if not autocommit),
                  default=None)
    ups, schema_of = [], {}
    for i, (text, autocommit) in enumerate(groups):
        if records and i == last_tx:
            schema_of[i] = text
            text += "\n-- Data from the DBML file's Records\n" + records + "\n"
        ups.append((text, autocommit))
    if not groups:  # only Records (tables equal, e.g. created empty by an earlier run)
        schema_of[0] = ""
        ups.append(("-- Data from the DBML file's Records\n" + records + "\n", False))
    models = [old]
    inverse = invert_renames(renames)
    for i, (text, autocommit) in enumerate(ups):
        try:
            _apply(a, text, autocommit, "UP", text)
        except OperationFailed:
            why = _records_refused(a, schema_of[i], records) if i in schema_of else None
            if why:
                raise UsageError(f"{shown}: its Records cannot be inserted: {why}; nothing "
                                 "was written.") from None
            raise
        models.append(introspect(a.conn))
    left = diff(models[-1], new)
    if not left.empty:
        _failed("after UP the schema still differs from the DBML's", left, ups)
    parts = []
    for i, (text, autocommit) in enumerate(ups):
        # a part's DOWN undoes only that part: the schema after it back to the one before
        down = diff(models[i + 1], models[i], _applicable(inverse, models[i + 1], models[i]))
        down = _explicit_casts_said(down, _reverse_casts(a.conn, models[i + 1], models[i]))
        parts.append(Part(text, safe.down_of(text, down.up_sql()), autocommit, [
            f"DOWN: {c.name}: {c.hazard}" for c in down.hazards() if c.hazard == NEEDS_A_VALUE]))
    for i in reversed(range(len(parts))):
        _apply(a, parts[i].down, parts[i].autocommit, "DOWN", parts[i].down)
        back = diff(introspect(a.conn), models[i])
        if not back.empty:
            _failed("DOWN does not return to the schema before it", back,
                    [(parts[i].up, False), (parts[i].down, False)])
    return parts


def _plain(schema: Schema, name: str) -> bool:
    """Whether table `name` of `schema` is neither partitioned nor a partition (or is not
    there): the safe forms' CONCURRENTLY and NOT VALID apply to it."""
    table = schema.table(name)
    return table is None or not (table.partition_by or table.partition_of)


def _records_refused(shadow, schema_sql: str, records: str) -> str | None:
    """Why the server refuses RECORDS once SCHEMA_SQL ran (None when SCHEMA_SQL fails, or
    they go in); nothing stays: all of it is rolled back."""
    conn, why = shadow.conn, None
    try:
        with conn.transaction():
            if schema_sql.strip():
                conn.execute(schema_sql)
            try:
                with conn.transaction():
                    conn.execute(records)
            except psycopg.Error as exc:
                why = connection.describe_error(exc)
            raise psycopg.Rollback()
    except psycopg.Error:
        return None
    return why


def _applicable(hints: dict[str, str], old: Schema, new: Schema) -> dict[str, str]:
    """The rename hints that one part's diff can use: their source only in OLD, their
    target only in NEW."""
    kept = {}
    for source, target in hints.items():
        if source.count(".") == 1:
            if old.table(source) and new.table(target) and not old.table(target):
                kept[source] = target
            continue
        table, _, column = source.rpartition(".")
        new_column = target.rpartition(".")[2]
        before = old.table(table)
        after = new.table(target.rpartition(".")[0]) or new.table(table)
        if (before and before.column(column) and after and after.column(new_column)
                and not after.column(column) and not before.column(new_column)):
            kept[source] = target
    return kept


def _apply(shadow, text: str, autocommit: bool, which: str, shown: str) -> None:
    if not text.strip():
        return
    try:
        if autocommit and shadow.rolling_back:  # a kept replay: undone at the end
            with shadow.conn.transaction():
                for statement in sql.texts(text):
                    shadow.conn.execute(shadows_module.in_transaction(statement))
        elif autocommit:
            for statement in sql.texts(text):
                shadow.conn.execute(statement)
        else:
            with shadow.conn.transaction():
                shadow.conn.execute(text)
    except psycopg.Error as exc:
        raise OperationFailed(
            f"The generated migration failed its check on the shadow database ({which}: "
            f"{connection.describe_error(exc)}); nothing was written. This is a bug in nself; "
            f"the SQL was:\n{shown}") from None


def _failed(what: str, rest: Plan, ups: list[tuple[str, bool]]) -> None:
    shown = "\n".join(rest.summary("generated", "DBML"))
    sql = "\n".join(text for text, _ in ups)
    raise OperationFailed(f"The generated migration failed its check on the shadow database: "
                          f"{what}:\n{shown}\nNothing was written. This is a bug in nself; "
                          f"the SQL was:\n{sql}")


# ------------------------------------------------------------------------- one at a time

# seconds another import may hold the lock before this one gives up: its shadow replay and
# checks take a while on a long migrations folder
IMPORT_LOCK_TIMEOUT = 300.0
_held: dict[Path, int] = {}  # lock file -> how deep this process holds it


@contextmanager
def exclusive(env: Environment, say: Callable[[str], None],
              timeout: float = IMPORT_LOCK_TIMEOUT) -> Iterator[None]:
    """The project's one schema-import lock (a file lock in the state folder), held for the
    block: from reading the migrations folder until the migration is written (and applied),
    so two imports at once never write the same change twice; the second then sees the
    first's migration. Re-entrant in one process; LockTimeout naming the holder after
    TIMEOUT seconds."""
    path = env.state_dir / "schema-import.lock"
    if _held.get(path):
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"Cannot open the schema import lock {env.relative(path)}: "
                         f"{exc.strerror or exc}.") from None
    with handle:
        _wait_for(handle, path, env, say, timeout)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {datetime.now():%Y-%m-%d %H:%M:%S}\n")
            handle.flush()
            _held[path] = 1
            yield
        finally:
            _held.pop(path, None)
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _wait_for(handle, path: Path, env: Environment, say: Callable[[str], None],
              timeout: float) -> None:
    deadline = time.monotonic() + max(timeout, 0)
    delay, told = 0.05, False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        if time.monotonic() >= deadline:
            raise LockTimeout(
                f"Another `schema import` ({holder}) still holds {env.relative(path)} after "
                f"{timeout:g} s; nothing was written. Wait for it to finish, then run this "
                "import again.")
        if not told:
            say(f"Waiting for another `schema import` ({holder}) to finish writing its "
                "migration...")
            told = True
        time.sleep(min(delay, max(deadline - time.monotonic(), 0.01)))
        delay = min(delay * 2, 0.5)


# ------------------------------------------------------------------------------- write

def changes_summary(plan: Plan) -> list[str]:
    """The plan's differences from the DBML's side: '+ Table: posts (new)',
    '- Column: users.age (dropped)', '~ Column: users.email (different type)'."""
    lines = []
    for d in plan.differences:
        sign, why = {"-": ("+", "new"), "+": ("-", "dropped")}.get(d.sign, ("~", d.detail))
        lines.append(f"{sign} {d.what}: {d.name} ({why})")
    return lines


def default_name(plan: Plan) -> str:
    """A name from what the plan does: add_posts_table for one new table, else
    update_schema."""
    created = [c.name for c in plan.changes if c.kind == "create table"]
    if created and len(created) == 1 and all(
            c.kind in ("create table", "create index", "add foreign key", "comment")
            or c.name.startswith(created[0]) for c in plan.changes):
        name = re.sub(r"\W+", "_", created[0].rpartition(".")[2]).strip("_").lower()
        if name and re.match(files.NAME, f"add_{name}_table"):
            return f"add_{name}_table"
    return "update_schema"


def write(env: Environment, generated: Generated, name: str | None,
          now: datetime | None = None, description: str | None = None) -> list[str]:
    """Write the parts as the next migration files (a no-transaction part gets its own file
    and the directive), under the import lock (`exclusive`, which `schema import` holds
    already from before it read the folder); returns their paths relative to the project
    root."""
    env.require_project()
    with exclusive(env, lambda text: None):
        return _write(env, generated, name, now, description)


def _write(env: Environment, generated: Generated, name: str | None,
           now: datetime | None, description: str | None) -> list[str]:
    folder = env.migrations_dir
    name = name or default_name(generated.plan)
    now = now or datetime.now(timezone.utc)
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove_leftovers(folder)
        # the lint errors the safe forms leave (drops and changes the source asks for)
        project = lint.Project(folder, env.root, lock_timeout_ms=Settings.from_env(env)
                               .lock_timeout_ms, pending=True)
        for i, part in enumerate(generated.parts):
            part_name = name if i == 0 else f"{name}_{i + 1}"
            path = files.next_file(folder, part_name, now)
            allowed = safe.acknowledgements(path, part.up, part.autocommit, project,
                                            generated.source)
            text = render(path, description or f"Generated from {generated.source} by nself "
                                               "db schema import", part, now,
                          generated.declared, generated.mapped, allowed)
            _create(path, text)
            written.append(path)
    except FileExistsError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        taken = exc.filename2 or exc.filename  # os.link names the temporary file first
        raise UsageError(f"{env.relative(Path(taken))} already exists; nothing was "
                         "written.") from None
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return [env.relative(p) for p in written]


# .NAME.sql.PID.RANDOM.tmp (and .NAME.sql.PID.tmp, as earlier versions named them)
_TEMP_PID = re.compile(r"\.sql\.(\d+)(?:\.[^.]+)?\.tmp$")


def _remove_leftovers(folder: Path) -> None:
    """The temporary files of writers that were killed (their process is gone)."""
    for path in folder.glob(".*.sql.*.tmp"):
        found = _TEMP_PID.search(path.name)
        if not found:
            continue
        pid = found.group(1)
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (PermissionError, OverflowError, ValueError):
            pass


def _create(path: Path, text: str) -> None:
    """PATH with TEXT, complete or not at all (a kill leaves no half-written migration):
    written beside it under a name the migrations folder ignores and no other writer uses,
    then linked to PATH (FileExistsError naming PATH when PATH exists)."""
    # pid for _remove_leftovers, a random part so that no two writers ever share a name;
    # not mkstemp, whose 0600 would stay on the migration: its mode is the umask's, as any
    # new file's (`migrate create`'s), readable by the team's other users and CI
    temp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        userfile.write_synced(fd, text)
        os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def render(path: Path, description: str, part: Part, now: datetime,
           declared_by: declared.Declared | None = None, mapped: list[str] = (),
           allowed: list[str] = ()) -> str:
    ident_ = path.name.removesuffix(".sql")
    lines = [f"-- Migration: {ident_}", f"-- Created: {now:%Y-%m-%d}",
             f"-- Description: {description}"]
    if allowed:
        lines.append("-- What lint reports and this change cannot avoid (`nself db migrate "
                     "lint` explains each):")
        lines += allowed
    if mapped:
        lines.append("-- Type names of other databases in the DBML, read as PostgreSQL's:")
        lines += [f"--   {line}" for line in mapped]
    if declared_by is not None:
        lines.append("-- What the DBML declared at this import (the next import drops only "
                     "what it declared and no longer does):")
        lines += declared_by.lines()
    if part.autocommit:
        lines.append(files.DIRECTIVE)
    lines.append("")
    lines += ["-- UP", part.up.rstrip("\n"), "", "-- DOWN", part.down.rstrip("\n"), ""]
    return "\n".join(lines)


def migration_sql(generated: Generated) -> str:
    """The UP and DOWN of every part, as --dry-run prints it."""
    blocks = []
    for i, part in enumerate(generated.parts, 1):
        head = f"-- Part {i} of {len(generated.parts)}" if len(generated.parts) > 1 else ""
        if part.autocommit:
            head += ("\n" if head else "") + files.DIRECTIVE
        blocks.append((head + "\n" if head else "") + "-- UP\n" + part.up.rstrip("\n")
                      + "\n\n-- DOWN\n" + part.down.rstrip("\n") + "\n")
    return "\n".join(blocks)


# --- --apply: `migrate up` to what this import (or a killed earlier one) wrote -------------

APPLY_LOCK_TIMEOUT = 60.0  # seconds, as `migrate up` waits by default


def apply(env: Environment, guard, version: str | None, say: Callable[[str], None],
          notice, warn) -> list[str]:
    """Apply, through `migrate up` under its lock and guard, the migrations up to VERSION
    (the newest file this import wrote); without VERSION, the pending migrations an earlier
    `schema import` wrote (one killed between writing and applying; said first). Returns
    the ids applied."""
    env.require_project()
    with session(env, APPLY_LOCK_TIMEOUT, guard, say, notice, warn) as runner:
        if version is None:
            pending = [s for s in runner.states() if s.status == PENDING
                       and s.migration is not None
                       and declared.Declared.parse(s.migration.text) is not None]
            if not pending:
                return []
            say(f"Applying {len(pending)} pending migration{'s' if len(pending) != 1 else ''} "
                "written by an earlier schema import: " + ", ".join(s.id for s in pending))
            version = pending[-1].migration.label
        return [entry.id for entry, _ in runner.up(to=version)]
