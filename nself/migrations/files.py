"""Migration files: names, order, checksums, sections, and statements with their lines.

Reading a folder costs one read and one hash per file; sections are split by
their marker lines only when a migration is about to run; `nself.sql` cuts a
section into statements and classifies them.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

from nself import sql, userfile
from nself.errors import OperationFailed, UsageError
from nself.sql import LINE_BREAK, Statement, line_of

__all__ = ["LINE_BREAK", "Statement", "line_of"]  # where seeds and the engine find them

# Patterns are compiled on first use (re caches them): `status` needs only FILENAME.
# Names of files written elsewhere often hold dashes or dots (`002_add-index.sql`): accept
# them when reading; `create` still writes simple identifiers (NAME).
FILENAME = re.compile(r"^(\d+)_([\w.-]+)\.sql$")
NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
TIMESTAMP_DIGITS = 14
UP_MARKER = r"(?i)^--\s*UP\s*$"
DOWN_MARKER = r"(?i)^--\s*DOWN\s*$"
DEPENDS_ON = r"(?i)^--\s*depends_on\s*:\s*(\S+)\s*$"
NO_TRANSACTION = r"(?i)^--\s*nself:no-transaction\s*$"
DIRECTIVE = "-- nself:no-transaction"
META_COMMAND = r"^\s*\\[A-Za-z!?]"
# pg_dump (18, and the 13-17 releases of August 2025 on) wraps its SQL output in
# `\restrict KEY` ... `\unrestrict KEY`: guards for psql only. A baseline migration pasted
# from pg_dump carries them; they are blanked (line numbers kept), not refused.
RESTRICT_MARKER = r"^\s*\\(un)?restrict(\s|$)"
COPY_DATA_END = r"^\\\.\s*$"  # the `\.` that ends psql's inline COPY ... FROM stdin data
BIGINT_MAX = 2**63 - 1  # versions are stored as bigint


def needs_parsing(text: str) -> bool:
    """Whether `text` might hold a statement whose kind matters (transaction control,
    CONCURRENTLY, VACUUM, a DROP, ...): see `nself.sql.TREE_WORDS`."""
    return bool(sql.word_hits(text))


class MigrationFileError(UsageError):
    """A migration file (or the folder) is malformed; names the file and line."""


class SqlSyntaxFailure(OperationFailed):
    """PostgreSQL's parser refuses a statement: the same failure (exit 1) as when the
    server refuses it, found before anything is sent."""


def normalise(raw: bytes) -> bytes:
    """The bytes whose checksum identifies a migration: no UTF-8 BOM, LF line endings.

    Done on bytes, so `status` hashes files without decoding them.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return raw


def checksum(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Section:
    """The UP or DOWN part of a file; `line` is the file line of its first text line."""

    text: str
    line: int

    @property
    def empty(self) -> bool:
        return not any(s.strip() and not s.strip().startswith("--")
                       for s in self.text.splitlines())


@dataclass(frozen=True)
class Sections:
    """What a file's marker and directive lines say: its UP and DOWN, and its header."""

    up: Section
    down: Section | None
    depends_on: str | None
    depends_on_line: int
    no_transaction: bool


@dataclass
class Migration:
    """One file of the migrations folder."""

    version: int
    label: str      # the version as written in the file name ("001")
    name: str
    filename: str
    data: bytes     # normalised (see `normalise`): what the checksum covers
    relpath: str = ""  # for messages: the path from the project root
    # the bytes as read: the SQL sent is exactly these (a CR inside a string literal is
    # data), only the checksum ignores line endings
    raw: bytes | None = None

    @property
    def id(self) -> str:
        return f"{self.label}_{self.name}"

    @cached_property
    def text(self) -> str:
        data = self.data if self.raw is None else self.raw.removeprefix(b"\xef\xbb\xbf")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            # Replacing bad bytes would change the SQL (and its data) without a word.
            line = line_of(data[:exc.start].decode("latin-1"), exc.start)
            raise self.error(line, f"not UTF-8 text (byte 0x{data[exc.start]:02x}): save "
                                   "the file as UTF-8") from None
        nul = text.find("\0")
        if nul >= 0:
            # libpq sends a query as a C string: it would end at the NUL, silently.
            raise self.error(line_of(text, nul),
                             "a NUL byte (\\x00): PostgreSQL cannot receive it in SQL text; "
                             "remove it (write binary data as an escaped literal, e.g. "
                             "'\\x00'::bytea)")
        return text

    @cached_property
    def checksum(self) -> str:
        return checksum(self.data)

    @cached_property
    def sections(self) -> Sections:
        """The file's sections and directives; raises `MigrationFileError` when malformed."""
        up_at = down_at = None
        depends, depends_line, no_tx = None, 0, False
        parts = LINE_BREAK.split(self.text)
        lines, breaks = parts[0::2], parts[1::2] + [""]
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            if not stripped.startswith("--"):
                continue
            if re.match(UP_MARKER, stripped):
                if up_at is not None:
                    raise self.error(number, "a second `-- UP` marker")
                up_at = number
            elif re.match(DOWN_MARKER, stripped):
                if down_at is not None:
                    raise self.error(number, "a second `-- DOWN` marker")
                if up_at is None:
                    raise self.error(number, "`-- DOWN` comes before `-- UP`")
                down_at = number
            elif up_at is None and (m := re.match(DEPENDS_ON, stripped)):
                depends, depends_line = m.group(1), number
            elif up_at is None and re.match(NO_TRANSACTION, stripped):
                no_tx = True
        if up_at is None:
            raise self.error(1, "no `-- UP` marker: put the SQL to apply under a line `-- UP` "
                                "(and the SQL that undoes it under `-- DOWN`)")
        end = down_at - 1 if down_at else len(lines)
        # psql's meta-commands, `\restrict` and `\.` all hold a backslash: most files have none
        backslash = "\\" in self.text
        if backslash:
            lines = ["" if re.match(RESTRICT_MARKER, line) else line for line in lines]

        def joined(first: int, last: int) -> str:
            # the lines with their own line breaks (CRLF stays CRLF), none after the last
            return "".join(lines[i] + (breaks[i] if i < last - 1 else "")
                           for i in range(first, last))

        up = Section(joined(up_at, end), up_at + 1)
        down = Section(joined(down_at, len(lines)), down_at + 1) if down_at else None
        for section in (up, down):
            if section is None or not backslash:
                continue
            for offset, line in enumerate(LINE_BREAK.split(section.text)[0::2]):
                if re.match(COPY_DATA_END, line):
                    raise self.error(section.line + offset,
                                     "inline `COPY ... FROM stdin` data (ended by `\\.`) is a "
                                     "psql feature; nself sends SQL to the server: write the rows "
                                     "as INSERT statements, or load them with `nself db shell -f`")
                if re.match(META_COMMAND, line):
                    raise self.error(section.line + offset,
                                     f"psql meta-command `{line.strip().split()[0]}`: nself runs "
                                     "SQL only; put the SQL itself in the file")
        return Sections(up, down, depends, depends_line, no_tx)

    @property
    def up(self) -> Section:
        return self.sections.up

    @property
    def down(self) -> Section | None:
        return self.sections.down

    @property
    def depends_on(self) -> str | None:
        return self.sections.depends_on

    @property
    def no_transaction(self) -> bool:
        return self.sections.no_transaction

    def check_runnable(self) -> None:
        """Raise `MigrationFileError` unless `up` could run this file: well-formed sections
        and a non-empty UP."""
        if self.up.empty:
            raise self.error(self.up.line - 1, "the UP section is empty (the `create` template "
                             "as written?): write the SQL to apply under `-- UP`, or delete "
                             "the file")

    def error(self, line: int, what: str) -> MigrationFileError:
        return MigrationFileError(f"{self.where(line)}: {what}.")

    def where(self, line: int) -> str:
        return f"{self.relpath}:{line}"


def read_folder(folder: Path, root: Path | None = None) -> list[Migration]:
    """Every migration file in `folder`, ordered by version; a name, version or file nself
    cannot use is an error naming it (never skipped silently)."""
    found: list[Migration] = []
    base = str(folder)
    shown_folder = _shown(folder, root)
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise MigrationFileError(f"Cannot read the migrations folder {shown_folder}/: "
                                 f"{exc.strerror}.") from None
    for filename in names:
        if not filename.endswith(".sql"):
            if filename.lower().endswith(".sql"):
                raise MigrationFileError(
                    f"{shown_folder}/{filename}: the extension must be `.sql` in lower case "
                    f"(nself would not see this file): rename it to "
                    f"{filename[:-4]}.sql.")
            continue
        match = FILENAME.match(filename)
        shown = f"{shown_folder}/{filename}"
        if not match:
            raise MigrationFileError(
                f"{shown}: not a migration file name: use NNN_name.sql or "
                "YYYYMMDDHHMMSS_name.sql (letters, digits, _ . and -)."
            )
        version = int(match.group(1))
        if version > BIGINT_MAX:
            raise MigrationFileError(
                f"{shown}: version {match.group(1)} is too large (at most {BIGINT_MAX}, the "
                "largest bigint): rename the file with a smaller number, e.g. a "
                "YYYYMMDDHHMMSS timestamp.")
        raw = _read(os.path.join(base, filename), shown)
        found.append(Migration(version, match.group(1), match.group(2), filename,
                               normalise(raw), shown, raw))
    found.sort(key=lambda m: (m.version, m.filename))
    for before, after in zip(found, found[1:], strict=False):
        if before.version == after.version:
            raise MigrationFileError(
                f"{after.relpath}:1: version {after.label} is also used by {before.filename}; "
                "every migration needs its own version: rename one of them."
            )
    return found


def _read(path: str, shown: str) -> bytes:
    """The bytes of the regular file `path`; anything else (a FIFO, a device, a folder, a
    file over `userfile.SQL_LIMIT`) is refused without waiting on it."""
    return userfile.read_bytes(path, "a migration", userfile.SQL_LIMIT, shown=shown,
                               error=MigrationFileError)


def _shown(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root))
        except ValueError:
            pass
    return str(path)


def check_dependencies(migrations: Iterable[Migration],
                       checked: Iterable[Migration] | None = None) -> None:
    """Every `-- depends_on:` (of `checked`, default all) names an existing, earlier
    migration of `migrations`."""
    migrations = list(migrations)
    by_version = {m.version: m for m in migrations}
    for m in migrations if checked is None else checked:
        target = m.depends_on
        if target is None:
            continue
        line = m.sections.depends_on_line
        match = re.match(r"^(\d+)(?:_([\w.-]+?))?(?:\.sql)?$", target)
        if not match:
            raise m.error(line, f"depends_on {target!r} is not a migration version "
                                "(write `-- depends_on: 001` or `-- depends_on: 001_create_users`)")
        other = by_version.get(int(match.group(1)))
        if other is None or (match.group(2) and match.group(2) != other.name):
            raise m.error(line, f"depends_on {target}: no such migration in the folder")
        if other.version >= m.version:
            raise m.error(line, f"depends_on {target}: that migration is not earlier than this "
                                "one; a migration can only depend on an earlier version")


# Statements ------------------------------------------------------------------------------


def split(section: Section, migration: Migration, parse: bool = False) -> list[Statement]:
    """The statements of `section`, with file lines, classified from their parse trees
    (`parse`: every statement's tree, as a no-transaction migration needs every kind)."""
    try:
        return sql.split(section.text, section.line, parse)
    except sql.SqlSyntaxError as exc:
        raise syntax_error(section, migration, exc) from None


def syntax_error(section: Section, migration: Migration, exc: sql.SqlSyntaxError
                 ) -> SqlSyntaxFailure:
    """PostgreSQL's parse error of `section` as one line naming the file and line."""
    line = section.line + line_of(section.text, exc.offset) - 1
    where = migration.relpath or migration.filename
    # worded as when the server refuses it; a seed file's stand-in has no version
    failed = (f"{migration.id} failed at {where} line {line}" if migration.label
              else f"{where} failed at line {line}")
    return SqlSyntaxFailure(f"{failed}: {exc.message}. Nothing was sent to the server.")


def locate(section: Section, index: int, position: int | None = None) -> int:
    """The file line of statement number `index` of `section` (0-based), or of the syntax
    error pglast finds, or of character `position` when the statement is unknown."""
    text = section.text
    try:
        spans = sql.slices(text)
    except sql.SqlSyntaxError as exc:
        return section.line + line_of(text, exc.offset) - 1
    if 0 <= index < len(spans):
        return section.line + line_of(text, spans[index][0]) - 1
    if position is not None and 0 <= position <= len(text):
        return section.line + line_of(text, position) - 1
    return section.line


# Creating files ---------------------------------------------------------------------------

TEMPLATE = """\
-- Migration: {id}
-- Created: {date}
-- Description: {description}

-- UP


-- DOWN

"""


def next_file(folder: Path, name: str, now: datetime | None = None) -> Path:
    """The path for a new migration `name`, numbered like the folder's newest file."""
    if not re.match(NAME, name):
        raise UsageError(
            f"Migration name {name!r} is not a simple identifier: use letters, digits and "
            "underscores, starting with a letter (e.g. add_user_indexes)."
        )
    now = now or datetime.now(timezone.utc)
    existing = [(int(m.group(1)), m.group(1)) for p in (folder.iterdir() if folder.is_dir() else ())
                if (m := FILENAME.match(p.name))]
    newest = max(existing, default=None)
    if newest and len(newest[1]) == TIMESTAMP_DIGITS:
        version = max(int(now.strftime("%Y%m%d%H%M%S")), newest[0] + 1)
        label = str(version)
    else:
        width = len(newest[1]) if newest else 3
        label = str((newest[0] if newest else 0) + 1).zfill(width)
    return folder / f"{label}_{name}.sql"


def render_new(path: Path, now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    ident = path.name.removesuffix(".sql")
    description = ident.split("_", 1)[1].replace("_", " ")
    return TEMPLATE.format(id=ident, date=now.strftime("%Y-%m-%d"),
                           description=description[:1].upper() + description[1:])
