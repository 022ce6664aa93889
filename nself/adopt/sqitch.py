"""Sqitch: `sqitch.plan` lists the changes in the order they deploy (`%project=` names the
project); each change has `deploy/<change>.sql` and `revert/<change>.sql` (`verify/` checks
a deploy and has no counterpart here). A change reworked later in the plan keeps its
earlier scripts as `deploy/<change>@<tag>.sql`, the tag being one that follows it.

Where they are comes from `sqitch.conf` as Sqitch reads it (`[engine "pg"]` over `[core]`):
`top_dir` (default `.`), `plan_file` (default `<top_dir>/sqitch.plan`), `deploy_dir` and
`revert_dir` (default `<top_dir>/deploy`, `/revert`) and `registry`, relative to the folder
given (where sqitch.conf is, where Sqitch runs); `--plan-file` names the plan instead, as
`sqitch --plan-file` does.

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
CONF = "sqitch.conf"
CONF_SECTION = re.compile(r'^\s*\[\s*([A-Za-z0-9_.-]+)(?:\s+"([^"]*)")?\s*\]')
CONF_VALUE = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*=\s*(.*?)\s*$")
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


@dataclass
class Layout:
    """Where a Sqitch project keeps its plan and scripts, and its registry schema."""

    folder: Path   # the folder given: where sqitch.conf is and Sqitch runs
    plan: Path
    deploy: Path
    revert: Path
    registry: str

    def shown(self, path: Path) -> str:
        return source.relative(self.folder, path)


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds sqitch migrations (`nself init` and `detect` ask)."""
    return (folder / PLAN).is_file() or (folder / CONF).is_file()


def settings(folder: Path) -> dict[str, str]:
    """sqitch.conf's values as `section.key` (`engine.pg.registry`; git-config syntax)."""
    conf = folder / CONF
    if not conf.is_file():
        return {}
    found, section = {}, ""
    for line in conf.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip().startswith(("#", ";")):
            continue
        head = CONF_SECTION.match(line)
        if head:
            section = head.group(1).lower() + (f".{head.group(2)}" if head.group(2) else "")
            continue
        value = CONF_VALUE.match(line)
        if value and section:
            text = value.group(2)
            if len(text) > 1 and text[0] == text[-1] == '"':
                text = text[1:-1]
            found[f"{section}.{value.group(1).lower()}"] = text
    return found


def layout(folder: Path, plan_file: str | Path | None = None) -> Layout:
    """The project's layout from the folder's sqitch.conf (`--plan-file` wins for the plan)."""
    conf = settings(folder)

    def setting(key: str) -> str | None:
        return conf.get(f"engine.pg.{key}") or conf.get(f"core.{key}")

    top = folder / (setting("top_dir") or ".")
    plan = Path(plan_file) if plan_file else (
        folder / setting("plan_file") if setting("plan_file") else top / PLAN)
    return Layout(folder, plan,
                  folder / setting("deploy_dir") if setting("deploy_dir") else top / "deploy",
                  folder / setting("revert_dir") if setting("revert_dir") else top / "revert",
                  setting("registry") or "sqitch")


def read_plan(where: Layout, problems: list[Problem]) -> Plan | None:
    """The plan's project and changes in deploy order; problems name plan lines."""
    shown = where.shown(where.plan)
    if not where.plan.is_file():
        problems.append(Problem(shown, None, f"no plan {shown} here: give the folder that holds "
                                "sqitch.conf or sqitch.plan (or the plan with --plan-file)"))
        return None
    text = source.read_text(where.folder, where.plan, problems)
    if text is None:
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
            problems.append(Problem(shown, number, "not a change, tag or pragma line Sqitch "
                                                   "would read"))
            continue
        if entry.group("tag"):
            for change in changes:
                change.tags_after.append(entry.group("name"))
            continue
        if entry.group("op") == "-":
            problems.append(Problem(shown, number, "a `-` (revert) entry: deploy the plan "
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
    _label_reworked(where, changes)
    if project is None:
        problems.append(Problem(shown, None, "no %project pragma: Sqitch would refuse this "
                                             "plan"))
    return Plan(project, changes)


def _label_reworked(where: Layout, changes: list[Change]) -> None:
    """A reworked change's scripts carry the first tag after it whose deploy file exists."""
    for change in changes:
        if not change.reworked:
            continue
        tags = change.tags_after
        found = next((t for t in tags if _script(where.deploy, f"{change.name}@{t}")
                      .is_file()), tags[0] if tags else None)
        change.label = f"{change.name}@{found}" if found else change.name


def _script(folder: Path, label: str) -> Path:
    return folder.joinpath(*label.split("/")).with_name(label.split("/")[-1] + ".sql")


def read(folder: Path, plan_file: str | Path | None = None
         ) -> tuple[list[SourceMigration], list[Problem]]:
    problems: list[Problem] = []
    where = layout(folder, plan_file)
    plan = read_plan(where, problems)
    if plan is None:
        return [], problems
    migrations = []
    for index, change in enumerate(plan.changes, 1):
        deploy = _script(where.deploy, change.label)
        shown = where.shown(deploy)
        if not deploy.is_file():
            problems.append(Problem(where.shown(where.plan), change.line, f"no deploy script "
                                    f"{shown} for change {change.label}"))
            continue
        text = source.read_text(folder, deploy, problems)
        if text is None:
            continue
        up = transaction.unwrap(text)
        transaction.report_inside(up, shown, problems)
        files, down, down_line = [shown], None, None
        revert = _script(where.revert, change.label)
        if revert.is_file():
            revert_text = source.read_text(folder, revert, problems)
            if revert_text is not None:
                undo = transaction.unwrap(revert_text)
                transaction.report_inside(undo, where.shown(revert), problems)
                files.append(where.shown(revert))
                down, down_line = undo.text, 1
        migrations.append(SourceMigration(
            # a position, not a version: the core numbers these 001, 002, ...
            key=(index, change.label), version_text=change.label,
            name=change.name.replace("/", "_"), up=up.text, down=down,
            no_transaction=not up.wrapped, files=files, down_line=down_line))
    return migrations, problems


def tracking_schemas(folder: Path, plan_file: str | Path | None = None) -> tuple[str, ...]:
    """The registry schema, left out of the schema once adopted."""
    return (layout(folder, plan_file).registry,)


def applied(conn, folder: Path | None = None, plan_file: str | Path | None = None
            ) -> Applied | None:
    at = layout(Path(folder) if folder is not None else Path("."), plan_file)
    schema = at.registry
    quoted = '"' + schema.replace('"', '""') + '"'
    if not source.table_exists(conn, f"{quoted}.changes"):
        return None
    plan = read_plan(at, []) if folder is not None else None
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
