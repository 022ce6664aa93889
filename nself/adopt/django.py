"""Django: migrations are Python (`<app>/migrations/NNNN_name.py`), which nself never runs;
it reads the SQL Django itself prints, one file per migration, in a folder laid out as
`<app>/<NNNN_name>.sql` (`manage.py sqlmigrate <app> <NNNN_name>`) with, optionally,
`<app>/<NNNN_name>.backwards.sql` (`sqlmigrate --backwards`: the DOWN section).

`sqlmigrate` wraps an atomic migration in BEGIN/COMMIT and prints a non-atomic one
(`atomic = False`) without them: that one becomes a no-transaction migration. A RunPython
operation prints `-- MIGRATION NOW PERFORMS OPERATION THAT CANNOT BE WRITTEN AS SQL`: it
cannot be converted.

Django orders migrations by their dependency graph, across apps. Within one app the numbers
follow it; with several apps the order comes from `manage.py showmigrations --plan` saved
as a `.txt` file in the folder (`[X]  app.0001_initial` lines, in the order Django runs
them). Its tracking table `django_migrations(id, app, name, applied)` has one row per
applied migration ("having a row in the table always means a migration is applied").

A squashed migration (`squashmigrations`) replaces others (its `replaces = [...]`, read as
text from `<app>/migrations/<name>.py` beside the output folder or in it; else its default
name `<start>_squashed_<end>` says the range). Django runs it on a database that has none
of them, and counts it applied once all of them are (recording each replaced one, then the
squashed one): nself imports the squashed one and leaves out the SQL of those it replaces
(unless the plan lists them: a database where only some ran uses the originals), and
adopts it when its own row or the row of every one it replaces is there; some of them
without the others refuses (`manage.py migrate` finishes them).
"""

from __future__ import annotations

import re
from pathlib import Path

from nself.adopt import source, transaction
from nself.adopt.source import AdoptError, Applied, Problem, SourceMigration

NAME = "django"
TRACKING_TABLES = ("django_migrations",)  # left out of the schema once adopted
FILE = re.compile(r"^(\d+)_(\w+)\.sql$")
BACKWARDS = ".backwards.sql"
PLAN_LINE = re.compile(r"^\[[ Xx]\]\s+(\w+)\.(\w+)")
SQUASHED = re.compile(r"^(\d+)_squashed_((\d+)_\w+)$")  # Django's default squashed name
REPLACES = re.compile(r"^\s*replaces\s*=\s*\[(.*?)\]", re.S | re.M)
REPLACED_PAIR = re.compile(r"""\(\s*['"](\w+)['"]\s*,\s*['"](\w+)['"]\s*,?\s*\)""")
NOT_SQL = re.compile(r"(?i)^--\s*MIGRATION NOW PERFORMS OPERATION THAT CANNOT BE WRITTEN AS SQL")


def _is_project(folder: Path) -> bool:
    return (folder / "manage.py").is_file() and any(folder.glob("*/migrations/0001_*.py"))


def holds_migrations(folder: Path) -> bool:
    """Whether `folder` holds django migrations (`nself init` and `detect` ask)."""
    return _is_project(folder)


def _plan(folder: Path, problems: list[Problem]) -> list[tuple[str, str]] | None:
    """The order `showmigrations --plan` printed, from the folder's `.txt` file."""
    for path in sorted(folder.glob("*.txt")):
        text = source.read_text(folder, path, problems)
        if text is None:
            continue
        lines = [line for line in text.split("\n") if line.strip()]
        if lines and all(PLAN_LINE.match(line.strip()) for line in lines):
            return [PLAN_LINE.match(line.strip()).groups() for line in lines]
    return None


def _found(folder: Path) -> dict[tuple[str, str], Path]:
    found = {}
    for app in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(app.glob("*.sql")):
            if not path.name.endswith(BACKWARDS) and FILE.match(path.name):
                found[(app.name, path.name.removesuffix(".sql"))] = path
    return found


def replaced(folder: Path, app: str, name: str, known: list[tuple[str, str]]
             ) -> list[tuple[str, str]]:
    """The migrations `app.name` replaces (empty: not a squashed migration): its migration
    file's `replaces` (the app's migrations folder beside the output folder, or in it), else
    the range of its default name among `known` (and up to its end migration)."""
    for base in (folder.parent, folder):
        script = base / app / "migrations" / f"{name}.py"
        if script.is_file():
            text = script.read_text(encoding="utf-8", errors="replace")
            listed = REPLACES.search(text)
            return REPLACED_PAIR.findall(listed.group(1)) if listed else []
    squashed = SQUASHED.match(name)
    if squashed is None:
        return []
    first, end = int(squashed.group(1)), squashed.group(2)
    inside = [(a, n) for a, n in known if a == app and n != name and not SQUASHED.match(n)
              and first <= int(n.split("_")[0]) <= int(squashed.group(3))]
    return sorted(set(inside) | {(app, end)})


def read(folder: Path) -> tuple[list[SourceMigration], list[Problem]]:
    problems: list[Problem] = []
    found = _found(folder)
    plan = _plan(folder, problems)
    # a squashed migration's replaced ones are left out, unless the plan says otherwise
    replacing = {pair: replaced(folder, *pair, list(found)) for pair in found}
    gone = {old for pair, olds in replacing.items() for old in olds
            if plan is None or pair in plan}
    if plan is not None:
        order = [pair for pair in plan if pair in found]
        for pair, path in found.items():
            if pair not in plan and pair not in gone and not set(replacing[pair]) & set(plan):
                problems.append(Problem(source.relative(folder, path), None, "not in the "
                                        "`showmigrations --plan` output: its place is unknown"))
    else:
        apps = {app for app, _ in found}
        if len(apps) > 1:
            problems.append(Problem(".", None, f"migrations of {len(apps)} apps and no "
                                    "`manage.py showmigrations --plan` output (saved as a .txt "
                                    "file here): Django's order across apps comes from their "
                                    "dependencies"))
            return [], problems
        order = sorted((pair for pair in found if pair not in gone),
                       key=lambda pair: (int(FILE.match(pair[1] + ".sql").group(1)), pair[1]))
    migrations = []
    for index, (app, name) in enumerate(order, 1):
        path = found[(app, name)]
        shown = source.relative(folder, path)
        text = source.read_text(folder, path, problems)
        if text is None:
            continue
        if _not_sql(text, shown, problems):
            continue
        up = transaction.unwrap(text)
        transaction.report_inside(up, shown, problems)
        files, down = [shown], None
        back = path.with_name(name + BACKWARDS)
        if back.is_file():
            back_text = source.read_text(folder, back, problems)
            if back_text is not None and not _not_sql(back_text, source.relative(folder, back),
                                                      problems):
                undo = transaction.unwrap(back_text)
                transaction.report_inside(undo, source.relative(folder, back), problems)
                files.append(source.relative(folder, back))
                down = undo.text
        migrations.append(SourceMigration(
            key=(index, app, name), version_text=f"{app}.{name}", name=f"{app}_{name}", up=up.text,
            down=down, no_transaction=not up.wrapped, files=files))
    return migrations, problems


def _not_sql(text: str, shown: str, problems: list[Problem]) -> bool:
    for number, line in enumerate(text.split("\n"), 1):
        if NOT_SQL.match(line.strip()):
            problems.append(Problem(shown, number, "an operation Django runs as Python "
                                    "(RunPython): write its SQL by hand in this file"))
            return True
    return False


def applied(conn, folder: Path | None = None) -> Applied | None:
    if not source.table_exists(conn, "django_migrations"):
        return None
    rows = conn.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
    versions = [f"{app}.{name}" for app, name in rows]
    if folder is None:
        return Applied(versions)
    done, stood_for = set(rows), set()
    found = _found(Path(folder))
    for app, name in found:
        olds = replaced(Path(folder), app, name, list(found))
        stood_for.update(f"{a}.{n}" for a, n in olds)
        if not olds or (app, name) in done:
            continue
        ran = [old for old in olds if tuple(old) in done]
        if len(ran) == len(olds):
            versions.append(f"{app}.{name}")  # Django counts it applied: all it replaces are
        elif ran:
            raise AdoptError(
                f"Django applied {len(ran)} of the {len(olds)} migrations {app}.{name} "
                f"replaces ({', '.join(f'{a}.{n}' for a, n in olds if (a, n) not in done)} "
                f"not yet): run `manage.py migrate {app}` to finish them, then adopt.")
    return Applied(versions, replaced=stood_for)
