"""Sqitch: `sqitch.plan` lists the changes in the order they deploy (`%project=` names the
project); each change has `deploy/<change>.sql` and `revert/<change>.sql` (`verify/` checks
a deploy and has no counterpart here). A change reworked later in the plan keeps its
earlier scripts as `deploy/<change>@<tag>.sql`, the tag being one that follows it.

Sqitch runs a script with psql as it is written: the scripts `sqitch add` writes open with
`BEGIN;` and end with `COMMIT;`, which become nself's own transaction; a script without
them runs statement by statement, so it becomes a no-transaction migration.

Its registry (schema `sqitch`, or sqitch.conf's `registry`; as its `pg.sql` creates it)
holds `changes(change_id, script_hash, change, project, committed_at, ...)`, one row per
deployed change of every project (a revert deletes the row), and `events(event, change,
project, committed_at, ...)` where a deploy that failed is logged as event `fail`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from nself.adopt import source, transaction
from nself.adopt.source import AdoptError, Applied, Problem, SourceMigration

NAME = "sqitch"
PLAN = "sqitch.plan"
REGISTRY = re.compile(r"(?m)^\s*registry\s*=\s*(\S+)\s*$")  # sqitch.conf's registry schema
PRAGMA = re.compile(r"^\s*%\s*([^\s=]+)\s*(?:=\s*(.*?))?\s*$")
# name [dependencies] timestamp planner <email> # note  (a tag line starts with @)
ENTRY = re.compile(r"^\s*(?P<op>[+-])?\s*(?P<tag>@)?(?P<name>[^\s\[\]#@:]+)\s*"
                   r"(?:\[[^\]]*\]\s*)?"
                   r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+[^<]+<[^>]+>\s*(?:#.*)?$")


@dataclass
class Change:
    """One line of the plan naming a change: reworked ones get `label` name@tag."""

    name: str
    line: int
    label: str = ""
    tags_after: list[str] = field(default_factory=list)
    reworked: bool = False


@dataclass
class Plan:
    project: str | None
    changes: list[Change]


def detect(root: Path) -> list[Path]:
    return source.folders(root, lambda f: (f / PLAN).is_file())


def read_plan(folder: Path, problems: list[Problem]) -> Plan | None:
    """The plan's project and changes in deploy order; problems name plan lines."""
    text = source.read_text(folder, folder / PLAN, problems) if (folder / PLAN).is_file() else None
    if text is None:
        if not (folder / PLAN).is_file():
            problems.append(Problem(PLAN, None, "no sqitch.plan in this folder: give the "
                                                "folder that holds it"))
        return None
    project, changes, seen = None, [], {}
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pragma = PRAGMA.match(line)
        if pragma:
            if pragma.group(1) == "project":
                project = pragma.group(2)
            continue
        entry = ENTRY.match(line)
        if not entry:
            problems.append(Problem(PLAN, number, "not a change, tag or pragma line Sqitch "
                                                  "would read"))
            continue
        if entry.group("tag"):
            for change in changes:
                change.tags_after.append(entry.group("name"))
            continue
        if entry.group("op") == "-":
            problems.append(Problem(PLAN, number, "a `-` (revert) entry: deploy the plan "
                                                  "without it, then import"))
            continue
        name = entry.group("name")
        if name in seen:
            earlier = seen[name]
            earlier.reworked = True
        change = Change(name, number)
        seen[name] = change
        changes.append(change)
    for change in changes:
        change.label = change.name
    _label_reworked(folder, changes)
    if project is None:
        problems.append(Problem(PLAN, None, "no %project pragma: Sqitch would refuse this "
                                            "plan"))
    return Plan(project, changes)


def _label_reworked(folder: Path, changes: list[Change]) -> None:
    """A reworked change's scripts carry the first tag after it whose deploy file exists."""
    for change in changes:
        if not change.reworked:
            continue
        tags = change.tags_after
        found = next((t for t in tags if _script(folder, "deploy", f"{change.name}@{t}")
                      .is_file()), tags[0] if tags else None)
        change.label = f"{change.name}@{found}" if found else change.name


def _script(folder: Path, kind: str, label: str) -> Path:
    return folder.joinpath(kind, *label.split("/")).with_name(label.split("/")[-1] + ".sql")


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    problems: list[Problem] = []
    plan = read_plan(folder, problems)
    if plan is None:
        return [], problems
    migrations = []
    for index, change in enumerate(plan.changes, 1):
        deploy = _script(folder, "deploy", change.label)
        shown = source.relative(folder, deploy)
        if not deploy.is_file():
            problems.append(Problem(PLAN, change.line, f"no deploy script {shown} for change "
                                                       f"{change.label}"))
            continue
        text = source.read_text(folder, deploy, problems)
        if text is None:
            continue
        up = transaction.unwrap(text)
        transaction.report_inside(up, shown, problems)
        files, down, down_line = [shown], None, None
        revert = _script(folder, "revert", change.label)
        if revert.is_file():
            revert_text = source.read_text(folder, revert, problems)
            if revert_text is not None:
                undo = transaction.unwrap(revert_text)
                transaction.report_inside(undo, source.relative(folder, revert), problems)
                files.append(source.relative(folder, revert))
                down, down_line = undo.text, 1
        migrations.append(SourceMigration(
            # a position, not a version: the core numbers these 001, 002, ...
            key=(index, change.label), version_text=change.label,
            name=change.name.replace("/", "_"), up=up.text, down=down,
            no_transaction=not up.wrapped, files=files, down_line=down_line))
    return migrations, problems


def registry(folder: Path | None) -> str:
    """The registry schema: `registry` in the folder's sqitch.conf, else `sqitch`."""
    conf = folder / "sqitch.conf" if folder is not None else None
    if conf is not None and conf.is_file():
        match = REGISTRY.search(conf.read_text(encoding="utf-8", errors="replace"))
        if match:
            return match.group(1)
    return "sqitch"


def applied(conn, folder: Path | None = None) -> Applied | None:
    schema = registry(Path(folder) if folder is not None else None)
    quoted = '"' + schema.replace('"', '""') + '"'
    if not source.table_exists(conn, f"{quoted}.changes"):
        return None
    plan = read_plan(Path(folder), []) if folder is not None else None
    project = plan.project if plan else None
    where, args = ("WHERE project = %s", (project,)) if project else ("", ())
    if source.table_exists(conn, f"{quoted}.events"):
        last = conn.execute(f"SELECT event, change, project FROM {quoted}.events {where} "
                            "ORDER BY committed_at DESC LIMIT 1", args).fetchone()
        if last is not None and last[0] == "fail":
            raise AdoptError(f"Sqitch's last deploy of project {last[2]} failed at change "
                             f"{last[1]} ({schema}.events): the database may hold part of it. "
                             "Deploy or revert it with sqitch, then adopt.")
    rows = conn.execute(f"SELECT change FROM {quoted}.changes {where} "
                        "ORDER BY committed_at, change_id", args).fetchall()
    # Sqitch deploys in plan order: the n-th deployed row of a name is its n-th plan line
    instances: dict[str, list[str]] = {}
    for change in plan.changes if plan else []:
        instances.setdefault(change.name, []).append(change.label)
    versions = []
    for (name,) in rows:
        labels = instances.get(name)
        versions.append(labels.pop(0) if labels else name)
    return Applied(versions)
