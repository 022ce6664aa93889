"""What a run will do, decided and checked before anything is sent, without a connection.

`check_folder` refuses a folder nself cannot run whole (bad bytes, markers, dependencies);
`plan_up`/`plan_down` pick the migrations; `prepare` turns a section into what the engine
sends: one body for a transaction (top-level BEGIN/COMMIT blanked), or the statements of
a `-- nself:no-transaction` migration, each classified by `nself.sql` (`destroyed` says
what a run destroys). The lint and import commands reuse these checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from nself.errors import DifferencesFound, OperationFailed, UsageError
from nself.migrations import files
from nself.migrations.files import DIRECTIVE, Migration, Section, Statement
from nself.migrations.status import APPLIED, CHANGED, MISSING, PENDING, MigrationState

STRIPPED_TRANSACTION = {"TransactionStmt:TRANS_STMT_BEGIN", "TransactionStmt:TRANS_STMT_START",
                        "TransactionStmt:TRANS_STMT_COMMIT"}
ALLOWED_TRANSACTION = {"TransactionStmt:TRANS_STMT_SAVEPOINT", "TransactionStmt:TRANS_STMT_RELEASE",
                       "TransactionStmt:TRANS_STMT_ROLLBACK_TO"}
# ALTER TYPE ... ADD VALUE runs in a transaction block from PostgreSQL 12 on.
ENUM_IN_TRANSACTION = 120000


@dataclass
class Prepared:
    """A section ready to run: the SQL to send, or its statements for no-transaction mode."""

    migration: Migration
    section: Section
    body: str = ""
    statements: list[Statement] = field(default_factory=list)
    no_transaction: bool = False

    @property
    def text(self) -> str:
        """The SQL as it will run (for --dry-run)."""
        if not self.no_transaction:
            return self.body.strip("\n")
        return ";\n".join(s.text for s in self.statements) + ";"

    @property
    def adds_enum_value(self) -> bool:
        """Whether it adds an enum value (usable only once its transaction committed)."""
        return any(st.adds_enum_value for st in self.statements)

    @property
    def sets_session(self) -> bool:
        """Whether it may leave a session setting changed (SET, set_config(), DO)."""
        return any(st.sets_session for st in self.statements)

    def destroys(self, column_type: ColumnType | None = None) -> list[str]:
        """What its statements destroy, one `file line N: STATEMENT` each; a column type
        change counts unless `column_type` (schema, table, column -> the type it has now,
        None when unknown) shows that the new type holds every old value."""
        where = self.migration.relpath or self.migration.filename
        found = []
        for st in self.statements:
            if st.destroys:
                found.append(f"{where} line {st.line}: {st.destroys}")
            for change in st.type_changes:
                old = column_type(change.schema, change.table, change.column) \
                    if column_type else None
                if change.loses_data(old):
                    was = f" (from {old})" if old else " (from a type not known yet)"
                    found.append(f"{where} line {st.line}: {change}{was}, which can change "
                                 "or lose values")
        return found


# (schema, table, column) -> the column's type as format_type() writes it, None if unknown
ColumnType = Callable[[str, str, str], "str | None"]


def destroyed(prepared: list[Prepared],
              columns: Callable[[str], dict[str, str]] | None = None) -> list[str]:
    """What the statements of `prepared` destroy, in order, one `file line N: STATEMENT`
    each. `columns` (a table's name, quoted and qualified as written -> its column types,
    `nself.pg.catalog.columns`) tells the column types now, so that a widening type change
    (integer -> bigint, varchar(n) -> text) does not count."""
    tables: dict[tuple[str, str], dict[str, str]] = {}

    def column_type(schema: str, table: str, column: str) -> str | None:
        if columns is None:
            return None
        if (schema, table) not in tables:
            name = ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table)
                            if part)
            tables[schema, table] = columns(name)
        return tables[schema, table].get(column)

    return [line for prep in prepared for line in prep.destroys(column_type)]


def check_folder(migrations: list[Migration]) -> None:
    """Every file is UTF-8 text without NUL bytes, with well-formed markers and dependencies:
    a folder is refused whole, before anything is written."""
    for m in migrations:
        m.sections  # noqa: B018 - reading them is the check
    files.check_dependencies(migrations)


def parse_version(text: str) -> int:
    """The version a `--to` value or a repair argument names (`003`, `003_name`)."""
    head = str(text).split("_", 1)[0]
    if not head.isdigit():
        raise UsageError(f"{text!r} is not a migration version (e.g. 003 or 20260123101500).")
    return int(head)


def plan_up(states: list[MigrationState], steps: int | None, to: str | None
            ) -> list[MigrationState]:
    """The pending migrations `up` would apply, after refusing Changed/Missing history."""
    broken = [e for e in states if e.status in (CHANGED, MISSING)]
    if broken:
        listed = ", ".join(f"{e.id} ({e.status.lower()})" for e in broken)
        # exit 6 (differences), not 3: --yes would not help, the files must match
        raise DifferencesFound(
            f"Refusing to migrate: applied migrations no longer match their files: {listed}. "
            "Restore the file(s) as they were applied (git checkout), or run `nself db "
            "migrate repair` to accept the edits and forget missing ones."
        )
    pending = [e for e in states if e.status == PENDING]
    if to is not None:
        version = parse_version(to)
        if not any(e.version == version for e in states):
            raise UsageError(f"--to {to}: no migration has version {to}.")
        pending = [e for e in pending if e.version <= version]
    if steps is not None:
        if steps < 0:
            raise UsageError("--steps must be a positive number.")
        pending = pending[:steps]
    return pending


def prepare_up(pending: list[MigrationState]) -> list[Prepared]:
    """Each pending migration's UP, checked (an empty UP is refused, naming the file)."""
    prepared = []
    for e in pending:
        m = e.migration
        m.check_runnable()
        prepared.append(prepare(m, m.up, m.no_transaction, strict=True))
    return prepared


def plan_down(states: list[MigrationState], steps: int | None, to: str | None
              ) -> list[MigrationState]:
    """The applied migrations `down` would roll back, newest first."""
    applied = sorted((e for e in states if e.row is not None), key=lambda e: e.version,
                     reverse=True)
    if to is not None:
        version = parse_version(to)
        if version != 0 and not any(e.version == version for e in applied):
            raise UsageError(f"--to {to}: no applied migration has version {to} "
                             "(use --to 0 to roll back everything).")
        return [e for e in applied if e.version > version]
    count = 1 if steps is None else steps
    if count < 0:
        raise UsageError("--steps must be a positive number.")
    return applied[:count]


def prepare_down(state: MigrationState, stored: str | None, no_transaction: bool) -> Prepared:
    """The DOWN stored when `state` was applied, ready to run; refused when there is none."""
    text = stored or ""
    section = Section(text, 1)
    if section.empty:
        raise OperationFailed(
            f"{state.id} has no DOWN SQL, so it cannot be rolled back; nothing was rolled "
            "back. Undo it by hand, then run `nself db migrate repair --mark-pending "
            f"{state.label}`.")
    stand_in = Migration(state.version, state.label, state.name, f"{state.id}.sql",
                         text.encode(), relpath=f"{state.id} (stored DOWN)")
    return prepare(stand_in, section, no_transaction)


def prepare(migration: Migration, section: Section, no_transaction: bool,
            strict: bool = False) -> Prepared:
    """Check a section before anything runs and turn it into what will be sent.

    Top-level BEGIN/COMMIT are blanked out (keeping every line in place) so the migration
    runs inside nself's own transaction, atomic with its tracking row. `strict` (files about
    to be applied) also refuses what a resumed no-transaction run could not check.
    """
    if no_transaction:
        statements = files.split(section, migration, parse=True)
        for st in statements:
            if st.kind.startswith("TransactionStmt"):
                raise migration.error(st.line, f"{st.text.split()[0].upper()} in a "
                                      f"no-transaction migration: nself runs each statement "
                                      f"in its own transaction (or outside one when it must); "
                                      f"remove the transaction control lines")
            if strict and st.no_transaction == "CREATE INDEX CONCURRENTLY" and not st.target:
                raise migration.error(st.line, "CREATE INDEX CONCURRENTLY without an index "
                                      "name: name it (CREATE INDEX CONCURRENTLY name ON ...) so "
                                      "that a run resumed after an interruption can tell from "
                                      "the catalog whether it was built")
        return Prepared(migration, section, statements=statements, no_transaction=True)
    text = section.text
    statements = files.split(section, migration)
    if not any(st.kind for st in statements):
        return Prepared(migration, section, body=text, statements=statements)
    pieces, done = [], 0
    for st in statements:
        if st.no_transaction:
            raise migration.error(
                st.line, f"{st.no_transaction} cannot run inside a transaction. Put "
                f"`{DIRECTIVE}` on a line of its own above `-- UP` to run this migration "
                "statement by statement (move the other statements to a migration of their "
                "own if they must stay atomic)")
        if st.kind in STRIPPED_TRANSACTION:
            # blanks, keeping every line break (and so every line number) in place
            pieces += [text[done:st.start], re.sub(r"[^\r\n]", " ", text[st.start:st.end])]
            done = st.end
        elif st.kind.startswith("TransactionStmt") and st.kind not in ALLOWED_TRANSACTION:
            raise migration.error(st.line, f"{st.text.split()[0].upper()} at the top level of a "
                                  "migration: nself runs each migration in its own transaction; "
                                  "remove it")
    pieces.append(text[done:])
    return Prepared(migration, section, body="".join(pieces), statements=statements)


def needs_autocommit(st: Statement, server_version: int) -> bool:
    """Whether statement `st` of a no-transaction migration must run outside a transaction."""
    return bool(st.no_transaction) or (st.kind == "AlterEnumStmt"
                                       and server_version < ENUM_IN_TRANSACTION)


def newest_applied(states: list[MigrationState]) -> int | None:
    return max((e.version for e in states if e.status == APPLIED), default=None)
