"""What every format module reads: another tool's migrations and what it recorded applied.

A format module (`nself/adopt/<format>.py`) has `NAME` (the `--from` word),
`holds_migrations(folder)` (whether a folder holds that format: `nself init` asks),
`read(folder)` -> (migrations, problems) and `applied(conn, folder)` -> `Applied` or None
(the tool's tracking table is absent); a failed or dirty row raises `AdoptError` naming it.
`ACCEPTS_FILE = True`: DIR may be one file.
`TRACKING_TABLES` (found on the search_path) and `TRACKING_SCHEMAS` (or `tracking_schemas
(folder)`) name where the tool keeps its history: once adopted they stay, and are left out
of every schema nself reads from that database.
The core (`nself.adopt`) orders, numbers, checks, renders and writes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from nself.errors import UsageError


class AdoptError(UsageError):
    """The source tool's tracking table says a migration failed or is dirty: nothing is
    adopted until that is settled with the tool itself."""


@dataclass
class SourceMigration:
    """One migration as the source tool sees it.

    `key`: the tool's own ordering key ((10,) for `00010_x`, (1, 2, 3) for Flyway 1.2.3);
    `version_text`: the version as the tool records it in its tracking table (dbmate's
    "00010", node-pg-migrate's file name without extension, Flyway's "1.2.3" or, for a
    repeatable, its script path); `files`: the source files, relative to the folder read
    (the first holds UP; `up_line`/`down_line` are the file lines where the UP/DOWN text
    starts, in files[0] and in files[-1] (DOWN's file), so that problems name source lines).
    `label`: the version's digits as the file names them (`001`) when the tool records
    them otherwise (postgrator's `1`). `fingerprint`: the tool's own checksum of the file
    when its tracking table stores one (Flyway's CRC32), compared with `Applied.checksums`
    for repeatable migrations.
    """

    key: tuple
    version_text: str
    name: str
    up: str
    down: str | None
    no_transaction: bool
    files: list[str]
    repeatable: bool = False
    up_line: int = 1
    down_line: int | None = None
    fingerprint: str | None = None
    label: str | None = None  # the digits for nself's file name, when not version_text's

    @property
    def source(self) -> str:
        return ", ".join(self.files)


@dataclass
class Problem:
    """Something that cannot be converted: the source file (relative to the folder), the
    line (None: the whole file) and what."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


@dataclass
class Applied:
    """What the source tool recorded as applied: `versions` (version_text values as the tool
    records them); `up_to`: every migration whose key is at most this is applied too
    (golang-migrate's single row, Flyway's baseline); `checksums`: version_text -> the
    tool's checksum of what it applied (a repeatable migration whose file changed since is
    not applied: nself applies it once more, as the tool would have); `replaced`: versions
    another migration stands for, which need no file of their own."""

    versions: list[str]
    up_to: tuple | None = None
    checksums: dict[str, str] = field(default_factory=dict)
    replaced: set[str] = field(default_factory=set)  # stood for by another (Django's squash)

    def has(self, migration: SourceMigration) -> bool:
        if migration.repeatable:
            recorded = self.checksums.get(migration.version_text)
            return (migration.version_text in self.versions
                    and (recorded is None or migration.fingerprint is None
                         or recorded == migration.fingerprint))
        if migration.version_text in self.versions:
            return True
        return self.up_to is not None and migration.key <= self.up_to


# Helpers the format modules share ----------------------------------------------------------


def read_text(folder: Path, path: Path, problems: list[Problem]) -> str | None:
    """The UTF-8 text of `path` (LF line ends, no BOM); a problem when it cannot be read."""
    shown = relative(folder, path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(Problem(shown, None, f"cannot be read ({exc.strerror})"))
        return None
    raw = raw.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        problems.append(Problem(shown, line, "not UTF-8 text: save the file as UTF-8"))
        return None


def relative(folder: Path, path: Path) -> str:
    try:
        return str(path.relative_to(folder))
    except ValueError:
        return str(path)


def sql_files(folder: Path, recursive: bool = False) -> list[Path]:
    """The `.sql` files of `folder` (and its subfolders when `recursive`), sorted by path."""
    if not folder.is_dir():
        return []
    found = folder.rglob("*.sql") if recursive else folder.glob("*.sql")
    return sorted(p for p in found if p.is_file())


def matching(folder: Path, pattern: str, problems: list[Problem], recursive: bool = False
             ) -> Iterator[tuple[re.Match, str, str]]:
    """(match, shown path, text) for each `.sql` file of `folder` whose name matches
    `pattern`, in path order; a file that cannot be read is a problem, not a result."""
    for path in sql_files(folder, recursive):
        match = re.match(pattern, path.name)
        if not match:
            continue
        text = read_text(folder, path, problems)
        if text is not None:
            yield match, relative(folder, path), text


def marked(folder: Path, pattern: str, marker: str) -> bool:
    """Whether a file of `folder` whose name matches `pattern` has a line matching `marker`
    (a tool's section marker tells its files from another tool's of the same names)."""
    for path in sql_files(folder):
        if re.match(pattern, path.name):
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if any(re.match(marker, line.strip()) for line in text.splitlines()):
                return True
    return False


@dataclass
class Part:
    """One file of a tool that keeps each direction in its own file."""

    key: tuple
    up: bool
    shown: str
    text: str
    info: tuple = ()  # what the module needs back (name, digits, ...)


def paired(parts: list[Part], problems: list[Problem], what: str = "up"
           ) -> list[tuple[Part, Part | None]]:
    """(up file, its down file or None) per key; a key used twice in one direction, or a
    down file without its up file (`what` names the up kind), is a problem."""
    ups: dict[tuple, Part] = {}
    downs: dict[tuple, Part] = {}
    for part in parts:
        found = ups if part.up else downs
        if part.key in found:
            problems.append(Problem(part.shown, None, "its version is also the version of "
                                                      f"{found[part.key].shown}"))
            continue
        found[part.key] = part
    pairs = [(up, downs.pop(k, None)) for k, up in ups.items()]
    problems.extend(Problem(down.shown, None, f"no {what} file has its version")
                    for down in downs.values())
    return pairs


def joined(up: Part, down: Part | None, version_text: str, name: str, **more
           ) -> SourceMigration:
    """The migration of an up file and its down file (`more`: other SourceMigration fields)."""
    return SourceMigration(key=up.key, version_text=version_text, name=name, up=up.text,
                           down=down.text if down else None,
                           no_transaction=more.pop("no_transaction", False),
                           files=[up.shown] + ([down.shown] if down else []), **more)


def numbered_pairs(folder: Path, pattern: str, up_word: str, problems: list[Problem]
                   ) -> list[SourceMigration]:
    """The migrations of a tool that keeps UP and DOWN in files of their own named by
    `pattern`'s groups `version` (digits: the order and, as written, the label), `name`
    (optional: "migration") and `direction` (`up_word` for UP)."""
    parts = [Part((int(m["version"]),), m["direction"] == up_word, shown, text,
                  (m["name"] or "migration", m["version"]))
             for m, shown, text in matching(folder, pattern, problems)]
    return [joined(up, down, str(up.key[0]), up.info[0], label=up.info[1])
            for up, down in paired(parts, problems, up_word)]


def with_down(folder: Path, up_path: Path, problems: list[Problem]) -> tuple[list[str], str | None]:
    """(the files, the DOWN text or None) of a migration whose DOWN, when there is one, is
    the `down.sql` beside `up_path`; a `down.sql` that cannot be read is a problem."""
    files, down, down_path = [relative(folder, up_path)], None, up_path.parent / "down.sql"
    if down_path.is_file():
        down = read_text(folder, down_path, problems)
        if down is not None:
            files.append(relative(folder, down_path))
    return files, down


def code_files(folder: Path, pattern: str, tool: str, problems: list[Problem],
               marker: str = r"\S", recursive: bool = False) -> None:
    """A problem for each file of `folder` whose name matches `pattern`: a migration that
    `tool` runs as code, which nself cannot convert; its line is the first that matches
    `marker` (where the migration is declared), else 1."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    for path in sorted(p for p in found if p.is_file() and re.match(pattern, p.name)):
        line = 1
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
            line = next((n for n, body in enumerate(text.split("\n"), 1)
                         if re.search(marker, body)), 1)
        except OSError:
            pass
        problems.append(Problem(relative(folder, path), line, f"a migration in code: {tool} "
                                "runs it; write its SQL as a .sql migration to import it"))


def holds(folder: Path, pattern: str, recursive: bool = False) -> bool:
    """Whether `folder` has a file whose name matches `pattern` (a regular expression)."""
    return any(re.match(pattern, p.name) for p in sql_files(folder, recursive))


# folders never searched for migrations: dependencies, virtualenvs, build output (hidden
# folders, .git and .venv among them, are skipped too)
SKIPPED = {"node_modules", "vendor", "__pycache__", "site-packages", "venv", "env", "dist",
           "build", "target"}
DEPTH = 6  # folders below the root searched (src/main/resources/db/migration is 5)


def folders(root: Path) -> list[Path]:
    """`root` and the folders below it, at most DEPTH deep, without hidden ones, SKIPPED and
    symbolic links (a link back up would loop)."""
    found = []
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        found.append(folder)
        if depth >= DEPTH:
            continue
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
        except OSError:
            continue
        stack.extend((c, depth + 1) for c in reversed(children)
                     if not c.name.startswith(".") and c.name not in SKIPPED)
    return sorted(found)


def table_exists(conn, name: str) -> bool:
    """Whether the table `name` (schema-qualified or found on the search_path) exists."""
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (name,)).fetchone()[0]


def has_column(conn, table: str, column: str) -> bool:
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) "
        "AND attname = %s AND attnum > 0 AND NOT attisdropped)", (table, column)).fetchone()[0]


def split_marked(text: str, up_marker: str, down_marker: str, shown: str,
                 problems: list[Problem]) -> tuple[str, int, str | None, int | None, str] | None:
    """Cut `text` at the lines matching `up_marker` and `down_marker` (regular expressions
    on the stripped line): (up, up_line, down, down_line, up marker line's text). A file
    without an up marker or with a second one is a problem, and None."""
    lines = text.split("\n")
    up_at = down_at = None
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if re.match(up_marker, stripped):
            if up_at is not None:
                problems.append(Problem(shown, number, "a second up marker"))
                return None
            up_at = number
        elif re.match(down_marker, stripped):
            if down_at is not None:
                problems.append(Problem(shown, number, "a second down marker"))
                return None
            down_at = number
    if up_at is None:
        problems.append(Problem(shown, 1, "no up marker: the tool would not run this file "
                                          "either"))
        return None
    if down_at is not None and down_at < up_at:
        # the DOWN part written first: each part runs to the other marker or the end
        up = "\n".join(lines[up_at:])
        down = "\n".join(lines[down_at:up_at - 1])
    else:
        up = "\n".join(lines[up_at:down_at - 1 if down_at else len(lines)])
        down = "\n".join(lines[down_at:]) if down_at else None
    return (up, up_at + 1, down, down_at + 1 if down_at else None,
            lines[up_at - 1].strip())
