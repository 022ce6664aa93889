"""Alembic: revisions are Python (`versions/*.py`), which nself never runs; it reads the SQL
Alembic itself prints in offline mode instead, given as a file or a folder of files:

    alembic upgrade head --sql > alembic-up.sql
    alembic downgrade head:base --sql > alembic-down.sql   (optional: the DOWN sections)

Alembic writes `-- Running upgrade <from> -> <to>` before each revision's SQL (`-- Running
downgrade <from> -> <to>` when going down; merges list several revisions with ", "), the
`alembic_version` bookkeeping after it, and BEGIN/COMMIT around the run or each revision.
A revision's migration is the SQL between its comment and the next, without the
bookkeeping and the transaction statements; a `COMMIT` followed by SQL of the same
revision is an `autocommit_block()`, so that revision becomes a no-transaction migration.

Its tracking table `alembic_version(version_num varchar(32) PRIMARY KEY)` holds only the
heads: every revision from which a head descends (as the printed `from -> to` lines chain
them) is applied too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from nself.adopt import source, transaction
from nself.adopt.source import AdoptError, Applied, Problem, SourceMigration

NAME = "alembic"
ACCEPTS_FILE = True  # the `--sql` output may be given as one file
VERSION_TABLE = "alembic_version"
TRACKING_TABLES = (VERSION_TABLE,)  # left out of the schema once adopted
RUNNING = re.compile(r"^-- Running (upgrade|downgrade) (.*?) -> (.*?)\s*$")
BOOKKEEPING = ("InsertStmt", "UpdateStmt", "DeleteStmt")
REVISION = re.compile(r"""(?m)^revision(?:\s*:\s*str)?\s*=\s*['"]([^'"]+)['"]""")
MESSAGE = re.compile(r'\s*[rub]?("""|\'\'\')\s*(.+?)\s*(?:\1.*)?$', re.MULTILINE)


@dataclass
class Step:
    """One `-- Running` section of an output file."""

    direction: str
    sources: list[str]
    targets: list[str]
    file: str
    line: int  # the file line after the comment
    text: str


@dataclass
class Output:
    """Everything read from the files: upgrade steps by revision, downgrade steps by the
    revision they undo, and each revision's parents."""

    ups: dict[str, Step] = field(default_factory=dict)
    downs: dict[str, Step] = field(default_factory=dict)
    parents: dict[str, list[str]] = field(default_factory=dict)
    seen: list[str] = field(default_factory=list)


def _is_project(folder: Path) -> bool:
    return (folder / "alembic.ini").is_file() or (
        (folder / "env.py").is_file() and (folder / "versions").is_dir())


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds alembic migrations (`nself init` and `detect` ask)."""
    return _is_project(folder)


def _files(given: Path) -> list[Path]:
    if given.is_file():
        return [given]
    return sorted(p for p in given.glob("*.sql") if p.is_file())


def read_output(given: Path, problems: list[Problem]) -> Output:
    found = Output()
    base = given.parent if given.is_file() else given
    files = _files(given)
    for path in files:
        shown = source.relative(base, path)
        text = source.read_text(base, path, problems)
        if text is None:
            continue
        _steps(text, shown, found, problems)
    if not found.ups:
        where = source.relative(base, files[0]) if files else "."
        problems.append(Problem(where, None, "no `-- Running upgrade` line: give the SQL "
                                             "`alembic upgrade head --sql` prints (saved to a "
                                             "file), not the revisions' Python"))
    return found


def _steps(text: str, shown: str, found: Output, problems: list[Problem]) -> None:
    lines = text.split("\n")
    marks = [(number, RUNNING.match(line)) for number, line in enumerate(lines, 1)]
    marks = [(number, m) for number, m in marks if m]
    for i, (number, match) in enumerate(marks):
        end = marks[i + 1][0] - 1 if i + 1 < len(marks) else len(lines)
        step = Step(match.group(1), _revisions(match.group(2)), _revisions(match.group(3)),
                    shown, number + 1, "\n".join(lines[number:end]))
        if step.direction == "upgrade":
            if len(step.targets) != 1:
                problems.append(Problem(shown, number, "an upgrade to several revisions at "
                                                       "once: not Alembic's output"))
                continue
            revision = step.targets[0]
            earlier = found.ups.get(revision)
            if earlier is not None and earlier.text.strip() != step.text.strip():
                problems.append(Problem(shown, number, f"revision {revision} again, with other "
                                        f"SQL than in {earlier.file}:{earlier.line - 1}"))
                continue
            if earlier is None:
                found.ups[revision] = step
                found.parents[revision] = step.sources
                found.seen.append(revision)
        elif len(step.sources) == 1:
            found.downs.setdefault(step.sources[0], step)
        else:
            problems.append(Problem(shown, number, "a downgrade of several revisions at once: "
                                                   "print the downgrade one branch at a time"))


def _revisions(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def chain(found: Output) -> list[str]:
    """Revisions parents first, in the order the output printed them otherwise."""
    placed: list[str] = []
    done: set[str] = set()
    pending = list(found.seen)
    while pending:
        for revision in pending:
            if all(p in done or p not in found.ups for p in found.parents[revision]):
                placed.append(revision)
                done.add(revision)
                pending.remove(revision)
                break
        else:  # a cycle: keep the printed order
            placed.extend(pending)
            break
    return placed


def _clean(step: Step, problems: list[Problem]) -> tuple[str, bool]:
    """The step's SQL without Alembic's bookkeeping and transaction statements, and
    whether it commits midway (an autocommit block)."""
    found = transaction.statements(step.text)
    if found is None:
        return step.text, False  # the core names the line PostgreSQL cannot parse
    drop, committed, autocommit = [], False, False
    for s in found:
        if s.kind in transaction.OPENS or s.kind in transaction.CLOSES:
            committed = committed or s.kind in transaction.CLOSES
            drop.append((s.start, s.end))
        elif s.kind.startswith("TransactionStmt"):
            problems.append(Problem(step.file, step.line + s.line - 1,
                                    f"`{s.text.strip()}`: nself runs a migration in one "
                                    "transaction"))
        elif s.kind in BOOKKEEPING and _relation(s.node) == VERSION_TABLE:
            drop.append((s.start, s.end))
        elif s.kind == "CreateStmt" and _relation(s.node) == VERSION_TABLE:
            drop.append((s.start, s.end))
        else:
            autocommit = autocommit or committed
    return transaction.blank(step.text, drop), autocommit


def _relation(node) -> str:
    rel = getattr(node, "relation", None)
    return getattr(rel, "relname", "") or ""


def messages(given: Path) -> dict[str, str]:
    """revision -> its message, read as text (never run) from the revision files of a
    `versions/` folder beside the output or one level up (the first docstring line Alembic
    writes: `\"\"\"add account table`)."""
    here = given.parent if given.is_file() else given
    found: dict[str, str] = {}
    for place in (here, here.parent):
        for versions in [place / "versions", *place.glob("*/versions")]:
            for path in sorted(versions.glob("*.py")) if versions.is_dir() else ():
                try:
                    text = path.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                revision = REVISION.search(text)
                message = MESSAGE.match(text)
                if revision and message:
                    found.setdefault(revision.group(1), message.group(2))
    return found


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    problems: list[Problem] = []
    found = read_output(Path(folder), problems)
    names = messages(Path(folder))
    migrations = []
    for index, revision in enumerate(chain(found), 1):
        step = found.ups[revision]
        up, autocommit = _clean(step, problems)
        down_step = found.downs.get(revision)
        down, files, down_line = None, [step.file], None
        if down_step is not None:
            down, down_autocommit = _clean(down_step, problems)
            autocommit = autocommit or down_autocommit
            files.append(down_step.file)
            down_line = down_step.line
        migrations.append(SourceMigration(
            key=(index, revision), version_text=revision, name=names.get(revision, revision),
            up=up, down=down,
            no_transaction=autocommit, files=files, up_line=step.line, down_line=down_line))
    return migrations, problems


def applied(conn, folder: Path | None = None) -> Applied | None:
    if not source.table_exists(conn, VERSION_TABLE):
        return None
    heads = [row[0] for row in conn.execute(f"SELECT version_num FROM {VERSION_TABLE}")]
    if folder is None:
        return Applied(heads)
    found = read_output(Path(folder), [])
    versions: list[str] = []
    for head in heads:
        if head not in found.ups:
            raise AdoptError(f"alembic_version holds {head}, which the SQL output given does "
                             "not have: print it again up to that revision (`alembic upgrade "
                             f"head --sql`) and import that.")
        stack = [head]
        while stack:
            revision = stack.pop()
            if revision in versions or revision not in found.ups:
                continue
            versions.append(revision)
            stack.extend(found.parents[revision])
    return Applied(versions)
